"""The inference core: one shared inspector for concurrent scans, per-scan state, the public face,
failures that skip an item (not the analyzer), the stop event, and a detector added from outside."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from media_factory import make_video

import liveinspect
from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.base import Analyzer, AnalyzerOutput, StreamState
from liveinspect.pipelines.options import option
from liveinspect.pipelines.orchestrator import Inspector, ScanOptions
from liveinspect.pipelines.text import TextAnalyzer
from liveinspect.policy import load_policy
from liveinspect.schema import Broadcast, Evidence, Finding, FindingKind, Modality, TextItem

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo"


def shipped_examples() -> list[Broadcast]:
    """The three shipped inputs: the demo broadcast, real speech with a title, a cover-only room."""
    from liveinspect.broadcast_file import load_broadcast

    return [load_broadcast(DEMO / "broadcast.yaml"),
            Broadcast(source=str(ROOT / "tests" / "data" / "jfk.flac"), title="全网最低价 限时抢购"),
            Broadcast(source="", cover=str(DEMO / "cover.png"), profile="加V信 abc12345 私聊")]


def comparable(report) -> dict:
    """A report without what depends on the clock (times taken, creation time)."""
    data = json.loads(report.to_json())
    data.pop("created_at")
    data.pop("timings")
    for status in data["analyzers"]:
        status.pop("seconds")
    return data


@pytest.fixture(scope="module")
def shared_inspector():
    options = ScanOptions(progress=False, max_duration=16.0, window_s=8.0)
    with liveinspect.build_inspector(["speech", "frames"], options=options) as inspector:
        yield inspector


@pytest.mark.slow
def test_concurrent_scans_on_one_inspector_equal_sequential_scans(shared_inspector):
    broadcasts = shipped_examples()
    sequential = [comparable(shared_inspector.scan(b).report) for b in broadcasts]
    assert sequential[0]["findings"] and sequential[1]["texts"] and sequential[2]["findings"]

    threaded: list[Any] = [None] * len(broadcasts)

    def scan(i: int) -> None:
        threaded[i] = comparable(shared_inspector.scan(broadcasts[i]).report)

    threads = [threading.Thread(target=scan, args=(i,)) for i in range(len(broadcasts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    many = [comparable(r.report) for r in shared_inspector.scan_many(broadcasts, max_streams=3)]
    for i in range(len(broadcasts)):
        assert threaded[i] == sequential[i], f"broadcast {i}: threaded scan differs"
        assert many[i] == sequential[i], f"broadcast {i}: scan_many differs"


@pytest.mark.slow
def test_the_same_broadcast_twice_gives_the_same_statuses(shared_inspector):
    broadcast = shipped_examples()[0]
    first, second = (comparable(shared_inspector.scan(broadcast).report) for _ in range(2))
    assert first["analyzers"] == second["analyzers"]
    frames = next(s for s in first["analyzers"] if s["name"] == "frames")
    assert frames["details"]["frames"]["sampled"] == first["media"]["frames"]  # not summed over scans


# --- small analyzers written here ----------------------------------------------------------


class Counter(Analyzer):
    """Counts frames per stream in its stream state; fails on the frame indices it is told to."""

    name = "counter"

    def __init__(self, fail_on: Sequence[int] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_on = set(fail_on)

    def open_stream(self, stream_id: str) -> StreamState:
        state = StreamState(stream_id)
        state.count = 0  # type: ignore[attr-defined]
        return state

    def preprocess(self, segment, stream):
        return [frame.index for frame in segment.frames]

    def forward(self, batch):
        if self.fail_on & set(batch):
            raise ValueError(f"cannot read frame {sorted(self.fail_on & set(batch))}")
        return list(batch)

    def postprocess(self, item, output, stream):
        stream.count += 1
        return AnalyzerOutput()

    def finish(self, stream):
        return AnalyzerOutput(details={"counted": stream.count})


def small_inspector(*analyzers: Analyzer, text: TextAnalyzer | None = None, **options) -> Inspector:
    policy = load_policy()
    return Inspector(list(analyzers), text_analyzer=text or TextAnalyzer(policy=policy), policy=policy,
                     options=ScanOptions(progress=False, **options))


def test_stream_state_belongs_to_each_scan(tmp_path):
    short = make_video(tmp_path / "short.mp4", seconds=2, fps=5)
    long = make_video(tmp_path / "long.mp4", seconds=4, fps=5)
    with small_inspector(Counter(), window_s=1.0) as inspector:
        results = inspector.scan_many([Broadcast(source=str(short)), Broadcast(source=str(long))])
    counted = [next(s for s in r.report.analyzers if s.name == "counter").details["counted"]
               for r in results]
    assert counted == [results[0].report.media.frames, results[1].report.media.frames]
    assert counted[0] < counted[1]


def test_a_failing_item_is_skipped_and_recorded_and_the_analyzer_goes_on(tmp_path):
    video = make_video(tmp_path / "v.mp4", seconds=4, fps=5)
    with small_inspector(Counter(fail_on=[1]), window_s=1.0) as inspector:
        report = inspector.scan(Broadcast(source=str(video))).report
    status = next(s for s in report.analyzers if s.name == "counter")
    assert status.state == "ran" and status.failed_items == 1
    assert status.errors == ["item: ValueError: cannot read frame [1]"]
    assert status.details["counted"] == report.media.frames - 1


def test_an_analyzer_is_dropped_after_repeated_failures(tmp_path):
    video = make_video(tmp_path / "v.mp4", seconds=4, fps=5)
    with small_inspector(Counter(fail_on=range(1000)), window_s=1.0,
                         max_consecutive_failures=2) as inspector:
        report = inspector.scan(Broadcast(source=str(video), title="全网第一")).report
    status = next(s for s in report.analyzers if s.name == "counter")
    assert status.state == "failed" and status.reason.startswith("dropped after 2 failures in a row")
    assert status.failed_items == 2
    assert any(f.modality is Modality.title for f in report.findings)  # the rest of the scan went on


class BrokenClassifier:
    labels = ["compliant", "absolute_term"]
    name = "broken"
    version = "0"

    def predict_proba(self, texts):
        raise RuntimeError("classifier bug (simulated)")


def test_a_failing_text_check_is_fenced_and_reported(tmp_path):
    from liveinspect.cli.exit import incomplete_reasons
    from liveinspect.schema import Product

    text = TextAnalyzer(policy=load_policy(), classifier=BrokenClassifier())
    with small_inspector(text=text) as inspector:
        one = inspector.scan(Broadcast(source="", title="全网第一")).report
        many = inspector.scan(Broadcast(source="", title="全网第一", profile="加微信",
                                        products=[Product(name="面霜"), Product(name="洁面乳")])).report
    status = next(s for s in one.analyzers if s.name == "text")
    assert status.state == "ran" and status.failed_items == 1  # one text lost, the check goes on
    assert "classifier bug" in status.errors[0]
    assert [t.text for t in one.texts] == ["全网第一"]  # what was read is kept
    assert any("analyzer text: 1 item(s) not inspected" in r for r in incomplete_reasons(one))
    status = next(s for s in many.analyzers if s.name == "text")
    assert status.state == "failed" and status.reason.startswith("dropped after 3 failures in a row")
    assert "classifier bug" in status.reason and len(many.texts) == 4


def test_stop_ends_the_scan_after_the_segment_in_hand_and_keeps_its_findings(tmp_path):
    video = make_video(tmp_path / "v.mp4", seconds=6, fps=5)
    stop = threading.Event()
    seen: list[float] = []

    def progress(seconds: float) -> None:
        seen.append(seconds)
        stop.set()

    with small_inspector(Counter(), window_s=2.0) as inspector:
        report = inspector.scan(Broadcast(source=str(video), title="全网第一"), on_progress=progress,
                                stop=stop).report
    assert report.media.state == "stopped" and report.media.stopped_at == pytest.approx(2.0)
    assert seen == [pytest.approx(2.0)] and report.media.segments == 1
    assert any(f.modality is Modality.title for f in report.findings)


def test_the_report_written_is_the_report_returned(tmp_path):
    broadcast = Broadcast(source="", cover=str(DEMO / "cover.png"), title="全网第一")
    with liveinspect.build_inspector(["frames"], options=ScanOptions(progress=False)) as inspector:
        result = inspector.scan(broadcast)
    before = result.report.to_json()
    files = liveinspect.write_report(result.report, result.evidence, tmp_path / "out")
    assert result.report.to_json() == before
    assert files.json.read_text(encoding="utf-8") == before
    covers = [f for f in result.report.findings if f.modality is Modality.cover]
    assert covers and all(f.evidence.thumbnail == "frames/cover.jpg" for f in covers)
    assert (tmp_path / "out" / "frames" / "cover.jpg").is_file()


def test_findings_are_graded_by_the_inspector_not_the_analyzer():
    class Says(Counter):
        name = "says"

        def postprocess(self, item, output, stream):
            return AnalyzerOutput(findings=[Finding(
                kind=FindingKind.negative_list_product, modality=Modality.frame, score=0.95,
                model="says", model_version="0", evidence=Evidence(category="firearms"))])

    policy = load_policy()
    with small_inspector(Says()) as inspector:
        [finding] = inspector.grade([Finding(kind=FindingKind.negative_list_product,
                                             modality=Modality.frame, score=0.95, model="says",
                                             model_version="0", evidence=Evidence(category="firearms"))])
    assert finding.severity is policy.severity_for(FindingKind.negative_list_product, 0.95, "firearms")
    assert "Art-7" in finding.articles and finding.action is policy.action_for(finding.severity)


def test_a_product_two_analyzers_need_is_computed_once_per_segment(tmp_path):
    from liveinspect.pipelines.registry import register_product, unregister_product

    computed: list[tuple[str, int]] = []

    @register_product("frame_count")
    def frame_count(segment, options):
        computed.append((segment.stream_id, segment.index))
        return len(segment.frames)

    class Reads(Counter):
        needs = ("frame_count",)

        def preprocess(self, segment, stream):
            return [segment.products["frame_count"]]

        def postprocess(self, item, output, stream):
            stream.count += output
            return AnalyzerOutput()

    class First(Reads):
        name = "first"

    class Second(Reads):
        name = "second"

    video = make_video(tmp_path / "v.mp4", seconds=3, fps=4)
    try:
        with small_inspector(First(), Second(), window_s=1.0) as inspector:
            report = inspector.scan(Broadcast(source=str(video))).report
    finally:
        unregister_product("frame_count")
    assert len(computed) == report.media.segments == len(set(computed))  # once per segment
    counted = {s.name: s.details["counted"] for s in report.analyzers if s.name in ("first", "second")}
    assert counted == {"first": report.media.frames, "second": report.media.frames}


# --- the public face --------------------------------------------------------------------------


def test_the_public_face_is_importable_and_documented():
    for name in ("build_inspector", "Inspector", "ScanOptions", "Broadcast", "Report", "load_policy",
                 "write_report"):
        value = getattr(liveinspect, name)
        assert value.__doc__ and value.__doc__.strip(), name
    assert liveinspect.Inspector.scan.__doc__ and liveinspect.Inspector.scan_many.__doc__
    assert set(liveinspect.__all__) == {"__version__", *liveinspect._PUBLIC}
    with pytest.raises(AttributeError):
        liveinspect.no_such_name  # noqa: B018


# --- a detector added from outside the package --------------------------------------------------


@dataclass(frozen=True)
class GreeterOptions:
    greeting: str = option("全网第一", help="what the greeter hears in every segment")
    weights: str | None = option(None, weights=True, help="greeter weights (must exist when given)")


@pytest.fixture
def greeter():
    """A toy analyzer registered the way a plugin registers one; removed afterwards."""
    from liveinspect.errors import LiveInspectError
    from liveinspect.pipelines.registry import register_analyzer, unregister_analyzer

    @register_analyzer("greeter")
    class Greeter(Analyzer):
        Options = GreeterOptions

        def unavailable_reason(self):
            if self.options.weights and not Path(self.options.weights).is_file():
                return f"no weights at {self.options.weights}"
            return None

        def preprocess(self, segment, stream):
            if not segment.frames:
                raise LiveInspectError("no frames")
            return [segment.t0]

        def forward(self, batch):
            return [self.options.greeting] * len(batch)

        def postprocess(self, item, output, stream):
            return AnalyzerOutput(texts=[TextItem(modality=Modality.speech, text=output, t_start=item,
                                                  t_end=item + 1, source="greeter")])

    yield Greeter
    unregister_analyzer("greeter")


def test_a_registered_detector_gets_a_flag_a_models_line_and_reaches_the_report(greeter, tmp_path, capsys):
    from liveinspect.cli import main

    video = make_video(tmp_path / "v.mp4", seconds=2, fps=2)
    assert main(["models", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["greeter"]["state"] == "available"

    code = main(["scan", str(video), "--analyzers", "greeter", "--greeter-greeting", "三天治好",
                 "--out", str(tmp_path / "out"), "--no-progress"])
    assert code == 1  # the greeting is a false efficacy claim
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert "greeter" in [s["name"] for s in report["analyzers"]]
    assert [t["text"] for t in report["texts"] if t["source"] == "greeter"] == ["三天治好"]
    assert any(f["kind"] == "false_efficacy" and f["modality"] == "speech" for f in report["findings"])

    code = main(["scan", str(video), "--analyzers", "greeter", "--greeter-weights",
                 str(tmp_path / "absent.bin"), "--out", str(tmp_path / "out2"), "--no-progress"])
    assert code == 2  # weights the user named must load
    assert "no weights at" in capsys.readouterr().err


# --- what a service needs from a shared inspector ----------------------------------------------


def test_a_still_image_and_decoded_segments_are_scans_of_their_own(tmp_path):
    from liveinspect.media import load_image
    from liveinspect.media.segment import Frame, Segment

    batches: list[tuple[str, int]] = []
    policy = load_policy()
    inspector = Inspector([Counter()], text_analyzer=TextAnalyzer(policy=policy), policy=policy,
                          options=ScanOptions(progress=False),
                          on_batch=lambda name, size, seconds: batches.append((name, size)))
    image = load_image(DEMO / "cover.png")
    with inspector:
        still = inspector.inspect_still(image, broadcast=Broadcast(source="", title="全网第一"))
        frames = [Frame(index=i, t=float(i), image=image) for i in range(3)]
        clip = inspector.inspect_segments([Segment(index=0, t0=0.0, t1=3.0, frames=frames)])
        assert inspector.queue_depths() == {"counter": 0}
    assert still.report.media.state == "none" and "cover" in still.evidence.stills
    assert any(f.modality is Modality.title for f in still.report.findings)
    assert clip.report.media.state == "complete" and clip.report.media.frames == 3
    assert next(s for s in clip.report.analyzers if s.name == "counter").details["counted"] == 3
    assert batches and all(name == "counter" for name, _ in batches)
    assert sum(size for _, size in batches) == 3  # the still gave the counter no items


def test_texts_checked_per_item_in_one_batch():
    with small_inspector() as inspector:
        per_item = inspector.check_texts_each([
            TextItem(modality=Modality.title, text="全网第一"),
            TextItem(modality=Modality.title, text="欢迎来到直播间"),
            TextItem(modality=Modality.title, text="全网第一"),
        ])
    assert [len(findings) for findings in per_item] == [len(per_item[0]), 0, len(per_item[0])]
    assert per_item[0] and all(f.severity and f.articles for f in per_item[0])


def test_options_per_scan(tmp_path):
    video = make_video(tmp_path / "v.mp4", seconds=4, fps=5)
    with small_inspector(Counter(), window_s=1.0) as inspector:
        short = inspector.scan(Broadcast(source=str(video)),
                               options=ScanOptions(progress=False, window_s=2.0, max_duration=2.0))
        whole = inspector.scan(Broadcast(source=str(video)))
    assert short.report.media.segments == 1 and short.report.media.duration_s == 2.0
    assert whole.report.media.segments >= 4 and whole.report.media.duration_s >= 4.0  # the inspector's


def test_max_batch_size_caps_every_batch(tmp_path):
    video = make_video(tmp_path / "v.mp4", seconds=3, fps=6)
    sizes: list[int] = []
    counter = Counter()
    counter.batch_size = 64
    policy = load_policy()
    inspector = Inspector([counter], text_analyzer=TextAnalyzer(policy=policy), policy=policy,
                          options=ScanOptions(progress=False, window_s=3.0, fps=6.0, max_wait_s=0.2),
                          on_batch=lambda name, size, seconds: sizes.append(size), max_batch_size=2)
    with inspector:
        report = inspector.scan(Broadcast(source=str(video))).report
    assert sum(sizes) == report.media.frames and max(sizes) == 2
    with pytest.raises(LiveInspectError, match="at least 1"):
        Inspector([], text_analyzer=TextAnalyzer(policy=policy), policy=policy, max_batch_size=0)


def test_a_scan_judges_claims_by_the_products_it_sells():
    from liveinspect.schema import Product

    drug = Product(name="某某片", category="drug_otc", indications=["用于辅助降血糖"], registration="X-1")
    food = Product(name="某某饼干", category="food")
    with small_inspector() as inspector:
        as_drug = inspector.scan(Broadcast(source="", title="这款产品能降血糖", products=[drug])).report
        as_food = inspector.scan(Broadcast(source="", title="这款产品能降血糖", products=[food])).report
    efficacy = FindingKind.false_efficacy
    title = Modality.title
    assert not [f for f in as_drug.findings if f.kind is efficacy and f.modality is title
                and "降血糖" in f.evidence.text.text]
    assert [f for f in as_food.findings if f.kind is efficacy and f.modality is title]
