"""The local engine: the manifest's rows through the in-process inspector, a few at a time.

Rows are scanned `max_streams` at once on one inspector, so their items share
the analyzers' batches (as `Inspector.scan_many` does); one bar counts rows.
A row whose scan raises is a failed row; the others go on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from tqdm.auto import tqdm

from liveinspect.fleet.options import FleetOptions
from liveinspect.fleet.runner import OnRow, PendingRow, RowDone
from liveinspect.pipelines.orchestrator import Inspector


def _scan(inspector: Inspector, pending: PendingRow) -> RowDone:
    started = time.perf_counter()
    try:
        result = inspector.scan(pending.row.broadcast)
    except Exception as error:  # noqa: BLE001 - one row's failure is recorded, the manifest goes on
        return RowDone(pending, None, f"{type(error).__name__}: {error}", time.perf_counter() - started)
    return RowDone(pending, result, "", time.perf_counter() - started)


def run_local(inspector: Inspector, rows: Sequence[PendingRow], on_row: OnRow, options: FleetOptions) -> None:
    failed = 0
    with ThreadPoolExecutor(max_workers=max(1, options.max_streams), thread_name_prefix="fleet") as pool, \
            tqdm(total=len(rows), unit="row", desc="scan-many", disable=not options.progress) as bar:
        # Bounded submission: at most max_streams rows in flight, so memory stays flat on long manifests.
        queue = list(reversed(rows))
        running = set()
        while queue or running:
            while queue and len(running) < max(1, options.max_streams):
                running.add(pool.submit(_scan, inspector, queue.pop()))
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                done = future.result()
                on_row(done)
                failed += done.result is None or done.result.report.media.state in ("failed", "partial")
                bar.update(1)
                bar.set_postfix(failed=failed)
