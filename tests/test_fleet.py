"""scan-many: manifests, resumable runs, bad rows, and the Ray engine giving the local engine's findings.

One manifest made from the shipped examples (the demo broadcast, real speech,
a cover-only room) plus three bad rows (a missing file, corrupt media, an
unreachable URL) is scanned once by each engine, on one inspector and one
local Ray with two CPUs; the tests compare and rerun those runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from notebook_runner import run_notebook
from scale_media import excerpt  # bench/, on the path by conftest

from liveinspect.fleet import FleetOptions, read_manifest, scan_manifest, write_manifest
from liveinspect.fleet.manifest import content_id
from liveinspect.fleet.runs import inspector_fingerprint, read_run, run_key
from liveinspect.fleet.work import RemoteError, run_batched
from liveinspect.pipelines.orchestrator import ScanOptions
from liveinspect.schema import Broadcast, Report

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo"
JFK = ROOT / "tests" / "data" / "jfk.flac"
# A few seconds of each source keep both engines near a minute on two cores. The window holds whole
# utterances: Whisper's greedy decoding of speech cut mid-word flips with float noise (thread count,
# batch composition), in the local engine from one run to the next as much as between engines.
# Private URLs allowed, so the unreachable row is a refused connection, not a refused address.
SCAN = ScanOptions(progress=False, max_duration=6.0, window_s=6.0, allow_private_urls=True)
GOOD = ("demo", "speech", "cover-only")
BAD = ("missing", "corrupt", "unreachable")


def manifest_rows(folder: Path) -> list[dict]:
    """The shipped examples and three bad rows. The demo's 6.5-12.5 s holds a spoken superlative and
    its caption (examples/demo/truth.json V01, V02)."""
    corrupt = folder / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 40)
    clip = excerpt(DEMO / "demo.mp4", folder / "demo-excerpt.mp4", start=6.5, seconds=6.0)
    demo = yaml.safe_load((DEMO / "broadcast.yaml").read_text(encoding="utf-8"))
    demo.update(id="demo", source=str(clip), cover=str(DEMO / "cover.png"))
    return [
        demo,
        {"id": "speech", "source": str(JFK), "title": "全网最低价 限时抢购"},
        {"id": "cover-only", "source": "", "cover": str(DEMO / "cover.png"),
         "profile": "加V信 abc12345 私聊"},
        {"id": "missing", "source": str(folder / "gone.mp4"), "title": "全网第一"},
        {"id": "corrupt", "source": str(corrupt)},
        {"id": "unreachable", "source": "http://127.0.0.1:9/live/room.m3u8", "title": "直播间"},
    ]


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray with two CPUs for the module (starting one costs seconds)."""
    import ray  # part of the dev extras (liveinspect[ray])

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, local_ray):
    """The manifest scanned by the local engine and by the Ray engine, with one shared inspector."""
    import liveinspect

    folder = tmp_path_factory.mktemp("fleet")
    manifest = write_manifest(manifest_rows(folder), folder / "rooms.jsonl")
    options = FleetOptions(analyzers=["speech", "frames"], scan=SCAN, progress=False, num_cpus=2)
    with liveinspect.build_inspector(["speech", "frames"], options=SCAN) as inspector:
        local = scan_manifest(manifest, folder / "local", engine="local", options=options,
                              inspector=inspector)
        on_ray = scan_manifest(manifest, folder / "ray", engine="ray", options=options, inspector=inspector)
        yield {"folder": folder, "manifest": manifest, "options": options, "inspector": inspector,
               "local": local, "ray": on_ray}


def _words(text: str) -> str:
    return "".join(text.split())


def _report(out: Path, row_id: str) -> Report:
    return Report.from_json((out / "reports" / row_id / "report.json").read_bytes())


def _findings(report: Report) -> list[tuple]:
    return [(f.kind.value, f.modality.value, f.t_start, f.t_end, f.evidence.matched_term,
             f.evidence.frame_index, f.severity.value, f.score) for f in report.findings]


@pytest.mark.slow
def test_ray_engine_finds_what_the_local_engine_finds(runs):
    folder = runs["folder"]
    for row_id in GOOD:
        local, on_ray = _report(folder / "local", row_id), _report(folder / "ray", row_id)
        mine, theirs = _findings(local), _findings(on_ray)
        assert [f[:7] for f in mine] == [f[:7] for f in theirs], row_id  # kinds, times, evidence
        assert [f[7] for f in mine] == pytest.approx([f[7] for f in theirs], abs=1e-4), row_id
        # Whether OCR puts a space between two phrases can change with the batch a frame ran in and
        # the worker's thread count (as between two local runs); the words, and the findings, may not.
        assert [_words(t.text) for t in local.texts] == [_words(t.text) for t in on_ray.texts], row_id
        assert [(t.modality, t.t_start, t.t_end, t.frame_index) for t in local.texts] == \
            [(t.modality, t.t_start, t.t_end, t.frame_index) for t in on_ray.texts], row_id
        assert local.media == on_ray.media, row_id
        assert [(s.name, s.state, s.items, s.failed_items, s.details) for s in local.analyzers] == \
            [(s.name, s.state, s.items, s.failed_items, s.details) for s in on_ray.analyzers], row_id
        assert local.verdict == on_ray.verdict
    # The examples are not clean: the comparison covers real findings from speech, frames and texts.
    modalities = {f.modality.value for row_id in GOOD for f in _report(folder / "ray", row_id).findings}
    assert {"title", "profile", "cover", "speech", "onscreen_text"} <= modalities
    assert (folder / "ray" / "reports" / "demo" / "report.html").is_file()
    stages = runs["ray"].stages
    assert stages["speech"]["busy_s"] > 0 and stages["frames"]["busy_s"] > 0


@pytest.mark.slow
def test_bad_rows_fail_with_their_error_and_the_rest_completes(runs):
    for engine in ("local", "ray"):
        summary = runs[engine]
        assert (summary.done, summary.failed) == (3, 3), engine
        assert set(summary.failures) == set(BAD)
        out = runs["folder"] / engine
        lines = {line["id"]: line for line in map(json.loads, (out / "rows.jsonl").read_text().splitlines())}
        assert {row_id for row_id, line in lines.items() if line["status"] == "done"} == set(GOOD)
        assert "file not found" in lines["missing"]["error"]
        assert lines["corrupt"]["error"] and lines["unreachable"]["error"]
        assert "127.0.0.1:9" in lines["unreachable"]["error"] and "refused" in lines["unreachable"]["error"]
        # A failed row still has its report: the title and profile were checked before the media failed.
        assert any(f.modality.value == "title" for f in _report(out, "missing").findings)
    import pyarrow.parquet as pq

    table = pq.read_table(runs["folder"] / "ray" / "findings.parquet").to_pylist()
    assert {row["row_id"] for row in table} >= {"demo", "speech", "cover-only", "missing"}
    assert all(row["report"].startswith("reports/") for row in table)
    jsonl = (runs["folder"] / "ray" / "findings.jsonl").read_text().splitlines()
    assert len(jsonl) == len(table)


@pytest.mark.slow
def test_a_rerun_retries_only_the_failed_rows(runs):
    """A rerun (local engine, into the Ray run's folder: the run key is engine-independent) skips
    the three done rows and retries the three failed ones; the row whose file turned up gets done."""
    folder = runs["folder"]
    out = folder / "ray"
    before = {row_id: read_run(out, row_id) for row_id in (*GOOD, *BAD)}
    shutil.copy(JFK, folder / "gone.mp4")  # the missing file turns up
    summary = scan_manifest(runs["manifest"], out, engine="local", options=runs["options"],
                            inspector=runs["inspector"])
    assert (summary.skipped, summary.done, summary.failed) == (3, 1, 2)
    after = {row_id: read_run(out, row_id) for row_id in (*GOOD, *BAD)}
    for row_id in GOOD:
        assert after[row_id] == before[row_id], f"{row_id} was done and must be skipped"
    assert after["missing"].status == "done" and after["missing"].engine == "local"
    assert after["corrupt"].status == after["unreachable"].status == "failed"
    assert after["corrupt"].finished_at >= before["corrupt"].finished_at
    lines = [json.loads(line) for line in (out / "rows.jsonl").read_text().splitlines()]
    assert {line["id"] for line in lines if line["skipped"]} == set(GOOD)
    assert _report(out, "missing").media.state == "complete"
    # The findings table covers the whole manifest, not only the rows this run scanned.
    rows_with_findings = {json.loads(line)["row_id"] for line in
                          (out / "findings.jsonl").read_text().splitlines()}
    assert {"demo", "speech", "cover-only", "missing"} <= rows_with_findings


@pytest.mark.slow
def test_cli_scan_many_on_ray_with_metadata_checks_only(runs, tmp_path, capsys):
    """`liveinspect scan-many` (Ray, joining the running local Ray): exit 2 names the failed rows."""
    from liveinspect.cli import main

    code = main(["scan-many", str(runs["manifest"]), "--out", str(tmp_path), "--engine", "ray",
                 "--analyzers", "none", "--max-duration", "2", "--no-progress", "--json",
                 "--allow-private-urls"])
    captured = capsys.readouterr()
    assert code == 2
    summary = json.loads(captured.out)
    assert summary["done"] == 4 and set(summary["failures"]) == {"corrupt", "unreachable"}
    assert "failed corrupt:" in captured.err
    titles = [f for f in _report(tmp_path, "demo").findings if f.modality.value == "title"]
    assert titles and _report(tmp_path, "demo").media.state == "complete"


def test_run_key_follows_inputs_models_and_files(tmp_path):
    clip = tmp_path / "a.flac"
    shutil.copy(JFK, clip)
    broadcast = Broadcast(source=str(clip), title="t")
    fingerprint = {"tool": "x", "policy": "p1", "models": [["speech", "ran", "whisper", "v1"]], "scan": {}}
    key = run_key(broadcast, fingerprint)
    assert run_key(broadcast, json.loads(json.dumps(fingerprint))) == key
    assert run_key(broadcast.model_copy(update={"title": "u"}), fingerprint) != key
    assert run_key(broadcast, {**fingerprint, "models": [["speech", "ran", "whisper", "v2"]]}) != key
    assert run_key(broadcast, {**fingerprint, "policy": "p2"}) != key
    clip.write_bytes(clip.read_bytes() + b"\0")  # the file changed under the same name
    assert run_key(broadcast, fingerprint) != key


def test_manifest_rows_from_jsonl_and_parquet(tmp_path):
    rows = [{"id": "a/b c", "source": "clip.mp4", "title": "x",
             "products": [{"name": "面霜", "price": 9.9}]},
            {"source": "https://example.invalid/live.m3u8", "title": "y"},
            {"title": 3, "source": []}]
    jsonl = write_manifest(rows, tmp_path / "m.jsonl")
    with jsonl.open("a", encoding="utf-8") as handle:
        handle.write("{not json\n")
        handle.write(json.dumps({"id": "a/b c", "source": ""}) + "\n")
    read = read_manifest(jsonl)
    assert [r.id for r in read[:1]] == ["a_b_c"]
    assert read[0].broadcast.source == str(tmp_path / "clip.mp4")  # relative to the manifest
    assert read[0].broadcast.products[0].name == "面霜"
    assert read[1].broadcast.source.startswith("https://") and read[1].id.startswith("live-")
    assert read[2].broadcast is None and "line 3" in read[2].error and "title" in read[2].error
    assert read[3].broadcast is None and "not valid JSON" in read[3].error
    assert read[4].broadcast is None and "used by an earlier row" in read[4].error
    # Parquet: absent fields come back as nulls, nested ones too; they mean "not given".
    parquet = write_manifest(rows[:2], tmp_path / "m.parquet")
    from_parquet = read_manifest(parquet)
    assert [r.broadcast for r in from_parquet] == [r.broadcast for r in read[:2]]
    assert [r.id for r in from_parquet] == [r.id for r in read[:2]]
    # A row without an id keeps its id when the manifest is reordered.
    assert content_id(read[1].broadcast) == read[1].id
    with pytest.raises(Exception, match="jsonl or .parquet"):
        read_manifest(tmp_path / "m.csv")


def test_a_failing_batch_is_retried_item_by_item():
    def forward(batch):
        if any(item == "bad" for item in batch):
            raise ValueError("bad item")
        return [item.upper() for item in batch]

    results = run_batched(forward, ["a", "bad", "c", "d"], batch_size=3)
    assert [r.value for r in results] == ["A", None, "C", "D"]
    assert results[1].error == RemoteError("ValueError", "bad item", False)
    rebuilt = results[1].error.rebuild()
    assert type(rebuilt).__name__ == "ValueError" and str(rebuilt) == "bad item"


def test_fingerprint_names_every_model(runs):
    fingerprint = inspector_fingerprint(runs["inspector"])
    names = {entry[0] for entry in fingerprint["models"]}
    assert {"text", "speech", "frames"} <= names
    assert fingerprint["scan"] == {"window_s": 6.0, "fps": 1.0, "max_duration": 6.0,
                                   "allow_private_urls": True}


@pytest.mark.slow
def test_scale_notebook_runs(local_ray, tmp_path, monkeypatch, capsys):
    """notebooks/scale.ipynb top to bottom: both engines, the comparison, the rerun."""
    notebook = ROOT / "notebooks" / "scale.ipynb"
    monkeypatch.chdir(tmp_path)  # it writes out/scale/ relative to where it runs
    namespace = run_notebook(notebook)
    printed = capsys.readouterr().out
    assert "local: 3 done, 1 failed" in printed and "ray: 3 done, 1 failed" in printed
    assert "same findings: True" in printed
    assert namespace["largest_gap"] < 1e-4 and len(namespace["a"]) >= 4
    assert "rerun: 3 skipped, 0 done, 1 failed (retried)" in printed
