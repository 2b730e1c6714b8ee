"""Training: local datasets through Hugging Face `datasets`, one trainer, safetensors checkpoints.

- `data`: `load_local_dataset` (csv, jsonl, parquet, imagefolder, audiofolder, load_from_disk),
  `label_ids`, `stratified_split`, `data_sha256`.
- `trainer`: `Trainer`, `TrainConfig`, `TensorExamples` (seeds, early stopping, gradient
  accumulation, autocast on CUDA, tqdm).
- `checkpoint`: `save_checkpoint` / `load_checkpoint` (safetensors + JSON model card; never unpickles).
- `claims`: the n-gram claim classifier task; `media_tasks`: small image/audio classifiers.
- `cli`: `liveinspect train TASK ...`.
"""
