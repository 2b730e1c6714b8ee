"""Job workers: claim a job from the database, scan it on the shared inspector, store as it goes.

Each worker thread claims one job at a time (see `Store.claim_job`), and a
heartbeat renews the leases of this process's running jobs every second and
reads their cancel flags, so a DELETE served by any process stops the scan
after its current segment. A process that dies stops renewing; once the
lease runs out another process (or this one, restarted) takes the job over
and runs it again from the start: findings it finds again are already stored
and are neither stored nor announced twice. A job that keeps killing its
process is failed after `max_job_attempts` runs. On a clean shutdown running
jobs are stopped and put back in the queue at once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.orchestrator import Inspector, ScanResult
from liveinspect.schema import Broadcast, Finding, Product, Severity
from liveinspect.serving import payloads
from liveinspect.serving.config import ServiceConfig
from liveinspect.serving.metrics import ServiceMetrics
from liveinspect.serving.notify import ChangeCounter
from liveinspect.serving.store import Store, delivery_id, upload_dir

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
IDLE_POLL_S = 0.5
SNIPPET_PAD_S = 0.5
MAX_SNIPPET_S = 15.0


@dataclass
class _Running:
    job_id: str
    stop: threading.Event = field(default_factory=threading.Event)
    reason: str | None = None  # "cancelled", "shutdown", "lost", "max_duration"
    last_renewed: float = field(default_factory=time.monotonic)


def process_owner() -> str:
    """A name for this process in lease columns: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class JobRunner:
    def __init__(
        self,
        store: Store,
        inspector: Inspector,
        config: ServiceConfig,
        metrics: ServiceMetrics,
        changes: ChangeCounter,
        on_delivery: Any = None,
    ) -> None:
        self.store = store
        self.inspector = inspector
        self.config = config
        self.metrics = metrics
        self.changes = changes
        self.on_delivery = on_delivery or (lambda: None)
        self.owner = process_owner()
        self._running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        for n in range(self.config.job_workers):
            thread = threading.Thread(target=self._work, name=f"job-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        heartbeat = threading.Thread(target=self._heartbeat, name="job-heartbeat", daemon=True)
        heartbeat.start()
        self._threads.append(heartbeat)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 30.0) -> None:
        self._stopping.set()
        with self._lock:
            for running in self._running.values():
                running.reason = running.reason or "shutdown"
                running.stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    @property
    def running_jobs(self) -> list[str]:
        with self._lock:
            return list(self._running)

    # -- the loops ---------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                job = self.store.claim_job(self.owner, self.config.lease_s)
            except Exception:  # noqa: BLE001 - the database may blink; try again shortly
                log.exception("claiming a job failed")
                job = None
            if job is None:
                self._wake.wait(IDLE_POLL_S)
                self._wake.clear()
                continue
            self._run_claimed(job)

    def _heartbeat(self) -> None:
        while not self._stopping.wait(HEARTBEAT_S):
            with self._lock:
                running = list(self._running.values())
            for entry in running:
                try:
                    ours, cancel = self.store.renew_lease(entry.job_id, self.owner, self.config.lease_s)
                except Exception:  # noqa: BLE001
                    log.exception("renewing the lease of %s failed", entry.job_id)
                    continue
                entry.last_renewed = time.monotonic()
                if not ours:
                    entry.reason = entry.reason or "lost"
                    entry.stop.set()
                elif cancel:
                    entry.reason = entry.reason or "cancelled"
                    entry.stop.set()

    # -- one job ---------------------------------------------------------------------------

    def _run_claimed(self, job: dict[str, Any]) -> None:
        job_id = job["id"]
        if job["cancel_requested"]:
            self._finish(job, "cancelled", error="cancelled before it ran")
            return
        if job["attempts"] > self.config.max_job_attempts:
            self._finish(
                job,
                "failed",
                error=f"the job was interrupted {job['attempts'] - 1} times "
                "(its process stopped mid-scan); not run again",
            )
            return
        entry = _Running(job_id)
        with self._lock:
            self._running[job_id] = entry
        log.info("job started", extra={"job_id": job_id, "attempt": job["attempts"]})
        self._announce_state(job, "running")
        workdir = Path(tempfile.mkdtemp(prefix=f"{job_id}-", dir=self._tmp_root()))
        try:
            broadcast, warnings = self._broadcast(job, workdir)
            result = self._scan(job, broadcast, entry)
            self._complete(job, entry, result, warnings)
        except Exception as error:  # noqa: BLE001 - a job's failure must not end the worker
            if entry.reason in ("shutdown", "lost"):
                self._release(job, entry)
            else:
                log.exception("job failed", extra={"job_id": job_id})
                kind = "" if isinstance(error, LiveInspectError) else f"{type(error).__name__}: "
                self._finish(job, "failed", error=f"{kind}{error}")
        finally:
            with self._lock:
                self._running.pop(job_id, None)
            shutil.rmtree(workdir, ignore_errors=True)
            self.changes.touch(job_id)

    def _tmp_root(self) -> Path:
        root = self.config.data_dir / "tmp"
        root.mkdir(parents=True, exist_ok=True)
        return root

    def _broadcast(self, job: dict[str, Any], workdir: Path) -> tuple[Broadcast, list[str]]:
        request = job["request"]
        info = request.get("broadcast") or {}
        warnings: list[str] = []
        source = job["upload"] or request["source"]
        cover = None
        if info.get("cover_url"):
            from liveinspect.serving.fetch import fetch_to_file

            try:
                cover = str(
                    fetch_to_file(
                        info["cover_url"],
                        workdir / "cover",
                        max_bytes=self.config.max_image_bytes,
                        allow_private=self.config.allow_private_urls,
                    )
                )
            except LiveInspectError as error:
                warnings.append(f"cover not inspected: {error}")
        elif job["upload"] and (Path(job["upload"]).parent / "cover").is_file():
            cover = str(Path(job["upload"]).parent / "cover")
        broadcast = Broadcast(
            source=source,
            title=info.get("title") or "",
            cover=cover,
            account_name=info.get("account") or "",
            profile=info.get("profile") or "",
            products=[Product.model_validate(p) for p in info.get("products") or []],
        )
        return broadcast, warnings

    def _scan(self, job: dict[str, Any], broadcast: Broadcast, entry: _Running) -> ScanResult:
        request = job["request"]
        job_id = job["id"]
        threshold = Severity(request.get("callback_min_severity") or "low")
        callback_url = request.get("callback_url")
        limit = min(
            float(request.get("max_duration") or self.config.max_job_duration_s),
            self.config.max_job_duration_s,
        )
        last_progress = [0.0]

        def on_findings(findings: list[Finding]) -> None:
            new = self.store.add_findings(
                job_id,
                findings,
                callback_url=callback_url,
                min_severity=threshold,
                event_body=lambda did, finding, seq: payloads.finding_event(did, job_id, finding, seq),
            )
            for finding in new:
                self.metrics.findings.labels(finding.severity.value).inc()
            if new:
                self.changes.touch(job_id)
                if callback_url:
                    self.on_delivery()

        def on_progress(media_seconds: float) -> None:
            now = time.monotonic()
            if now - last_progress[0] >= 0.5:
                last_progress[0] = now
                self.store.set_progress(job_id, self.owner, {"media_seconds": round(media_seconds, 2)})
                self.changes.touch(job_id)

        # The job's duration bound is this scan's option (the shared inspector's hold for every
        # scan); it also bounds how long the scan waits on a stalled live source. `stop` is DELETE,
        # shutdown and a lost lease.
        options = dataclasses.replace(self.inspector.options, max_duration=limit)
        result = self.inspector.scan(
            broadcast, on_findings=on_findings, on_progress=on_progress, stop=entry.stop, options=options
        )
        if request.get("max_duration") and result.report.media.duration_s >= limit - 0.01:
            entry.reason = entry.reason or "max_duration"
        return result

    def _complete(
        self, job: dict[str, Any], entry: _Running, result: ScanResult, warnings: list[str]
    ) -> None:
        report = result.report
        if entry.reason in ("shutdown", "lost"):
            self._release(job, entry)
            return
        # Findings arrive through on_findings as they are made; these are the ones the report
        # merged or that came at the very end. Unknown ones are stored, known ones skipped.
        artifacts = self._report_files(job, result)
        media = report.media
        state, error = "succeeded", None
        if entry.reason == "cancelled":
            state = "cancelled"
        elif media.state == "failed":
            state, error = "failed", f"the source could not be read: {media.message}"
        progress = {
            "media_seconds": round(media.duration_s, 2),
            "segments": media.segments,
            "frames": media.frames,
            "media_state": media.state,
        }
        if media.message:
            progress["media_message"] = media.message
        if entry.reason == "max_duration":
            progress["stopped"] = "max_duration reached"
        if warnings:
            progress["warnings"] = warnings
        verdict = report.verdict
        self._finish(
            job,
            state,
            error=error,
            action=verdict.action.value if verdict else None,
            severity=verdict.severity.value if verdict and report.findings else None,
            artifacts=artifacts,
            progress=progress,
        )

    def _report_files(self, job: dict[str, Any], result: ScanResult) -> list[tuple[str, str, bytes]]:
        from liveinspect.report.html import write_report

        folder = Path(tempfile.mkdtemp(prefix="report-", dir=self._tmp_root()))
        try:
            write_report(result.report, result.evidence, folder, policy=self.inspector.policy)
            files = [
                ("report.json", "application/json", (folder / "report.json").read_bytes()),
                ("report.html", "text/html; charset=utf-8", (folder / "report.html").read_bytes()),
            ]
            for path in sorted((folder / "frames").glob("*.jpg")):
                files.append((f"frames/{path.name}", "image/jpeg", path.read_bytes()))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        if job["upload"]:
            files.extend(self._audio_snippets(job["upload"], result.report.findings))
        return files

    def _audio_snippets(self, path: str, findings: list[Finding]) -> list[tuple[str, str, bytes]]:
        """Short WAV clips of what was said, for spoken findings (the uploaded file is deleted later)."""
        from liveinspect.media import load_audio
        from liveinspect.serving.audio import wav_bytes
        from liveinspect.serving.store import finding_key

        clips = []
        for finding in findings:
            if finding.modality.value != "speech" or finding.t_start is None:
                continue
            start = max(0.0, finding.t_start - SNIPPET_PAD_S)
            end = min((finding.t_end or finding.t_start) + SNIPPET_PAD_S, start + MAX_SNIPPET_S)
            try:
                samples = load_audio(path, start=start, duration=max(end - start, 0.1))
            except LiveInspectError as error:
                log.warning("no audio snippet for a finding: %s", error)
                continue
            clips.append((f"audio/{finding_key(finding)}.wav", "audio/wav", wav_bytes(samples)))
        return clips

    # -- state changes ---------------------------------------------------------------------

    def _announce_state(self, job: dict[str, Any], state: str, **fields: Any) -> None:
        url = job["request"].get("callback_url")
        if not url:
            return
        did = delivery_id(job["id"], f"state:{state}")
        body = payloads.state_event(did, job, state, **fields)
        with self.store.db.transaction() as conn:
            self.store.add_delivery(conn, did, job["id"], "job.state", url, body)
        self.on_delivery()

    def _finish(
        self,
        job: dict[str, Any],
        state: str,
        *,
        error: str | None = None,
        action: str | None = None,
        severity: str | None = None,
        artifacts: list | None = None,
        progress: dict[str, Any] | None = None,
    ) -> None:
        request = job["request"]
        url = request.get("callback_url")
        expires = time.time() + self.config.retention_for(severity, bool(request.get("key_broadcast")))

        def state_delivery(conn) -> None:
            if url:
                did = delivery_id(job["id"], f"state:{state}")
                self.store.add_delivery(
                    conn,
                    did,
                    job["id"],
                    "job.state",
                    url,
                    payloads.state_event(did, job, state, action=action, severity=severity, error=error),
                )

        done = self.store.finish_job(
            job["id"],
            self.owner,
            state,
            action=action,
            severity=severity,
            error=error,
            artifacts=artifacts or [],
            expires_at=expires,
            progress=progress,
            state_delivery=state_delivery,
        )
        if not done:
            log.warning(
                "job %s was taken over before it finished here; its result is not stored twice", job["id"]
            )
            return
        log.info("job finished", extra={"job_id": job["id"], "state": state})
        if job["upload"] and state in ("succeeded", "cancelled", "failed"):
            shutil.rmtree(upload_dir(self.config.data_dir, job["id"]), ignore_errors=True)
        if url:
            self.on_delivery()

    def _release(self, job: dict[str, Any], entry: _Running) -> None:
        """Put an interrupted job back in the queue for whoever comes next (shutdown), or leave it (lost)."""
        if entry.reason == "shutdown":
            with self.store.db.transaction() as conn:
                conn.execute(
                    "UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL, "
                    "attempts = attempts - 1 WHERE id = ? AND owner = ? AND state = 'running'",
                    (job["id"], self.owner),
                )
            log.info("job put back in the queue at shutdown", extra={"job_id": job["id"]})
