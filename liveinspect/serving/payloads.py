"""The JSON the service sends: job views, callback bodies and event-stream messages.

Findings are the toolkit's report schema unchanged (`Finding.model_dump`);
only the envelope around them is the service's.
"""

from __future__ import annotations

import json
import time
from typing import Any

from liveinspect.schema import Finding


def job_view(job: dict[str, Any], findings: list[dict], deliveries: list[dict]) -> dict[str, Any]:
    request = job["request"]
    view: dict[str, Any] = {
        "id": job["id"],
        "state": job["state"],
        "created_at": job["created_at"],
        "started_at": job["started_at"],
        "finished_at": job["finished_at"],
        "source": request.get("source"),
        "progress": job["progress"],
        "findings": findings,
        "action": job["action"],
        "severity": job["severity"],
        "attempts": job["attempts"],
        "cancel_requested": job["cancel_requested"],
        "expires_at": job["expires_at"],
        "deliveries": [delivery_view(d) for d in deliveries],
    }
    if job["has_report"]:
        view["report_url"] = f"/v1/jobs/{job['id']}/report"
        view["report_html_url"] = f"/v1/jobs/{job['id']}/report.html"
    if job["error"]:
        view["error"] = job["error"]
    return view


def delivery_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "event": row["event"],
        "state": row["state"],
        "attempts": row["attempts"],
        "created_at": row["created_at"],
        "delivered_at": row["delivered_at"],
        "next_attempt_at": row["next_at"],
        "last_error": row["last_error"],
        "attempt_log": [
            {
                "number": a["number"],
                "at": a["at"],
                "status": a["status"],
                "error": a["error"],
                "seconds": round(float(a["seconds"]), 4),
            }
            for a in row["attempt_log"]
        ],
    }


def _encode(body: dict[str, Any]) -> bytes:
    # Sorted keys and no spaces: the bytes are signed, and a stored body is resent byte for byte.
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def finding_event(delivery_id: str, job_id: str, finding: Finding, sequence: int) -> bytes:
    return _encode(
        {
            "delivery_id": delivery_id,
            "event": "job.finding",
            "created_at": time.time(),
            "job": {"id": job_id},
            "sequence": sequence,
            "finding": finding.model_dump(mode="json"),
        }
    )


def state_event(
    delivery_id: str,
    job: dict[str, Any],
    state: str,
    *,
    action: str | None = None,
    severity: str | None = None,
    error: str | None = None,
) -> bytes:
    body: dict[str, Any] = {
        "delivery_id": delivery_id,
        "event": "job.state",
        "created_at": time.time(),
        "job": {"id": job["id"], "state": state, "action": action, "severity": severity},
    }
    if error:
        body["job"]["error"] = error
    if state == "succeeded" or state == "cancelled":
        body["job"]["report_url"] = f"/v1/jobs/{job['id']}/report"
    return _encode(body)


def sse(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return "\n".join(lines) + "\n\n"
