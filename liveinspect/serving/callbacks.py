"""Delivers signed callbacks: at least once, retried with exponential backoff and jitter.

Deliveries are rows in the database (made in the same transaction as what
they announce), so they survive restarts; any process may send any due
delivery, claiming it with a short lease. Every attempt is recorded. A 2xx
answer delivers; anything else (an error status, a timeout, a refused
connection, a redirect: callbacks are not redirected) is retried after
about `backoff * 2**(n-1)` seconds, half of it random so that receivers
coming back after an outage are not hit by every retry at once, until
`callback_max_attempts`. A URL that the network guard refuses (it resolved
to a private address since the job was accepted) is given up at once.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from liveinspect import __version__
from liveinspect.errors import LiveInspectError
from liveinspect.serving.config import ServiceConfig
from liveinspect.serving.metrics import ServiceMetrics
from liveinspect.serving.signing import signature_headers
from liveinspect.serving.store import Store

log = logging.getLogger(__name__)

SENDERS = 4


def backoff_delay(attempt: int, base_s: float, max_s: float, rng: random.Random | None = None) -> float:
    """Seconds before retry number `attempt` (1 = the first retry): exponential, half of it jitter."""
    rng = rng or random
    delay = min(max_s, base_s * 2 ** (attempt - 1))
    return delay / 2 + rng.uniform(0, delay / 2)


class DeliveryWorker:
    def __init__(self, store: Store, config: ServiceConfig, metrics: ServiceMetrics, owner: str) -> None:
        self.store = store
        self.config = config
        self.metrics = metrics
        self.owner = owner
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="callbacks", daemon=True)
        self._pool = ThreadPoolExecutor(max_workers=SENDERS, thread_name_prefix="callback-send")
        self._client = None

    def start(self) -> None:
        import httpx

        # trust_env=False: a proxy configured for the machine must not see (or reroute) callbacks.
        self._client = httpx.Client(
            timeout=self.config.callback_timeout_s,
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": f"liveinspect/{__version__}"},
        )
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        if self._client is not None:
            self._client.close()

    def _loop(self) -> None:
        lease = self.config.callback_timeout_s * 2 + 10
        while not self._stopping.is_set():
            try:
                due = self.store.claim_deliveries(self.owner, lease, limit=SENDERS * 2)
            except Exception:  # noqa: BLE001
                log.exception("claiming callback deliveries failed")
                due = []
            if due:
                for future in [self._pool.submit(self._send, d) for d in due]:
                    future.result()
                continue
            try:
                next_at = self.store.next_delivery_due()
            except Exception:  # noqa: BLE001
                next_at = None
            wait = 1.0 if next_at is None else min(1.0, max(0.02, next_at - time.time()))
            self._wake.wait(wait)
            self._wake.clear()

    def _send(self, delivery: dict[str, Any]) -> None:
        from liveinspect.media.netguard import check_source_url

        did, url, body = delivery["id"], delivery["url"], bytes(delivery["body"])
        attempt = int(delivery["attempts"]) + 1
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        permanent = False
        try:
            check_source_url(url, allow_private=self.config.allow_private_urls, schemes=("http", "https"))
            secret = self.store.secret_of_job(delivery["job_id"])
            if secret is None:
                raise LiveInspectError("the API key that submitted the job was removed")
            headers = {"Content-Type": "application/json", **signature_headers(secret, did, body)}
            response = self._client.post(url, content=body, headers=headers)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"receiver answered HTTP {status}"
        except LiveInspectError as problem:
            error, permanent = str(problem), True
        except Exception as problem:  # noqa: BLE001 - httpx errors, and anything else, are one failed try
            error = f"{type(problem).__name__}: {problem}"
        seconds = time.perf_counter() - started
        delivered = error is None
        retry_at = None
        if not delivered and not permanent and attempt < self.config.callback_max_attempts:
            retry_at = time.time() + backoff_delay(
                attempt, self.config.callback_backoff_s, self.config.callback_backoff_max_s
            )
        outcome = "delivered" if delivered else ("retry" if retry_at else "given_up")
        self.metrics.deliveries.labels(outcome).inc()
        log.info(
            "callback attempt",
            extra={
                "delivery_id": did,
                "job_id": delivery["job_id"],
                "attempt": attempt,
                "status": status,
                "outcome": outcome,
                "error": error,
            },
        )
        try:
            self.store.record_attempt(
                did,
                self.owner,
                status=status,
                error=error,
                seconds=seconds,
                delivered=delivered,
                retry_at=retry_at,
            )
        except Exception:  # noqa: BLE001 - the lease runs out and the delivery is tried again
            log.exception("recording a callback attempt failed")
