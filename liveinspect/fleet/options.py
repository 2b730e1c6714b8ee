"""How a fleet run is set up: which analyzers, how media is read, how many of each worker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from liveinspect.pipelines.orchestrator import ScanOptions


@dataclass(frozen=True)
class StagePlan:
    """One model stage on Ray: an actor pool running one analyzer's batched `forward`."""

    # Actors in the pool; (min, max) lets Ray Data grow the pool while work queues up.
    actors: int | tuple[int, int] = 1
    # CPUs each actor reserves; Ray also sets the actor's thread count (OMP_NUM_THREADS) from it.
    # None: 1, or less on a cluster too small to hold every pool and a decode task at once (a
    # 2-CPU laptop), so that no stage waits forever for CPUs the others hold.
    num_cpus: float | None = None
    # GPUs each actor reserves: 1 for Whisper-sized models, a fraction for small ones so several
    # actors share a card; None means "one if the cluster has GPUs, else 0".
    num_gpus: float | None = None
    # Segments handed to an actor per call; their items are then run in the analyzer's own batch size.
    segments_per_batch: int = 2


# Fractions of a GPU per actor when the cluster has GPUs and the user said nothing: Whisper
# fills a card's compute; the frame models (OCR, QR, faces) are small and share one four ways.
DEFAULT_GPU_SHARE = {"speech": 1.0, "voice": 0.25, "frames": 0.25}


@dataclass(frozen=True)
class FleetOptions:
    """What every engine needs: the same analyzers, settings, policy and scan options as `scan`."""

    analyzers: list[str] | None = None  # None: all; [] : only title, profile, products and cover
    settings: Mapping[str, Any] = field(default_factory=dict)  # component name -> its options
    policy_dir: str | None = None
    scan: ScanOptions = field(default_factory=lambda: ScanOptions(progress=False))
    progress: bool = True  # one bar over the manifest's rows
    # local engine: broadcasts scanned at once on the one inspector (their items share batches)
    max_streams: int = 2
    # Ray engine
    address: str | None = None  # "auto", "ray://head:10001", or None for a local Ray started here
    num_cpus: int | None = None  # CPUs of a local Ray started here (None: all)
    decode_cpus: float | None = None  # CPUs per decode task (None: as for the pools' num_cpus)
    stages: Mapping[str, StagePlan] = field(default_factory=dict)  # analyzer name -> its pool
    default_stage: StagePlan = StagePlan()  # the pool of an analyzer `stages` does not name

    def stage(self, name: str) -> StagePlan:
        return self.stages.get(name) or self.default_stage
