"""Model stages on Ray Serve: the service's inspector with its models in deployments (`@serve.batch`)
finds what the in-process inspector finds, and items from concurrent scans share the deployment's batches."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from scale_media import excerpt  # bench/, on the path by conftest

from liveinspect.fleet.serve import ServeOptions, StageDeployment, bind_model_stages, remote_inspector
from liveinspect.pipelines.frame_stages import FaceOptions
from liveinspect.pipelines.orchestrator import ScanOptions
from liveinspect.schema import Broadcast

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo"
SCAN = ScanOptions(progress=False, max_duration=6.0, window_s=3.0)
SETTINGS = {"frames.faces": FaceOptions(enabled=False)}  # OCR and codes: what the demo's frames show


def _words(text: str) -> str:
    return "".join(text.split())


@pytest.fixture(scope="module")
def serve_stage():
    import ray
    from ray import serve

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    options = ServeOptions(analyzers=["frames"], settings=SETTINGS, max_wait_s=0.05,
                           stages={"frames": StageDeployment(num_replicas=1, num_cpus=0.5)})
    stages = bind_model_stages(["frames"], options)
    handle = serve.run(stages["frames"], name="fleet-test-frames", route_prefix=None)
    yield {"handle": handle, "options": options}
    serve.shutdown()
    ray.shutdown()


@pytest.mark.slow
def test_inspector_with_models_on_serve_finds_what_the_local_one_finds(serve_stage, tmp_path):
    import liveinspect

    clip = excerpt(DEMO / "demo.mp4", tmp_path / "clip.mp4", start=6.5, seconds=6.0)  # a caption claim
    broadcast = Broadcast(source=str(clip), cover=str(DEMO / "cover.png"),
                          title="全网第一好用的面霜")
    with liveinspect.build_inspector(["frames"], options=SCAN, settings=SETTINGS) as local:
        expected = local.scan(broadcast).report
    with remote_inspector({"frames": serve_stage["handle"]}, serve_stage["options"], SCAN) as remote:
        results = [None, None]

        def scan(i: int) -> None:
            results[i] = remote.scan(broadcast).report

        threads = [threading.Thread(target=scan, args=(i,)) for i in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert expected.findings and any(f.modality.value == "onscreen_text" for f in expected.findings)
    for report in results:
        where = [(f.kind, f.modality, f.t_start, f.t_end, f.evidence.frame_index) for f in report.findings]
        assert where == [(f.kind, f.modality, f.t_start, f.t_end, f.evidence.frame_index)
                         for f in expected.findings]
        assert [f.score for f in report.findings] == pytest.approx([f.score for f in expected.findings],
                                                                   abs=1e-4)
        # Whether OCR puts a space between two Chinese phrases can change with the batch a frame ran
        # in and the replica's thread count; the words, and so the findings, may not.
        assert [_words(t.text) for t in report.texts] == [_words(t.text) for t in expected.texts]
        frames = next(s for s in report.analyzers if s.name == "frames")
        assert frames.state == "ran" and frames.failed_items == 0


@pytest.mark.slow
def test_model_stage_batches_items_from_many_callers(serve_stage):
    """Single items sent at once come back in order, each its own output (the batch is regrouped)."""
    import numpy as np

    from liveinspect.pipelines.frame_stages import FrameItem

    picture = np.full((64, 64, 3), 255, np.uint8)
    items = [FrameItem(image=picture, frame_index=i, t_start=float(i), t_end=float(i)) for i in range(6)]
    handle = serve_stage["handle"]
    before = handle.stats.remote().result()
    responses = [handle.remote(item) for item in items]
    outputs = [response.result() for response in responses]
    assert len(outputs) == 6 and all(len(o.results) == len(outputs[0].results) for o in outputs)
    after = handle.stats.remote().result()
    assert after["items"] - before["items"] == 6
    assert after["batches"] - before["batches"] < 6  # concurrent callers shared model calls
