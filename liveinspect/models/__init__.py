"""liveinspect.models: model definitions, loaders and checkpoints, below the pipelines.

Every model is numpy preprocessing -> a `liveinspect.backends` backend ->
numpy postprocessing; its `nn.Module` lives in a module of its own
(`claims/ngram_torch.py`, `faces/nets.py`, `clip/encoders.py`,
`media/convnet.py`, `whisper/torch_runner.py`) that is imported only when
the torch backend is chosen, so importing a model package loads no torch.
Whisper decodes autoregressively and sits behind `whisper.runner.WhisperRunner`
instead (see there why). Checkpoints are safetensors + a JSON card
(`checkpoint.py`, numpy only).
"""
