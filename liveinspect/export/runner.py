"""`export_models`: every requested model family into one folder, with its manifest (and a bundle).

Families, by the name `liveinspect export --models` takes:

| name    | what                                                        | module      |
|---------|-------------------------------------------------------------|-------------|
| whisper | speech: encoder, decoder (KV cache), alignment pass          | speech.py   |
| faces   | MTCNN's three nets                                          | faces.py    |
| claims  | n-gram claim model, e5 encoder (fp32/int8) and its head      | claims.py   |
| voice   | AASIST and the synthetic-voice head                          | voice.py    |
| avatar  | the int8 CLIP image tower, its probe, the avatar head        | avatar.py   |
| vad     | silero-vad's ONNX model                                      | packaged.py |
| clip    | the open_clip image tower, the prompts' text embeddings      | clip.py     |

`all` is every one of them (`clip` only when CLIP weights are given: none
ship). The policy files the scan grades with are copied too (`policy/`), so
an edge node grades exactly as the export's checkout did; on-screen text
runs on rapidocr's own ONNX models, which the edge installs with rapidocr.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from liveinspect.errors import LiveInspectError
from liveinspect.export.common import EvalData, ExportContext, graph_record
from liveinspect.export.manifest import Manifest, ModelRecord, record_file


def _speech(ctx: ExportContext, options: dict) -> ModelRecord:
    from liveinspect.export.speech import export_speech

    return export_speech(ctx, options.get("whisper"))


def _faces(ctx: ExportContext, options: dict) -> ModelRecord:
    from liveinspect.export.faces import export_faces

    return export_faces(ctx, options.get("faces_weights"))


def _claims(ctx: ExportContext, options: dict) -> ModelRecord:
    from liveinspect.export.claims import export_claims

    return export_claims(ctx)


def _voice(ctx: ExportContext, options: dict) -> ModelRecord:
    from liveinspect.export.voice import export_voice

    return export_voice(ctx, options.get("aasist"))


def _avatar(ctx: ExportContext, options: dict) -> ModelRecord:
    from liveinspect.export.avatar import export_avatar

    return export_avatar(ctx)


def _clip(ctx: ExportContext, options: dict) -> ModelRecord:
    from liveinspect.export.clip import export_clip
    from liveinspect.policy import load_policy_dir

    return export_clip(ctx, options.get("clip_model"), options.get("clip_checkpoint"),
                       options.get("clip_text_dir"), policy=load_policy_dir(options.get("policy_dir")))


def _vad(ctx: ExportContext, options: dict) -> ModelRecord:
    from liveinspect.export.budget import not_attempted
    from liveinspect.export.packaged import copy_vad
    from liveinspect.models.checkpoint import file_sha256

    path = copy_vad(ctx)
    return ModelRecord(name="vad", task="speech_regions", version="silero-vad", source=str(path.name),
                       source_sha256=file_sha256(path), folder=path.parent.relative_to(ctx.out).as_posix(),
                       precision="fp32", files=[graph_record(ctx.out, path, "fp32")],
                       parity={"status": "not applicable: silero-vad ships as ONNX; the same file runs "
                                         "everywhere"},
                       int8=not_attempted("a 2 MB recurrent model, a few percent of a scan's time"))


FAMILIES: dict[str, Callable[[ExportContext, dict], ModelRecord]] = {
    "whisper": _speech, "faces": _faces, "claims": _claims, "voice": _voice, "avatar": _avatar, "vad": _vad,
    "clip": _clip,
}
# Exported by `all` only when their weights are given (nothing ships them).
NEEDS_WEIGHTS = {"clip": ("clip_model", "clip_checkpoint")}


def resolve_names(names: Sequence[str]) -> list[str]:
    chosen: list[str] = []
    for name in names:
        for part in (p.strip() for p in name.split(",")):
            if part == "all":
                chosen.extend(FAMILIES)
            elif part in FAMILIES:
                chosen.append(part)
            elif part:
                raise LiveInspectError(f"unknown model {part!r}; export one of: all, {', '.join(FAMILIES)}")
    return list(dict.fromkeys(chosen))


def _copy_policy(out: Path, policy_dir: str | Path | None) -> list:
    """The policy files (`policy_dir`'s where it has them, else the shipped ones) into `out/policy`."""
    from liveinspect.policy.loader import POLICY_FILES, default_policy_path

    folder = out / "policy"
    folder.mkdir(parents=True, exist_ok=True)
    records = []
    for name in POLICY_FILES:
        given = Path(policy_dir) / f"{name}.yaml" if policy_dir else None
        source = given if given is not None and given.is_file() else default_policy_path(name)
        shutil.copyfile(source, folder / f"{name}.yaml")
        records.append(record_file(out, folder / f"{name}.yaml"))
    return records


def export_models(names: Sequence[str], out: str | Path, *, int8: bool = False,
                  eval_data: EvalData | None = None, policy_dir: str | Path | None = None,
                  options: dict | None = None, progress: Callable[[str], None] | None = None) -> Manifest:
    """Export the named families (see the module docstring) into `out` and write its manifest."""
    from liveinspect import __version__

    options = dict(options or {})
    options.setdefault("policy_dir", policy_dir)
    explicit = {part.strip() for name in names for part in name.split(",")}

    def wanted(name: str) -> bool:
        needed = NEEDS_WEIGHTS.get(name)
        return name in explicit or needed is None or any(options.get(key) for key in needed)

    chosen = [name for name in resolve_names(names) if wanted(name)]
    if not chosen:
        raise LiveInspectError("name at least one model to export (or all)")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ctx = ExportContext(out=out, int8=int8, eval_data=eval_data or EvalData.locate())
    if progress is not None:
        ctx.progress = progress
    previous = Manifest.read(out) if (out / "manifest.json").is_file() else None
    manifest = Manifest(liveinspect_version=__version__)
    if previous is not None and previous.liveinspect_version == __version__:
        manifest.models.update({k: v for k, v in previous.models.items() if k not in chosen})
    for name in chosen:
        record = FAMILIES[name](ctx, options)
        manifest.models[record.name] = record
    manifest.policy = _copy_policy(out, policy_dir)
    manifest.write(out)
    return manifest
