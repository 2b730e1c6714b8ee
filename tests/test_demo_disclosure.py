"""The demo's synthetic presenter voice under the labeling rules' three tiers: undisclosed in the
demo as shipped, declared when the title says 虚拟主播, labelled when the file carries an AIGC tag."""

from __future__ import annotations

import json

import av
import pytest

import liveinspect
from liveinspect.broadcast_file import load_broadcast
from liveinspect.cli import demo_dir
from liveinspect.schema import FindingKind

SUSPECTED, DECLARED, LABELLED = (FindingKind.undisclosed_synthetic_media, FindingKind.aigc_declared,
                                 FindingKind.aigc_label)


@pytest.fixture(scope="module")
def inspector():
    # The voice detector alone, on the first 20 s: the presenter speaks from 0.4 s on.
    options = liveinspect.ScanOptions(progress=False, max_duration=20.0, window_s=10.0)
    with liveinspect.build_inspector(["voice"], options=options) as shared:
        yield shared


@pytest.fixture(scope="module")
def demo():
    return load_broadcast(demo_dir() / "broadcast.yaml")


def kinds(report) -> set[FindingKind]:
    return {f.kind for f in report.findings}


def tagged_copy(source, target) -> None:
    """`source` remuxed (no re-encoding) with an implicit AIGC label in the container's tags."""
    label = json.dumps({"Label": "1", "ContentProducer": "demo-tts", "ProduceID": "demo-0001"})
    with av.open(str(source)) as inp, av.open(str(target), "w", format="mp4",
                                              options={"movflags": "use_metadata_tags"}) as out:
        out.metadata["AIGC"] = label
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams if s.type in ("audio",
                                                                                                "video")}
        for packet in inp.demux():
            if packet.stream.index in streams and packet.dts is not None:
                packet.stream = streams[packet.stream.index]
                out.mux(packet)


@pytest.mark.slow
def test_the_shipped_demo_voice_is_suspected_synthetic_and_undisclosed(inspector, demo):
    report = inspector.scan(demo).report
    assert SUSPECTED in kinds(report) and FindingKind.synthetic_voice in kinds(report)
    assert DECLARED not in kinds(report) and LABELLED not in kinds(report)
    [suspected] = [f for f in report.findings if f.kind is SUSPECTED][:1]
    assert suspected.t_start is not None and suspected.t_start < 2.0
    assert {"Art-13", "Art-25"} <= set(suspected.articles) and suspected.severity.rank >= 2


@pytest.mark.slow
def test_a_declared_virtual_presenter_is_only_the_info_tier(inspector, demo):
    declared = demo.model_copy(update={"title": "虚拟主播 " + demo.title})
    report = inspector.scan(declared).report
    assert DECLARED in kinds(report) and SUSPECTED not in kinds(report)
    assert all(f.severity.value == "info" for f in report.findings
               if f.kind in (DECLARED, FindingKind.synthetic_voice))


@pytest.mark.slow
def test_a_copy_with_an_aigc_tag_is_reported_as_labelled(inspector, demo, tmp_path):
    copy = tmp_path / "demo-aigc.mp4"
    tagged_copy(demo.source, copy)
    report = inspector.scan(demo.model_copy(update={"source": str(copy)})).report
    labels = [f for f in report.findings if f.kind is LABELLED]
    assert labels and labels[0].evidence.category.startswith("metadata:")
    assert SUSPECTED not in kinds(report)
