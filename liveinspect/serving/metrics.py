"""Prometheus metrics of one service process, in a registry of its own.

A registry per service (not the global default) lets tests and embedders run
several services in one process. Queue depth and jobs by state are read when
scraped, so they are never stale.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class _Live:
    """A collector whose values are computed at scrape time."""

    def __init__(self, collect: Callable[[], list[GaugeMetricFamily]]) -> None:
        self._collect = collect

    def collect(self):
        yield from self._collect()


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "liveinspect_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "liveinspect_http_request_seconds",
            "HTTP request latency by route",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "liveinspect_batch_size", "items per model batch", ["model"], buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "liveinspect_batch_seconds",
            "seconds per model batch",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.item_seconds = Histogram(
            "liveinspect_item_latency_seconds",
            "seconds from submitting a synchronous item to its result, by model",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rejected = Counter(
            "liveinspect_rejected_total",
            "requests refused by back-pressure or limits",
            ["reason"],
            registry=r,
        )
        self.deliveries = Counter(
            "liveinspect_callback_attempts_total", "callback attempts by outcome", ["outcome"], registry=r
        )
        self.findings = Counter(
            "liveinspect_findings_total", "findings stored, by severity", ["severity"], registry=r
        )
        self.ready = Gauge("liveinspect_ready", "1 when the models are loaded", registry=r)
        self._queue_depth: Callable[[], dict[str, int]] = dict
        self._jobs: Callable[[], dict[str, int]] = dict
        r.register(_Live(self._live))

    def observe_batch(self, model: str, size: int, seconds: float) -> None:
        """`Inspector(on_batch=...)`: one model batch ran, whoever's items it held."""
        self.batch_size.labels(model).observe(size)
        self.batch_seconds.labels(model).observe(seconds)

    def watch(
        self, *, queue_depth: Callable[[], dict[str, int]], jobs_by_state: Callable[[], dict[str, int]]
    ) -> None:
        self._queue_depth, self._jobs = queue_depth, jobs_by_state

    def _live(self) -> list[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "liveinspect_queue_depth", "items waiting for a model batch", labels=["model"]
        )
        for model, value in self._queue_depth().items():
            depth.add_metric([model], value)
        jobs = GaugeMetricFamily("liveinspect_jobs", "jobs in the database by state", labels=["state"])
        try:
            counts = self._jobs()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the database blinked
            counts = {}
        for state, value in counts.items():
            jobs.add_metric([state], value)
        return [depth, jobs]

    def render(self) -> bytes:
        return generate_latest(self.registry)
