"""Local labelled datasets (through Hugging Face `datasets`, never a hub), shared by training and eval.

Above `models` and `pipelines`, below `eval` and `training`: a trainer and
an evaluation read data the same way, and neither has to import the other.
"""

from liveinspect.datasets.local import (
    AUDIO_SUFFIXES,
    IMAGE_SUFFIXES,
    data_sha256,
    dataset_kind,
    label_ids,
    load_local_dataset,
    stratified_split,
)

__all__ = ["AUDIO_SUFFIXES", "IMAGE_SUFFIXES", "data_sha256", "dataset_kind", "label_ids",
           "load_local_dataset", "stratified_split"]
