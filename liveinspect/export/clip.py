"""Export of the scene model: the open_clip image tower to ONNX, and the prompts' text embeddings.

Runs when CLIP weights are given (`--clip-model ARCH --clip-checkpoint FILE`, as `scan` takes
them): the image tower (preprocessed pixels -> unit embeddings, dynamic batch) is exported with
torch's exporter; the text tower is not, because what a scan asks of it is fixed by the policy:
every prompt of the scene prompt sets and negative-list image prompts, in both languages, is
embedded here and stored (`texts.npy`). Parity on the demo's frames: image embeddings against the
torch tower (cosine), and zero-shot top-1 with the policy's prompts. int8 (the tower's weight
products) is judged by that top-1 agreement (budget -1 point) and shipped only if faster.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from liveinspect.errors import LiveInspectError
from liveinspect.export.budget import judge_int8, not_attempted, ships
from liveinspect.export.common import ExportContext, demo_frames, graph_record, median_seconds, rounded
from liveinspect.export.manifest import ModelRecord, record_file
from liveinspect.export.quantize import quantize_int8


def _prompt_texts(policy) -> list[str]:
    from liveinspect.models.clip.prompts import load_prompt_set

    texts: list[str] = []
    for languages in (("en",), ("zh",), ("en", "zh")):
        for prompts in load_prompt_set(policy=policy, languages=languages).as_mapping().values():
            texts.extend(prompts)
    return list(dict.fromkeys(texts))


def _top1(model, prompt_mapping: dict, frames: list[np.ndarray]) -> np.ndarray:
    from liveinspect.models.clip import ZeroShotClassifier

    return ZeroShotClassifier(model, prompt_mapping).probabilities(model.embed_images(frames)).argmax(axis=1)


def export_clip(ctx: ExportContext, model: str | None, checkpoint: str | None, text_model_dir: str | None,
                policy=None) -> ModelRecord:
    import torch

    from liveinspect.models.clip import ClipModel
    from liveinspect.models.clip.exported import CONFIG_FILE, FORMAT, ExportedClip
    from liveinspect.models.clip.preprocess import ImagePreprocess
    from liveinspect.models.clip.prompts import load_prompt_set
    from liveinspect.policy import load_policy

    if not model and not checkpoint:
        raise LiveInspectError("exporting CLIP needs its weights: --clip-model ARCH --clip-checkpoint FILE")
    policy = policy or load_policy()
    clip = ClipModel.load(model, checkpoint, text_model_dir=text_model_dir)
    preprocess_cfg = dict(getattr(clip.image_backend.module.clip.visual, "preprocess_cfg", {}))
    if not ImagePreprocess.supports(preprocess_cfg):
        raise LiveInspectError(f"{clip.name}: its preprocessing {preprocess_cfg} has no numpy twin; the edge "
                               "could not feed the exported tower")
    folder = ctx.folder("clip")
    ctx.progress(f"clip: exporting the image tower of {clip.name}")
    size = ImagePreprocess.from_config(preprocess_cfg).size
    tower = clip.image_backend.module.cpu().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(tower, (torch.zeros(1, 3, *size),), str(folder / "image.onnx"), dynamo=False,
                          input_names=["pixels"], output_names=["embeddings"], opset_version=17,
                          dynamic_axes={"pixels": {0: "batch"}, "embeddings": {0: "batch"}})
    texts = _prompt_texts(policy)
    np.save(folder / "texts.npy", clip.embed_texts(texts).astype(np.float32), allow_pickle=False)
    config: dict[str, Any] = {"format": FORMAT, "name": clip.name, "version": clip.version,
                              "logit_scale": clip.logit_scale, "preprocess": preprocess_cfg,
                              "hf_text_tower": clip.hf_text_tower, "texts": texts, "precision": "fp32"}
    (folder / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")

    frames = demo_frames(ctx.eval_data)
    exported = ExportedClip(folder)
    languages = ("en", "zh") if clip.hf_text_tower else ("en",)
    prompts = load_prompt_set(policy=policy, languages=languages).as_mapping()
    parity: dict[str, Any] = {"frames": len(frames), "prompts": len(texts)}
    if frames:
        reference, ours = clip.embed_images(frames), exported.embed_images(frames)
        parity["min_cosine"] = float((reference * ours).sum(axis=1).min())
        parity["max_abs"] = float(np.abs(reference - ours).max())
        reference_top1 = _top1(clip, prompts, frames)
        parity["same_top1_share"] = float((reference_top1 == _top1(exported, prompts, frames)).mean())
    precision = "fp32"
    if not ctx.int8:
        int8 = not_attempted("export without --int8")
    elif not frames:
        int8 = not_attempted("no demo frames to check the top-1 budget; pass --eval-data CHECKOUT")
    else:
        quantize_int8(folder / "image.onnx", folder / "image.int8.onnx")
        from liveinspect.backends.base import BackendOptions

        quantized = ExportedClip(folder, BackendOptions(kind="onnx", precision="int8"))
        speedup = median_seconds(lambda: exported.embed_images(frames[:4])) / \
            max(median_seconds(lambda: quantized.embed_images(frames[:4])), 1e-9)
        int8 = judge_int8("top1", parity["same_top1_share"],
                          float((reference_top1 == _top1(quantized, prompts, frames)).mean()),
                          evidence=f"zero-shot top-1 on {len(frames)} demo frames against torch",
                          speedup=round(speedup, 3))
        if ships(int8):
            precision = "int8"
        else:
            (folder / "image.int8.onnx").unlink(missing_ok=True)
    config["precision"] = precision
    (folder / CONFIG_FILE).write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    files = [graph_record(ctx.out, path, "int8" if ".int8." in path.name else "fp32")
             for path in sorted(folder.glob("*.onnx"))]
    files += [record_file(ctx.out, folder / name) for name in (CONFIG_FILE, "texts.npy")]
    source = Path(checkpoint) if checkpoint else None
    from liveinspect.models.checkpoint import file_sha256

    return ModelRecord(name="clip", task="frames.clip", version=clip.version,
                       source=f"{clip.name} {checkpoint or ''}".strip(),
                       source_sha256=file_sha256(source) if source and source.is_file() else None,
                       folder=folder.relative_to(ctx.out).as_posix(), precision=precision, files=files,
                       parity=rounded(parity), int8=int8,
                       notes=["no text tower on the edge: the policy's prompts are embedded at export"])
