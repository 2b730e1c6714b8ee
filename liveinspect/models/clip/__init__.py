"""open_clip models from local weights: loader, zero-shot classification, linear heads."""

from liveinspect.models.clip.heads import LinearHead, train_linear_head
from liveinspect.models.clip.loader import ClipSource, register_model_config, resolve_clip_source
from liveinspect.models.clip.model import ClipModel
from liveinspect.models.clip.zero_shot import ZeroShotClassifier, class_embeddings

__all__ = ["ClipModel", "ClipSource", "LinearHead", "ZeroShotClassifier", "class_embeddings",
           "register_model_config", "resolve_clip_source", "train_linear_head"]
