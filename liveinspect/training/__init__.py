"""Training: one trainer, task recipes; it reads data through `liveinspect.datasets`, saves through
`liveinspect.models.checkpoint` and reports `liveinspect.eval` metrics.

- `trainer`: `Trainer`, `TensorExamples` (seeds, early stopping, gradient
  accumulation, autocast on CUDA, tqdm); `config`: `TrainConfig` and per-task defaults (torch-free).
- `claims`: the n-gram claim classifier task; `media_tasks`: small image/audio classifiers
  (inference for both lives in `liveinspect.models`).
- The command line is `liveinspect train TASK ...` (`liveinspect.cli.train`).
"""
