"""What travels between the Ray engine's stages, and the CPU and model steps that make it.

A broadcast becomes a run of `WorkRow`s, in order: its cover (when it has
one), one row per decoded segment, and an end row that says how decoding
ended. The decode step (`decode_broadcast`, a CPU task) fills them in; each
model stage (`forward_rows`, in an actor) adds its analyzer's outputs, one
`ItemResult` per item, with the same preprocess the local engine runs; the
assembly in `replay.py` turns them back into the report the local engine
would have written. Nothing here knows about Ray, so the steps are plain
functions that tests can call directly.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liveinspect.errors import LiveInspectError, MediaError
from liveinspect.media.segment import Segment
from liveinspect.pipelines.base import Analyzer, StillImage
from liveinspect.schema import Broadcast, Modality


@dataclass(frozen=True)
class RemoteError:
    """An exception raised on a worker, as the report records it: its type's name and message."""

    type_name: str
    message: str
    ours: bool  # a LiveInspectError: the report shows its message alone

    @classmethod
    def of(cls, error: BaseException) -> "RemoteError":
        return cls(type(error).__name__, str(error), isinstance(error, LiveInspectError))

    def rebuild(self) -> Exception:
        """An exception that the orchestrator records with the same words as the original."""
        if self.ours:
            return LiveInspectError(self.message)
        return type(self.type_name, (Exception,), {})(self.message)


@dataclass
class ItemResult:
    """One item's forward output (or the error it raised) and its share of its batch's seconds."""

    value: Any = None
    error: RemoteError | None = None
    compute_s: float = 0.0


@dataclass
class WorkRow:
    kind: str  # "cover" | "segment" | "end"
    segment: Segment | None = None
    image: np.ndarray | None = None  # the cover
    error: str = ""  # cover: why it did not load; end: why decoding stopped
    stopped_at: float | None = None  # end: where a decode that broke off stopped
    fatal: bool = False  # end: decoding raised something the local engine would not catch either
    decode_s: float = 0.0  # end: the decode task's seconds for the whole broadcast
    outputs: dict[str, list[ItemResult]] = field(default_factory=dict)
    busy_s: dict[str, float] = field(default_factory=dict)  # stage -> seconds spent on this row


def decode_broadcast(broadcast: Broadcast, *, stream_id: str, window_s: float, fps: float,
                     max_duration: float | None, products: Mapping[str, tuple[Any, Any]],
                     allow_private_urls: bool = False) -> Iterator[WorkRow]:
    """The cover, then each segment with its shared products (`name -> (compute, options)`), then the
    end row. Errors become rows: the same MediaErrors the local scan turns into media states."""
    from liveinspect.media import iter_segments, load_image, probe

    started = time.perf_counter()
    if broadcast.cover:
        try:
            yield WorkRow(kind="cover", image=load_image(broadcast.cover))
        except MediaError as error:
            yield WorkRow(kind="cover", error=str(error))
    end = WorkRow(kind="end")
    if broadcast.source:
        try:
            # The local scan probes first; its errors read the same here.
            probe(broadcast.source, allow_private_urls=allow_private_urls)
            segments = iter_segments(broadcast.source, window_s=window_s, fps=fps, stream_id=stream_id,
                                     max_duration=max_duration, allow_private_urls=allow_private_urls)
            for segment in segments:
                _compute_products(segment, products)
                yield WorkRow(kind="segment", segment=segment)
        except MediaError as error:
            end.error = str(error)
            end.stopped_at = error.stopped_at
        except Exception as error:  # noqa: BLE001 - would end the local scan too: the row fails
            end.error, end.fatal = f"{type(error).__name__}: {error}", True
    end.decode_s = time.perf_counter() - started
    yield end


def _compute_products(segment: Segment, products: Mapping[str, tuple[Any, Any]]) -> None:
    for name in sorted(products):
        compute, options = products[name]
        try:
            segment.products[name] = compute(segment, options)
        except Exception:  # noqa: BLE001 - left out: the assembly computes it again and records the failure
            continue


def forward_rows(analyzer: Analyzer, rows: Sequence[WorkRow]) -> None:
    """Run `analyzer` over the items of `rows` (batched across rows) and attach one ItemResult per
    item to each row's `outputs[analyzer.name]`, in the order preprocess gave them."""
    started = time.perf_counter()
    items: list[Any] = []
    counts: list[int] = []
    for row in rows:
        made = _preprocess(analyzer, row)
        items.extend(made)
        counts.append(len(made))
    results = run_batched(analyzer.forward, items, analyzer.batch_size)
    share = (time.perf_counter() - started) / max(len(rows), 1)
    position = 0
    for row, count in zip(rows, counts, strict=True):
        row.outputs[analyzer.name] = results[position:position + count]
        row.busy_s[analyzer.name] = share
        position += count


def _preprocess(analyzer: Analyzer, row: WorkRow) -> list[Any]:
    """The items the assembly's preprocess will make for this row. A fresh stream state is enough:
    preprocess depends on the segment alone (analyzers' contract), the per-stream counters it keeps
    are the assembly's to count. A preprocess that raises gives no items here; the assembly runs it
    again and records the failure exactly as the local engine does."""
    stream = analyzer.open_stream("worker")
    try:
        if row.kind == "segment" and row.segment is not None:
            return list(analyzer.preprocess(row.segment, stream))
        if row.kind == "cover" and row.image is not None:
            return list(analyzer.preprocess_image(StillImage(image=row.image, modality=Modality.cover,
                                                             name="cover"), stream))
    except Exception:  # noqa: BLE001 - recorded by the assembly, which sees the same error
        return []
    return []


def run_batched(forward: Any, items: Sequence[Any], batch_size: int) -> list[ItemResult]:
    """`forward` over `items` in batches of `batch_size`; as the local batcher does, a batch that fails
    is run again item by item, so only the bad item carries the error."""
    results: list[ItemResult] = []
    for start in range(0, len(items), max(batch_size, 1)):
        batch = list(items[start:start + batch_size])
        try:
            results.extend(_run(forward, batch))
        except Exception as error:  # noqa: BLE001 - routed to the items, as the batcher does
            if len(batch) == 1:
                results.append(ItemResult(error=RemoteError.of(error)))
                continue
            for item in batch:
                try:
                    results.extend(_run(forward, [item]))
                except Exception as single:  # noqa: BLE001
                    results.append(ItemResult(error=RemoteError.of(single)))
    return results


def _run(forward: Any, batch: list[Any]) -> list[ItemResult]:
    started = time.perf_counter()
    outputs = list(forward(batch))
    if len(outputs) != len(batch):
        raise RuntimeError(f"batch function returned {len(outputs)} outputs for {len(batch)} items")
    share = (time.perf_counter() - started) / len(batch)
    return [ItemResult(value=output, compute_s=share) for output in outputs]
