"""The edge runtime: the same scans on ONNX Runtime alone, from an export folder or bundle.

An edge inspection node installs `liveinspect[edge]` (no torch,
torchvision, transformers or openai-whisper) and runs what
`liveinspect export` wrote: Whisper, MTCNN, the claim models, AASIST and
the avatar tower as ONNX graphs, silero-vad and the CLIP tower copied from
their packages, the policy files. `open_edge_models` verifies every file
against the manifest before anything runs; `build_edge_inspector` gives
the ordinary `Inspector` with every analyzer pointed at those files, so a
scan writes the same report schema as the torch path.
"""

from liveinspect.edge.runtime import (
    EdgeModels,
    build_edge_inspector,
    edge_settings,
    edge_text_analyzer,
    open_edge_models,
)

__all__ = ["EdgeModels", "build_edge_inspector", "edge_settings", "edge_text_analyzer", "open_edge_models"]
