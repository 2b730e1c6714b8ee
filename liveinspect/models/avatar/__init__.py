"""Synthetic-presenter models: the packaged CLIP image tower, its AI-image probe, trained heads."""

from liveinspect.models.avatar.clip_tower import ClipImageTower, LinearProbe, load_packaged_probe, preprocess
from liveinspect.models.avatar.head import EmbeddingHead, load_avatar_head, shipped_avatar_head_dir

__all__ = ["ClipImageTower", "EmbeddingHead", "LinearProbe", "load_avatar_head", "load_packaged_probe",
           "preprocess", "shipped_avatar_head_dir"]
