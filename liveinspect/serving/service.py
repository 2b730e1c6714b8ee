"""One service process: the database, the shared inspector, job workers, callbacks, the sweeper.

`Service.start()` loads the models (readiness) and starts the background
threads; `Service.stop()` puts running jobs back in the queue and stops them.
The HTTP app (`app.create_app`) drives both from its lifespan.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.orchestrator import Inspector
from liveinspect.serving.callbacks import DeliveryWorker
from liveinspect.serving.config import ServiceConfig
from liveinspect.serving.db import Database
from liveinspect.serving.inference import SharedInference, build_service_inspector
from liveinspect.serving.limits import TokenBucket
from liveinspect.serving.metrics import ServiceMetrics
from liveinspect.serving.notify import ChangeCounter
from liveinspect.serving.runner import JobRunner
from liveinspect.serving.store import Store, upload_dir

log = logging.getLogger(__name__)


def open_store(data_dir: Path, database: str | None = None) -> Store:
    return Store(Database(database, Path(data_dir)))


class Service:
    def __init__(self, config: ServiceConfig, inspector: Inspector | None = None) -> None:
        self.config = config
        self.metrics = ServiceMetrics()
        self.store = open_store(config.data_dir, config.database)
        self.changes = ChangeCounter()
        self.rate = TokenBucket(config.rate_limit_per_s, config.rate_burst)
        self._given_inspector = inspector
        self.inspector: Inspector | None = None
        self.inference: SharedInference | None = None
        self.runner: JobRunner | None = None
        self.deliveries: DeliveryWorker | None = None
        self._sweeper: threading.Thread | None = None
        self._stopping = threading.Event()
        self.ready = False
        self.metrics.watch(
            queue_depth=lambda: self.inference.queue_depth() if self.inference else {},
            jobs_by_state=self.store.jobs_by_state,
        )

    def start(self) -> None:
        started = time.perf_counter()
        self.inspector = self._given_inspector or build_service_inspector(self.config, self.metrics)
        self._check_requested_models()
        self.inference = SharedInference(self.inspector, self.config, self.metrics)
        self.runner = JobRunner(
            self.store,
            self.inspector,
            self.config,
            self.metrics,
            self.changes,
            on_delivery=self._wake_deliveries,
        )
        self.deliveries = DeliveryWorker(self.store, self.config, self.metrics, self.runner.owner)
        self.deliveries.start()
        self.runner.start()
        self._sweeper = threading.Thread(target=self._sweep_loop, name="retention-sweeper", daemon=True)
        self._sweeper.start()
        self.ready = True
        self.metrics.ready.set(1)
        log.info(
            "service ready",
            extra={
                "seconds": round(time.perf_counter() - started, 2),
                "database": self.store.db.display,
                "analyzers": [a.name for a in self.inspector.analyzers],
            },
        )

    def _check_requested_models(self) -> None:
        """Weights the operator named must have loaded: a typo in --whisper stops the start."""
        requested = self.config.requested_weights
        for status in self.inspector.model_statuses():
            if status.state != "ran" and status.name in requested:
                if self._given_inspector is None:
                    self.inspector.close()
                raise LiveInspectError(f"{status.name} ({requested[status.name]}): {status.reason}")

    def _wake_deliveries(self) -> None:
        if self.deliveries is not None:
            self.deliveries.wake()

    def stop(self) -> None:
        self.ready = False
        self.metrics.ready.set(0)
        self._stopping.set()
        if self.runner is not None:
            self.runner.stop()
        if self.deliveries is not None:
            self.deliveries.stop()
        if self.inference is not None:
            self.inference.close()
        if self.inspector is not None and self._given_inspector is None:
            self.inspector.close()
        self.store.db.close()

    # -- retention ------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> int:
        """Delete what is past its retention; returns how many jobs went."""
        removed = self.store.sweep(now)
        for job in removed:
            shutil.rmtree(upload_dir(self.config.data_dir, job["id"]), ignore_errors=True)
            self.changes.forget(job["id"])
        if removed:
            log.info("retention sweep", extra={"jobs_removed": len(removed)})
        return len(removed)

    def _sweep_loop(self) -> None:
        while not self._stopping.wait(self.config.sweep_interval_s):
            try:
                self.sweep()
            except Exception:  # noqa: BLE001
                log.exception("retention sweep failed")
