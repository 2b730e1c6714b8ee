"""Model stages on Ray Serve: the service's inspector with its models in deployments (`@serve.batch`)
finds what the in-process inspector finds, and items from concurrent scans share the deployment's batches."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from scale_media import excerpt  # bench/, on the path by conftest
from serving_support import free_port

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
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})  # loopback only, a free port
    options = ServeOptions(analyzers=["frames"], settings=SETTINGS, max_wait_s=0.05,
                           stages={"frames": StageDeployment(num_replicas=1, num_cpus=0.5)})
    stages = bind_model_stages(["frames"], options)
    handle = serve.run(stages["frames"], name="fleet-test-frames", route_prefix=None)
    yield {"handle": handle, "options": options, "port": port}
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


@pytest.mark.slow
def test_the_service_on_ray_serve_answers_text_and_runs_a_job(serve_stage, tmp_path):
    """The service's own FastAPI app behind Serve's proxy, its frame model in a deployment."""
    from ray import serve
    from serving_support import add_key, make_qr_video, wait_until

    from liveinspect.fleet.serve import service_application
    from liveinspect.serving import Client
    from liveinspect.serving.config import ServiceConfig

    port = serve_stage["port"]
    config = ServiceConfig(data_dir=tmp_path / "data", analyzers=("frames",),
                           settings={"frames.faces": {"enabled": False}}, window_s=2.0, fps=2.0,
                           rate_limit_per_s=0)
    (tmp_path / "data").mkdir()
    key = add_key(tmp_path / "data")
    serve.run(service_application(config, stages={"frames": StageDeployment(num_cpus=0.5)}),
              name="liveinspect", route_prefix="/")
    try:
        with Client(f"http://127.0.0.1:{port}", key.key) as client:
            wait_until(lambda: client.readyz().get("status") == "ready", timeout=120, message="ready")
            texts = client.check_text([{"text": "全网最低价 国家级产品", "source": "title"}])
            assert {f["kind"] for f in texts[0]["findings"]} >= {"absolute_term"}
            video = make_qr_video(tmp_path / "qr.mp4", 4.0, [(1.0, 3.0, "https://u.wechat.com/EXAMPLEone")])
            job = client.submit_job(file=video, broadcast={"title": "直播间"})
            done = client.wait(job["id"], timeout=120)
            assert done["state"] == "succeeded"
            payloads = {f["evidence"]["payload"] for f in done["findings"] if f["evidence"]["payload"]}
            assert payloads == {"https://u.wechat.com/EXAMPLEone"}, done["findings"]
            assert done["progress"]["media_seconds"] >= 3.9
    finally:
        serve.delete("liveinspect")
