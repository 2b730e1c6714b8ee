"""The durable state of the service: API keys, jobs, findings, callback deliveries, report files.

Every write that must not be half done is one transaction: a new finding and
the callback it causes are stored together, so a crash between them cannot
lose the callback. Findings carry a key derived from what was found, unique
per job, so a job re-run after a crash stores each finding once; deliveries
carry ids derived from what they announce, so a re-run does not announce a
state or a finding twice.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liveinspect.schema import Finding, Severity
from liveinspect.serving.db import Connection, Database

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
FINISHED_STATES = ("succeeded", "failed", "cancelled")

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS api_keys (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, key_hash TEXT NOT NULL UNIQUE, prefix TEXT NOT NULL,
        webhook_secret TEXT NOT NULL, created_at {float} NOT NULL, revoked_at {float})""",
    """CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY, key_id TEXT NOT NULL, state TEXT NOT NULL, request TEXT NOT NULL,
        upload TEXT, created_at {float} NOT NULL, updated_at {float} NOT NULL, started_at {float},
        finished_at {float}, attempts INTEGER NOT NULL DEFAULT 0, owner TEXT, lease_until {float},
        cancel_requested INTEGER NOT NULL DEFAULT 0, progress TEXT, action TEXT, severity TEXT,
        error TEXT, has_report INTEGER NOT NULL DEFAULT 0, expires_at {float})""",
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, created_at)",
    "CREATE INDEX IF NOT EXISTS jobs_by_expiry ON jobs (expires_at)",
    """CREATE TABLE IF NOT EXISTS findings (
        id {autoid}, job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        fkey TEXT NOT NULL, severity TEXT NOT NULL, body TEXT NOT NULL, created_at {float} NOT NULL,
        UNIQUE (job_id, fkey))""",
    """CREATE TABLE IF NOT EXISTS deliveries (
        id TEXT PRIMARY KEY, job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        event TEXT NOT NULL, url TEXT NOT NULL, body {blob} NOT NULL, state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_at {float} NOT NULL, owner TEXT, lease_until {float},
        created_at {float} NOT NULL, delivered_at {float}, last_error TEXT)""",
    "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (state, next_at)",
    "CREATE INDEX IF NOT EXISTS deliveries_by_job ON deliveries (job_id)",
    """CREATE TABLE IF NOT EXISTS delivery_attempts (
        delivery_id TEXT NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE, number INTEGER NOT NULL,
        at {float} NOT NULL, status INTEGER, error TEXT, seconds {float} NOT NULL,
        PRIMARY KEY (delivery_id, number))""",
    """CREATE TABLE IF NOT EXISTS artifacts (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE, name TEXT NOT NULL,
        media_type TEXT NOT NULL, data {blob} NOT NULL, PRIMARY KEY (job_id, name))""",
]


def hash_key(key: str) -> str:
    # API keys are 32 random bytes, so a plain digest cannot be brute-forced; a slow password
    # hash would only slow down every request.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def finding_key(finding: Finding) -> str:
    """What makes a finding the same finding when a job is run again: what, where and when.

    Scores are left out (a batch of another size can move them in the last
    digits); times are rounded to 0.1 s for the same reason.
    """
    evidence = finding.evidence
    identity = {
        "kind": finding.kind.value,
        "modality": finding.modality.value,
        "t": [None if t is None else round(t, 1) for t in (finding.t_start, finding.t_end)],
        "text": [evidence.text.text, evidence.text.start, evidence.text.end] if evidence.text else None,
        "frame": evidence.frame_index,
        "payload": evidence.payload,
        "term": evidence.matched_term,
        "category": evidence.category,
        "model": finding.model,
    }
    canonical = json.dumps(identity, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def delivery_id(job_id: str, what: str) -> str:
    """Stable id of the callback that announces `what` ("state:running", "finding:<key>") for a job."""
    return "dlv_" + hashlib.sha256(f"{job_id}|{what}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    webhook_secret: str


@dataclass(frozen=True)
class NewKey:
    id: str
    name: str
    key: str
    webhook_secret: str


class Store:
    def __init__(self, database: Database) -> None:
        self.db = database
        database.create_schema(SCHEMA)

    # -- API keys --------------------------------------------------------------------

    def add_key(self, name: str) -> NewKey:
        key = "lik_" + secrets.token_urlsafe(32)
        secret = "whsec_" + secrets.token_urlsafe(32)
        key_id = "key_" + uuid.uuid4().hex[:16]
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO api_keys (id, name, key_hash, prefix, webhook_secret, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (key_id, name, hash_key(key), key[:8], secret, time.time()),
            )
        return NewKey(key_id, name, key, secret)

    def find_key(self, key: str) -> ApiKey | None:
        with self.db.connection() as conn:
            row = conn.one(
                "SELECT id, name, webhook_secret FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
                (hash_key(key),),
            )
        return ApiKey(row["id"], row["name"], row["webhook_secret"]) if row else None

    def list_keys(self) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            return conn.all(
                "SELECT id, name, prefix, created_at, revoked_at FROM api_keys ORDER BY created_at"
            )

    def revoke_key(self, name_or_id: str) -> int:
        with self.db.transaction() as conn:
            return conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE (id = ? OR name = ?) AND revoked_at IS NULL",
                (time.time(), name_or_id, name_or_id),
            ).rowcount

    def secret_of_job(self, job_id: str) -> str | None:
        with self.db.connection() as conn:
            return conn.scalar(
                "SELECT k.webhook_secret FROM jobs j JOIN api_keys k ON k.id = j.key_id WHERE j.id = ?",
                (job_id,),
            )

    # -- jobs ------------------------------------------------------------------------

    def create_job(
        self, key_id: str, request: dict[str, Any], upload: str | None = None, job_id: str | None = None
    ) -> str:
        job_id = job_id or new_job_id()
        now = time.time()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO jobs (id, key_id, state, request, upload, created_at, updated_at, "
                "progress) VALUES (?, ?, 'queued', ?, ?, ?, ?, ?)",
                (
                    job_id,
                    key_id,
                    json.dumps(request, ensure_ascii=False),
                    upload,
                    now,
                    now,
                    json.dumps({"media_seconds": 0.0}),
                ),
            )
        return job_id

    def job(self, job_id: str, key_id: str | None = None) -> dict[str, Any] | None:
        sql = "SELECT * FROM jobs WHERE id = ?" + (" AND key_id = ?" if key_id else "")
        with self.db.connection() as conn:
            row = conn.one(sql, (job_id, key_id) if key_id else (job_id,))
        return _decode_job(row) if row else None

    def count_jobs(self, state: str) -> int:
        with self.db.connection() as conn:
            return int(conn.scalar("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,)) or 0)

    def jobs_by_state(self) -> dict[str, int]:
        with self.db.connection() as conn:
            rows = conn.all("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state")
        counts = dict.fromkeys(JOB_STATES, 0)
        counts.update({row["state"]: int(row["n"]) for row in rows})
        return counts

    def claim_job(self, owner: str, lease_s: float) -> dict[str, Any] | None:
        """Take the oldest queued job, or a running one whose owner stopped renewing its lease."""
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.one(
                "UPDATE jobs SET state = 'running', owner = ?, lease_until = ?, attempts = attempts + 1, "
                "updated_at = ?, started_at = COALESCE(started_at, ?) WHERE id = ("
                "SELECT id FROM jobs WHERE state = 'queued' OR (state = 'running' AND lease_until < ?) "
                f"ORDER BY created_at LIMIT 1{conn.skip_locked}) RETURNING *",
                (owner, now + lease_s, now, now, now),
            )
        return _decode_job(row) if row else None

    def renew_lease(self, job_id: str, owner: str, lease_s: float) -> tuple[bool, bool]:
        """Extend a running job's lease: (still ours, cancel requested)."""
        with self.db.transaction() as conn:
            row = conn.one(
                "UPDATE jobs SET lease_until = ? WHERE id = ? AND owner = ? AND state = 'running' "
                "RETURNING cancel_requested",
                (time.time() + lease_s, job_id, owner),
            )
        return (row is not None, bool(row and row["cancel_requested"]))

    def set_progress(self, job_id: str, owner: str, progress: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE jobs SET progress = ?, updated_at = ? WHERE id = ? AND owner = ? "
                "AND state = 'running'",
                (json.dumps(progress), time.time(), job_id, owner),
            )

    def add_findings(
        self,
        job_id: str,
        findings: Sequence[Finding],
        *,
        callback_url: str | None,
        min_severity: Severity,
        event_body: Any,
    ) -> list[Finding]:
        """Store the findings this job does not have yet; return those that were new.

        Each new finding at or above `min_severity` gets its callback delivery
        in the same transaction. `event_body(finding)` makes the delivery's JSON.
        """
        new: list[Finding] = []
        now = time.time()
        with self.db.transaction() as conn:
            for finding in findings:
                key = finding_key(finding)
                inserted = conn.one(
                    "INSERT INTO findings (job_id, fkey, severity, body, created_at) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (job_id, fkey) DO NOTHING RETURNING id",
                    (job_id, key, finding.severity.value, finding.model_dump_json(), now),
                )
                if inserted is None:
                    continue
                new.append(finding)
                if callback_url and finding.severity.rank >= min_severity.rank:
                    did = delivery_id(job_id, f"finding:{key}")
                    self._add_delivery(
                        conn,
                        did,
                        job_id,
                        "job.finding",
                        callback_url,
                        event_body(did, finding, inserted["id"]),
                        now,
                    )
        return new

    def findings(self, job_id: str, after_id: int = 0, limit: int | None = None) -> list[tuple[int, dict]]:
        sql = "SELECT id, body FROM findings WHERE job_id = ? AND id > ? ORDER BY id"
        if limit:
            sql += f" LIMIT {int(limit)}"
        with self.db.connection() as conn:
            rows = conn.all(sql, (job_id, after_id))
        return [(int(row["id"]), json.loads(row["body"])) for row in rows]

    def finish_job(
        self,
        job_id: str,
        owner: str,
        state: str,
        *,
        action: str | None = None,
        severity: str | None = None,
        error: str | None = None,
        artifacts: Iterable[tuple[str, str, bytes]] = (),
        expires_at: float | None = None,
        progress: dict[str, Any] | None = None,
        state_delivery: Any = None,
    ) -> bool:
        """Record a job's end (and its report files) if this process still owns it."""
        assert state in FINISHED_STATES
        now = time.time()
        with self.db.transaction() as conn:
            updated = conn.execute(
                "UPDATE jobs SET state = ?, action = ?, severity = ?, error = ?, finished_at = ?, "
                "updated_at = ?, expires_at = ?, lease_until = NULL, progress = COALESCE(?, progress) "
                "WHERE id = ? AND owner = ? AND state = 'running'",
                (
                    state,
                    action,
                    severity,
                    error,
                    now,
                    now,
                    expires_at,
                    json.dumps(progress) if progress is not None else None,
                    job_id,
                    owner,
                ),
            ).rowcount
            if not updated:
                return False
            stored = 0
            for name, media_type, data in artifacts:
                conn.execute(
                    "INSERT INTO artifacts (job_id, name, media_type, data) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (job_id, name) DO NOTHING",
                    (job_id, name, media_type, data),
                )
                stored += 1
            if stored:
                conn.execute("UPDATE jobs SET has_report = 1 WHERE id = ?", (job_id,))
            if state_delivery is not None:
                state_delivery(conn)
        return True

    def fail_unclaimable(self, job_id: str, owner: str, error: str) -> bool:
        return self.finish_job(job_id, owner, "failed", error=error)

    def request_cancel(
        self, job_id: str, key_id: str, expires_at: float, state_delivery: Any = None
    ) -> str | None:
        """Cancel a queued job at once; ask the owner of a running one to stop. Returns the state."""
        now = time.time()
        with self.db.transaction() as conn:
            row = conn.one("SELECT state FROM jobs WHERE id = ? AND key_id = ?", (job_id, key_id))
            if row is None:
                return None
            if row["state"] == "queued":
                conn.execute(
                    "UPDATE jobs SET state = 'cancelled', finished_at = ?, updated_at = ?, "
                    "expires_at = ?, cancel_requested = 1 WHERE id = ?",
                    (now, now, expires_at, job_id),
                )
                if state_delivery is not None:
                    state_delivery(conn)
                return "cancelled"
            if row["state"] == "running":
                conn.execute(
                    "UPDATE jobs SET cancel_requested = 1, updated_at = ? WHERE id = ?", (now, job_id)
                )
            return row["state"]

    def artifact(self, job_id: str, name: str) -> tuple[str, bytes] | None:
        with self.db.connection() as conn:
            row = conn.one(
                "SELECT media_type, data FROM artifacts WHERE job_id = ? AND name = ?", (job_id, name)
            )
        return (row["media_type"], bytes(row["data"])) if row else None

    # -- callback deliveries --------------------------------------------------------------

    def add_delivery(
        self, conn: Connection, did: str, job_id: str, event: str, url: str, body: bytes
    ) -> None:
        self._add_delivery(conn, did, job_id, event, url, body, time.time())

    @staticmethod
    def _add_delivery(
        conn: Connection, did: str, job_id: str, event: str, url: str, body: bytes, now: float
    ) -> None:
        conn.execute(
            "INSERT INTO deliveries (id, job_id, event, url, body, state, next_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'pending', ?, ?) ON CONFLICT (id) DO NOTHING",
            (did, job_id, event, url, body, now, now),
        )

    def claim_deliveries(self, owner: str, lease_s: float, limit: int = 8) -> list[dict[str, Any]]:
        now = time.time()
        with self.db.transaction() as conn:
            return conn.all(
                "UPDATE deliveries SET owner = ?, lease_until = ? WHERE id IN ("
                "SELECT id FROM deliveries WHERE state = 'pending' AND next_at <= ? "
                f"AND (lease_until IS NULL OR lease_until < ?) ORDER BY next_at LIMIT {int(limit)}"
                f"{conn.skip_locked}) RETURNING id, job_id, event, url, body, attempts",
                (owner, now + lease_s, now, now),
            )

    def record_attempt(
        self,
        did: str,
        owner: str,
        *,
        status: int | None,
        error: str | None,
        seconds: float,
        delivered: bool,
        retry_at: float | None,
    ) -> None:
        """One attempt: delivered, retry at `retry_at`, or (retry_at None) given up."""
        now = time.time()
        with self.db.transaction() as conn:
            number = int(conn.scalar("SELECT attempts FROM deliveries WHERE id = ?", (did,)) or 0) + 1
            conn.execute(
                "INSERT INTO delivery_attempts (delivery_id, number, at, status, error, seconds) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id, number) DO NOTHING",
                (did, number, now, status, error, seconds),
            )
            state = "delivered" if delivered else ("pending" if retry_at is not None else "failed")
            conn.execute(
                "UPDATE deliveries SET attempts = ?, state = ?, next_at = ?, lease_until = NULL, "
                "owner = NULL, delivered_at = ?, last_error = ? WHERE id = ? AND owner = ?",
                (
                    number,
                    state,
                    retry_at if retry_at is not None else now,
                    now if delivered else None,
                    error,
                    did,
                    owner,
                ),
            )

    def next_delivery_due(self) -> float | None:
        with self.db.connection() as conn:
            return conn.scalar("SELECT MIN(next_at) FROM deliveries WHERE state = 'pending'")

    def deliveries(self, job_id: str) -> list[dict[str, Any]]:
        with self.db.connection() as conn:
            rows = conn.all(
                "SELECT id, event, url, state, attempts, created_at, delivered_at, last_error, "
                "next_at FROM deliveries WHERE job_id = ? ORDER BY created_at, id",
                (job_id,),
            )
            attempts = conn.all(
                "SELECT a.delivery_id, a.number, a.at, a.status, a.error, a.seconds "
                "FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
                "WHERE d.job_id = ? ORDER BY a.delivery_id, a.number",
                (job_id,),
            )
        by_delivery: dict[str, list[dict[str, Any]]] = {}
        for attempt in attempts:
            by_delivery.setdefault(attempt.pop("delivery_id"), []).append(attempt)
        for row in rows:
            row["attempt_log"] = by_delivery.get(row["id"], [])
            if row["state"] != "pending":
                row["next_at"] = None
        return rows

    # -- retention ------------------------------------------------------------------------

    def sweep(self, now: float | None = None) -> list[dict[str, Any]]:
        """Delete finished jobs past their retention (with everything they own); return them."""
        now = time.time() if now is None else now
        with self.db.transaction() as conn:
            return conn.all(
                "DELETE FROM jobs WHERE expires_at IS NOT NULL AND expires_at < ? "
                "RETURNING id, upload, severity",
                (now,),
            )


def new_job_id() -> str:
    return "job_" + uuid.uuid4().hex


def _decode_job(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["request"] = json.loads(row["request"])
    row["progress"] = json.loads(row["progress"]) if row.get("progress") else {}
    row["cancel_requested"] = bool(row["cancel_requested"])
    row["has_report"] = bool(row["has_report"])
    return row


def upload_dir(data_dir: Path, job_id: str) -> Path:
    return data_dir / "uploads" / job_id
