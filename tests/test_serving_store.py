"""The service's store on SQLite and on a real PostgreSQL server, signing, backoff."""

from __future__ import annotations

import random
import threading
import time

import pytest
from serving_support import PostgresServer

from liveinspect.schema import Evidence, Finding, FindingKind, Modality, Severity, TextSpan
from liveinspect.serving.callbacks import backoff_delay
from liveinspect.serving.service import open_store
from liveinspect.serving.signing import SignatureError, signature_headers, verify_signature
from liveinspect.serving.store import delivery_id, finding_key


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    with PostgresServer(tmp_path_factory.mktemp("pg")) as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    url = None
    if request.param == "postgresql":
        server = request.getfixturevalue("postgres")
        url = server.url
    store = open_store(tmp_path, url)
    if url:  # one database for the module: start each test from empty tables
        with store.db.connection() as conn:
            conn.execute(
                "TRUNCATE api_keys, jobs, findings, deliveries, delivery_attempts, artifacts CASCADE"
            )
    yield store
    store.db.close()


def finding(
    text: str = "全网第一",
    start: int = 0,
    end: int = 4,
    t: float | None = 3.0,
    severity: Severity = Severity.medium,
) -> Finding:
    return Finding(
        kind=FindingKind.absolute_term,
        modality=Modality.speech,
        t_start=t,
        t_end=t,
        evidence=Evidence(text=TextSpan(text=text, start=start, end=end)),
        score=0.9,
        model="lexicon",
        model_version="1",
        severity=severity,
    )


def body(did, f, seq):
    return f"{did}:{seq}".encode()


def test_keys_are_stored_hashed(store):
    new = store.add_key("platform")
    assert store.find_key(new.key).name == "platform"
    assert store.find_key(new.key + "x") is None
    with store.db.connection() as conn:
        row = conn.one("SELECT * FROM api_keys")
    assert new.key not in " ".join(str(v) for v in row.values())
    assert store.revoke_key("platform") == 1 and store.find_key(new.key) is None


def test_claims_split_jobs_and_expired_leases_are_taken_over(store):
    key = store.add_key("k")
    first = store.create_job(key.id, {"source": "a"})
    second = store.create_job(key.id, {"source": "b"})
    a = store.claim_job("A", lease_s=0.3)
    b = store.claim_job("B", lease_s=30)
    assert {a["id"], b["id"]} == {first, second} and a["id"] == first  # oldest first
    assert store.claim_job("C", lease_s=30) is None
    assert store.renew_lease(first, "A", 0.3) == (True, False)
    time.sleep(0.5)  # A stops renewing: it died
    c = store.claim_job("C", lease_s=30)
    assert c["id"] == first and c["attempts"] == 2
    assert store.renew_lease(first, "A", 30) == (False, False)
    assert not store.finish_job(first, "A", "succeeded")  # the old owner cannot finish it any more
    assert store.finish_job(first, "C", "succeeded", severity="medium", expires_at=time.time() + 60)
    assert store.job(first)["state"] == "succeeded"


def test_many_threads_claim_each_job_once(store):
    key = store.add_key("k")
    jobs = {store.create_job(key.id, {"source": str(n)}) for n in range(24)}
    claimed: list[str] = []
    lock = threading.Lock()

    def worker(name: str) -> None:
        while (job := store.claim_job(name, lease_s=60)) is not None:
            with lock:
                claimed.append(job["id"])

    threads = [threading.Thread(target=worker, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(claimed) == sorted(jobs)


def test_findings_are_stored_once_and_called_back_once(store):
    key = store.add_key("k")
    job = store.create_job(key.id, {"source": "a"})
    found = [finding(), finding("加微信 abc", 0, 3, t=9.0, severity=Severity.low)]
    new = store.add_findings(
        job, found, callback_url="http://127.0.0.1:1/h", min_severity=Severity.medium, event_body=body
    )
    assert new == found
    # The same findings again (a re-run after a crash), with scores moved a little: nothing new.
    again = [f.model_copy(update={"score": 0.8999}) for f in found]
    assert (
        store.add_findings(
            job, again, callback_url="http://127.0.0.1:1/h", min_severity=Severity.medium, event_body=body
        )
        == []
    )
    assert len(store.findings(job)) == 2
    deliveries = store.deliveries(job)
    assert [d["id"] for d in deliveries] == [delivery_id(job, f"finding:{finding_key(found[0])}")]
    assert finding_key(found[0]) != finding_key(finding(t=4.0))


def test_deliveries_retry_then_deliver_with_every_attempt_recorded(store):
    key = store.add_key("k")
    job = store.create_job(key.id, {"source": "a"})
    with store.db.transaction() as conn:
        store.add_delivery(conn, "dlv_x", job, "job.state", "http://127.0.0.1:1/h", b"{}")
        store.add_delivery(conn, "dlv_x", job, "job.state", "http://127.0.0.1:1/h", b"{}")  # same id: no-op
    for status in (500, 502):
        (due,) = store.claim_deliveries("A", lease_s=30)
        assert store.claim_deliveries("B", lease_s=30) == []  # leased to A
        store.record_attempt(
            due["id"],
            "A",
            status=status,
            error=f"HTTP {status}",
            seconds=0.01,
            delivered=False,
            retry_at=time.time(),
        )
    (due,) = store.claim_deliveries("B", lease_s=30)
    store.record_attempt(due["id"], "B", status=200, error=None, seconds=0.01, delivered=True, retry_at=None)
    (row,) = store.deliveries(job)
    assert row["state"] == "delivered" and row["attempts"] == 3
    assert [a["status"] for a in row["attempt_log"]] == [500, 502, 200]
    assert store.claim_deliveries("C", lease_s=30) == []


def test_sweeper_deletes_expired_jobs_with_everything_they_own(store):
    key = store.add_key("k")
    old, kept = store.create_job(key.id, {"source": "a"}), store.create_job(key.id, {"source": "b"})
    for job, expires in ((old, time.time() - 1), (kept, time.time() + 3600)):
        store.claim_job("A", 30)
        store.add_findings(
            job, [finding()], callback_url="http://127.0.0.1:1/h", min_severity=Severity.low, event_body=body
        )
        assert store.finish_job(
            job, "A", "succeeded", artifacts=[("report.json", "application/json", b"{}")], expires_at=expires
        )
    assert [row["id"] for row in store.sweep()] == [old]
    assert store.job(old) is None and store.findings(old) == [] and store.artifact(old, "report.json") is None
    assert store.deliveries(old) == []
    assert store.job(kept) is not None and store.artifact(kept, "report.json") == ("application/json", b"{}")


def test_cancelling_a_queued_job_is_immediate(store):
    key = store.add_key("k")
    job = store.create_job(key.id, {"source": "a"})
    assert store.request_cancel(job, "another-key", time.time()) is None
    assert store.request_cancel(job, key.id, time.time() + 60) == "cancelled"
    assert store.claim_job("A", 30) is None


def test_signatures_verify_and_refuse_tampering_and_replays():
    secret, payload = "whsec_test", b'{"event":"job.state"}'
    headers = signature_headers(secret, "dlv_1", payload)
    assert verify_signature(payload, headers, secret) == "dlv_1"
    assert verify_signature(payload, {k.lower(): v for k, v in headers.items()}, secret) == "dlv_1"
    for bad_body, bad_secret, now, words in (
        (payload + b" ", secret, None, "does not match"),
        (payload, "whsec_other", None, "does not match"),
        (payload, secret, time.time() + 3600, "replay window"),
    ):
        with pytest.raises(SignatureError, match=words):
            verify_signature(bad_body, headers, bad_secret, now=now)
    with pytest.raises(SignatureError, match="missing"):
        verify_signature(payload, {"X-Liveinspect-Delivery": "dlv_1"}, secret)
    rotated = {**headers, "X-Liveinspect-Signature": "v1=00ff," + headers["X-Liveinspect-Signature"]}
    assert verify_signature(payload, rotated, secret) == "dlv_1"


def test_backoff_grows_exponentially_with_jitter():
    rng = random.Random(1)
    delays = [backoff_delay(n, 2.0, 60.0, rng) for n in range(1, 8)]
    for n, delay in enumerate(delays, start=1):
        cap = min(60.0, 2.0 * 2 ** (n - 1))
        assert cap / 2 <= delay <= cap
    assert len({round(d, 6) for d in delays}) == len(delays)
