"""What a service process is configured with; one frozen dataclass, one reason per field.

The CLI (`liveinspect serve`) builds it from flags; tests and embedders build
it directly. Limits are per process: several processes on one database each
enforce their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liveinspect.errors import LiveInspectError
from liveinspect.schema import Severity

# Days a finished job (its findings, report, thumbnails) is kept, by the highest severity it found.
# Article 9 asks for records; Article 14 for longer storage of key broadcasts, so the graver the
# findings the longer the evidence is kept, and a job marked `key_broadcast` gets the longest term.
DEFAULT_RETENTION_DAYS: dict[str, float] = {
    "none": 30,
    Severity.info.value: 30,
    Severity.low.value: 90,
    Severity.medium.value: 180,
    Severity.high.value: 3 * 365,
    Severity.critical.value: 3 * 365,
    "key_broadcast": 3 * 365,
}

MiB = 1024 * 1024


@dataclass(frozen=True)
class ServiceConfig:
    data_dir: Path  # SQLite database (unless `database`), uploads, temporary report folders
    database: str | None = None  # postgresql://... to share jobs between processes; None: SQLite in data_dir
    job_workers: int = 2  # jobs this process scans at once (threads sharing the one inspector)
    allow_private_urls: bool = False  # fetch from loopback/private networks (own media servers, tests)
    analyzers: tuple[str, ...] | None = None  # None: every analyzer the registry knows
    # Options per component ("text", "speech", "frames.ocr", ...): option objects, or JSON-style
    # dicts of some of their fields (see serving/settings.py); resolved to objects on construction.
    settings: Mapping[str, Any] = field(default_factory=dict)
    # Component -> the weights its user named ("--whisper base.pt"): those must load, or the
    # service does not start (a typo is an error, not a quietly skipped analyzer).
    requested_weights: Mapping[str, str] = field(default_factory=dict)
    window_s: float = 5.0  # seconds per segment: short, so live findings arrive within seconds
    fps: float = 1.0  # frames sampled per second of video
    max_batch_size: int | None = None  # caps every model's batch (1 = no batching, for benchmarks)
    max_wait_s: float = 0.02  # how long a batch waits for more items: the batching latency bound
    # -- uploads and inputs
    max_upload_bytes: int = 512 * MiB  # a media file sent to POST /v1/jobs
    max_image_bytes: int = 20 * MiB  # POST /v1/image
    max_audio_bytes: int = 20 * MiB  # POST /v1/audio
    max_json_bytes: int = 1 * MiB  # any JSON body
    max_image_pixels: int = 40_000_000  # refuses decompression bombs before decoding pixels
    max_audio_seconds: float = 60.0  # POST /v1/audio is synchronous, so it is short
    max_text_items: int = 256  # items in one POST /v1/text
    max_text_chars: int = 20_000  # characters in one text item
    max_job_duration_s: float = 4 * 3600.0  # a job's max_duration may not exceed this
    # -- back-pressure
    max_pending_items: int = 256  # synchronous items waiting for a model; more answer 429
    max_queued_jobs: int = 1000  # queued jobs in the database; more answer 429
    sync_timeout_s: float = 60.0  # a synchronous request waits no longer for its model (503 then)
    rate_limit_per_s: float = 50.0  # per API key, token bucket; 0 turns rate limiting off
    rate_burst: int = 100
    # -- durability
    lease_s: float = 30.0  # a running job whose process stops renewing this is taken over
    max_job_attempts: int = 3  # runs of one job (restarts included) before it is failed
    # -- callbacks
    callback_timeout_s: float = 5.0  # receivers answer within this (vendors use 3-5 s)
    callback_max_attempts: int = 8
    callback_backoff_s: float = 2.0  # first retry after about this; doubles each time, with jitter
    callback_backoff_max_s: float = 600.0
    # -- retention
    retention_days: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_RETENTION_DAYS))
    sweep_interval_s: float = 600.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        if self.job_workers < 0:
            raise LiveInspectError(f"job_workers must be >= 0, got {self.job_workers}")
        if self.window_s <= 0 or self.fps <= 0:
            raise LiveInspectError("window_s and fps must be > 0")
        if self.max_batch_size is not None and self.max_batch_size < 1:
            raise LiveInspectError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.database and not self.database.startswith(("postgresql://", "postgres://")):
            raise LiveInspectError(
                f"--database must be a postgresql:// URL, got {self.database!r}; "
                "leave it out to use SQLite in the data folder"
            )
        if self.settings:
            from liveinspect.serving.settings import resolve_settings

            object.__setattr__(self, "settings", resolve_settings(self.settings))
        # A partial table overrides the defaults class by class.
        object.__setattr__(self, "retention_days", {**DEFAULT_RETENTION_DAYS, **self.retention_days})
        unknown = set(self.retention_days) - set(DEFAULT_RETENTION_DAYS)
        if unknown:
            raise LiveInspectError(
                f"unknown retention classes {sorted(unknown)}; known: {', '.join(DEFAULT_RETENTION_DAYS)}"
            )

    def retention_for(self, severity: str | None, key_broadcast: bool = False) -> float:
        """Seconds to keep a finished job."""
        days = self.retention_days.get(severity or "none", self.retention_days["none"])
        if key_broadcast:
            days = max(days, self.retention_days["key_broadcast"])
        return days * 86400.0
