"""Small image and audio classifiers (trained by `liveinspect train image|audio`): numpy features,
the `SmallConvNet` behind a backend, probabilities out."""

from liveinspect.models.media.classifier import TASKS, MediaClassifier, MediaTask, media_task
from liveinspect.models.media.features import (
    IMAGE_SIZE,
    SAMPLE_RATE,
    image_array,
    log_mel,
    mel_filterbank,
)

__all__ = ["IMAGE_SIZE", "SAMPLE_RATE", "TASKS", "MediaClassifier", "MediaTask", "image_array", "log_mel",
           "media_task", "mel_filterbank"]
