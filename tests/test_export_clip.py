"""The CLIP scene tower exported to ONNX (a tiny open_clip built here with random weights): image
embeddings and zero-shot probabilities as the torch tower gives them, prompts from the export with
no text tower, and the scene stage running on the exported folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liveinspect.errors import LiveInspectError
from liveinspect.export.common import EvalData, ExportContext, demo_frames
from liveinspect.models.clip import ClipModel, ZeroShotClassifier, register_model_config
from liveinspect.models.clip.exported import ExportedClip
from liveinspect.models.clip.prompts import load_prompt_set
from liveinspect.pipelines.frame_stages import ClipOptions, SceneStage
from liveinspect.policy import load_policy

from test_clip import TINY_CONFIG


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import open_clip
    from safetensors.torch import save_file

    from liveinspect.export.clip import export_clip

    torch.manual_seed(1)
    name = register_model_config("liveinspect-test-tiny-export", TINY_CONFIG)
    model = open_clip.create_model(name, pretrained=None)
    checkpoint = tmp_path_factory.mktemp("tiny-clip") / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(checkpoint))
    out = tmp_path_factory.mktemp("export")
    context = ExportContext(out=out, int8=True, eval_data=EvalData.locate())
    record = export_clip(context, name, str(checkpoint), None)
    return name, checkpoint, out / record.folder, record


def test_exported_tower_embeds_as_torch_does(exported):
    name, checkpoint, folder, record = exported
    torch_clip, edge_clip = ClipModel.load(name, checkpoint), ClipModel.load(str(folder))
    assert isinstance(edge_clip, ExportedClip) and edge_clip.version == torch_clip.version
    frames = demo_frames(EvalData.locate(), every=8)
    reference, ours = torch_clip.embed_images(frames), edge_clip.embed_images(frames)
    assert (reference * ours).sum(axis=1).min() > 0.9999
    prompts = load_prompt_set(policy=load_policy(), languages=("en",)).as_mapping()
    p_torch = ZeroShotClassifier(torch_clip, prompts).probabilities(reference)
    p_edge = ZeroShotClassifier(edge_clip, prompts).probabilities(ours)
    assert np.abs(p_torch - p_edge).max() < 1e-3
    assert record.parity["same_top1_share"] == 1.0 and record.int8["status"] in ("accepted", "rejected")
    with pytest.raises(LiveInspectError, match="no text tower"):
        edge_clip.embed_texts(["a prompt the policy does not have"])


def test_scene_stage_runs_on_the_exported_folder(exported):
    name, checkpoint, folder, _ = exported
    policy = load_policy()
    frames = demo_frames(EvalData.locate(), every=8)[:3]
    on_torch = SceneStage(ClipOptions(model=name, checkpoint=str(checkpoint)), policy=policy).run(frames)
    on_edge = SceneStage(ClipOptions(model=str(folder)), policy=policy).run(frames)
    for (zero_a, _), (zero_b, _) in zip(on_torch, on_edge, strict=True):
        assert int(np.argmax(zero_a)) == int(np.argmax(zero_b))
        assert np.abs(np.asarray(zero_a) - np.asarray(zero_b)).max() < 1e-3
