"""An open_clip model's two towers as tensor-only modules, for the torch backend (imports torch).

`forward` takes preprocessed pixels or token ids and returns L2-normalised
float32 embeddings, so each tower runs behind `TorchBackend` (and exports to
ONNX as it is).
"""

from __future__ import annotations

import torch
from torch import nn

from liveinspect.backends.base import BackendOptions
from liveinspect.backends.torch import TorchBackend


class ImageTower(nn.Module):
    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_image(pixels, normalize=True).float()


class TextTower(nn.Module):
    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.clip = clip

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.clip.encode_text(tokens, normalize=True).float()


def torch_backends(clip: nn.Module, options: BackendOptions) -> tuple[TorchBackend, TorchBackend]:
    """(image, text) backends sharing one model on one device."""
    return (TorchBackend(ImageTower(clip), ("pixels",), ("embeddings",), options),
            TorchBackend(TextTower(clip), ("tokens",), ("embeddings",), options))


def tokens_of(tokenizer, texts: list[str]):
    """open_clip tokenizers return torch tensors; the backend takes numpy."""
    return tokenizer(texts).numpy()
