"""Where silero-vad's ONNX model is: located without importing the `silero_vad` package.

`import silero_vad` loads torch (its Python API is torch), but the ONNX file
it ships is all voice activity needs, so the package is only found on the
path, never imported: voice activity then runs on torch-free nodes.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from liveinspect.errors import WeightsNotFoundError

INSTALL_HINT = "pip install silero-vad==6.2.3"
DISTRIBUTION = "silero-vad"
MODEL_FILE = "silero_vad/data/silero_vad.onnx"


def silero_model_path() -> Path:
    """The `silero_vad.onnx` file of the installed silero-vad package, or the copy an edge export
    holds (`liveinspect.models.packaged`: a packaged root added by the edge runtime)."""
    from liveinspect.models.packaged import installed_file

    copied = installed_file(DISTRIBUTION, MODEL_FILE)
    if copied is not None:
        return copied
    spec = find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsNotFoundError(f"voice activity needs the silero-vad package: {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "silero_vad.onnx"
    if not path.is_file():
        raise WeightsNotFoundError(f"silero-vad is installed but {path} is missing; reinstall silero-vad")
    return path
