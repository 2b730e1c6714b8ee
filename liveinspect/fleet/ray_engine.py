"""The Ray engine: Ray Data decodes in CPU tasks, each analyzer's model runs in an actor pool.

    manifest rows ── from_items (one block per broadcast)
       └─ flat_map(decode)            CPU tasks: cover, segments (+ shared products such as VAD), end row
          └─ map_batches(speech)      actor pool; GPU actors where the cluster has GPUs
             └─ map_batches(frames)   actor pool; a fraction of a GPU each, or CPU actors
                └─ this process       reports assembled in broadcast order (replay.py), written

Rows keep their order (`preserve_order`), so a broadcast's rows arrive
together and its report is assembled as soon as its end row arrives, while
the cluster goes on with later broadcasts. Assembly runs the orchestrator's
own postprocess, text check and grading (`replay.py`), which is why results
equal the local engine's. A row whose decode fails ends as a failed row; the
pipeline itself failing (a worker lost for good) fails the rows not yet
written, and a rerun retries exactly those.
"""

from __future__ import annotations

import itertools
import math
import logging
import time
from collections.abc import Sequence
from typing import Any

from liveinspect.errors import LiveInspectError
from liveinspect.fleet.options import DEFAULT_GPU_SHARE, FleetOptions
from liveinspect.fleet.replay import assemble
from liveinspect.fleet.runner import OnRow, PendingRow, RowDone
from liveinspect.fleet.work import WorkRow, decode_broadcast, forward_rows
from liveinspect.pipelines.orchestrator import Inspector
from liveinspect.schema import Broadcast

log = logging.getLogger(__name__)


def _require_ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401 - the engine needs Ray Data, not only Ray core
    except ImportError as error:
        raise LiveInspectError("the Ray engine needs Ray Data: pip install 'liveinspect[ray]' "
                               "(or run with --engine local)") from error
    return ray


def connect(options: FleetOptions) -> Any:
    """Join the cluster at `options.address` ("auto", "ray://head:10001"), or start a local Ray."""
    ray = _require_ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        if options.address:
            kwargs["address"] = options.address
        elif options.num_cpus:
            kwargs["num_cpus"] = options.num_cpus
        try:
            ray.init(**kwargs)
        except ConnectionError as error:
            raise LiveInspectError(f"cannot reach the Ray cluster at {options.address}: {error}; start it "
                                   "with `ray start --head` (or `ray up cluster.yaml`) or drop --address "
                                   "to run a local Ray") from error
    return ray


class _DecodeStep:
    """flat_map function: a manifest row -> its WorkRows (shared products computed once here)."""

    def __init__(self, options: FleetOptions, product_names: Sequence[str]) -> None:
        self.scan = options.scan
        self.settings = dict(options.settings)
        self.product_names = list(product_names)

    def __call__(self, row: dict[str, Any]):
        from liveinspect.pipelines.registry import products

        registered = products()
        chosen = {name: (registered[name].compute, self.settings.get(name) or registered[name].Options())
                  for name in self.product_names if name in registered}
        broadcast = Broadcast.model_validate_json(row["broadcast"])
        for work in decode_broadcast(broadcast, stream_id=row["key"], window_s=self.scan.window_s,
                                     fps=self.scan.fps, max_duration=self.scan.max_duration,
                                     products=chosen, allow_private_urls=self.scan.allow_private_urls):
            yield {"key": row["key"], "work": work}


class ForwardStage:
    """An actor of one model stage: builds its analyzer once, then runs batches of rows through it."""

    def __init__(self, name: str, settings: dict[str, Any], policy_paths: dict[str, str],
                 policy_version: str) -> None:
        from liveinspect.pipelines.registry import build_analyzers
        from liveinspect.policy import load_policy

        policy = load_policy(**policy_paths)
        if policy.version != policy_version:
            raise LiveInspectError(f"policy on this worker is {policy.version}, the driver's is "
                                   f"{policy_version}: the policy files must be the same on every node")
        built, skipped = build_analyzers([name], settings, policy)
        if not built or built[0].unavailable_reason():
            reason = skipped[0].reason if skipped else built[0].unavailable_reason()
            raise LiveInspectError(f"analyzer {name} cannot run on this worker: {reason}")
        self.analyzer = built[0]
        self.analyzer.batch_size  # noqa: B018 - loads the model now, not inside the first batch

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        works: list[WorkRow] = list(batch["work"])
        forward_rows(self.analyzer, works)
        return {"key": batch["key"], "work": works}


def _pool(ray: Any, actors: int | tuple[int, int]) -> Any:
    if isinstance(actors, int):
        return ray.data.ActorPoolStrategy(size=actors)
    return ray.data.ActorPoolStrategy(min_size=actors[0], max_size=actors[1])


def _gpus(plan_gpus: float | None, name: str, cluster_gpus: float) -> float:
    if plan_gpus is not None:
        return plan_gpus
    return DEFAULT_GPU_SHARE.get(name, 0.25) if cluster_gpus > 0 else 0.0


def cpu_shares(inspector: Inspector, options: FleetOptions, cluster_cpus: float) -> dict[str, float]:
    """CPUs reserved per decode task and per actor of each pool. Unset ones are 1, scaled down when
    the pools' actors and one decode task would not fit the cluster together: Ray reserves CPUs
    logically, and a pipeline whose actors hold every CPU starves its own decode tasks."""
    shares: dict[str, float | None] = {"decode": options.decode_cpus}
    actors = 0
    for analyzer in inspector.analyzers:
        plan = options.stage(analyzer.name)
        shares[analyzer.name] = plan.num_cpus
        actors += plan.actors if isinstance(plan.actors, int) else plan.actors[-1]
    unset = [name for name, value in shares.items() if value is None]
    fixed = sum(value * (1 if name == "decode" else _actors(options, name))
                for name, value in shares.items() if value is not None)
    wanted = sum(1 if name == "decode" else _actors(options, name) for name in unset)
    room = max(cluster_cpus - fixed, 0.1)
    # Rounded down: three shares of 0.667 on 2 CPUs would leave the last one unschedulable.
    share = min(1.0, math.floor(room / wanted * 1000) / 1000) if wanted else 1.0
    return {name: value if value is not None else share for name, value in shares.items()}


def _actors(options: FleetOptions, name: str) -> int:
    actors = options.stage(name).actors
    return actors if isinstance(actors, int) else actors[-1]


def build_dataset(inspector: Inspector, rows: Sequence[PendingRow], options: FleetOptions) -> Any:
    """The lazy Ray Data pipeline for `rows` (nothing runs until it is iterated)."""
    ray = _require_ray()
    cpus = cpu_shares(inspector, options, float(ray.cluster_resources().get("CPU", 1)))
    items = [{"key": p.row.id, "broadcast": p.row.broadcast.model_dump_json()} for p in rows]
    needed = sorted({need for analyzer in inspector.analyzers for need in analyzer.needs})
    ds = ray.data.from_items(items, override_num_blocks=max(1, len(items)))
    # An instance, not the class: decoding runs as stateless CPU tasks, one per broadcast.
    ds = ds.flat_map(_DecodeStep(options, needed), num_cpus=cpus["decode"])
    cluster_gpus = float(ray.cluster_resources().get("GPU", 0))
    policy = inspector.policy
    for analyzer in inspector.analyzers:
        plan = options.stage(analyzer.name)
        ds = ds.map_batches(
            ForwardStage,
            fn_constructor_kwargs={"name": analyzer.name, "settings": dict(options.settings),
                                   "policy_paths": {k: str(v) for k, v in policy.paths.items()},
                                   "policy_version": policy.version},
            batch_size=plan.segments_per_batch, batch_format="numpy", compute=_pool(ray, plan.actors),
            num_cpus=cpus[analyzer.name], num_gpus=_gpus(plan.num_gpus, analyzer.name, cluster_gpus))
    return ds


def run_ray(inspector: Inspector, rows: Sequence[PendingRow], on_row: OnRow,
            options: FleetOptions) -> dict[str, dict]:
    """Scan `rows` on Ray; `on_row` gets each row as its report is assembled. Returns per-stage busy
    seconds and utilisation for the benchmark and the summary."""
    ray = connect(options)
    context = ray.data.DataContext.get_current()
    kept_order = context.execution_options.preserve_order
    context.execution_options.preserve_order = True  # a broadcast's rows arrive together, in order
    context.enable_progress_bars = options.progress
    busy: dict[str, float] = {"decode": 0.0, "assemble": 0.0}
    busy.update({analyzer.name: 0.0 for analyzer in inspector.analyzers})
    by_key = {p.row.id: p for p in rows}
    reported: set[str] = set()
    started = time.perf_counter()
    try:
        stream = _Waited(build_dataset(inspector, rows, options).iter_rows())
        for key, group in itertools.groupby(stream, key=lambda r: r["key"]):
            pending = by_key[key]
            works = (_counted(r["work"], busy) for r in group)
            began, waited = time.perf_counter(), stream.waited_s
            try:
                result, scan = assemble(inspector, pending.row.broadcast, f"ray-{key}", works)
            except Exception as error:  # noqa: BLE001 - one row's failure; the manifest goes on
                done = RowDone(pending, None, _reason(error), time.perf_counter() - began)
            else:
                busy["decode"] += scan.decode_s
                if scan.mismatched_items:
                    log.warning("row %s: %d model outputs did not match the items preprocess made",
                                key, scan.mismatched_items)
                done = RowDone(pending, result, "", time.perf_counter() - began)
            # Assembly's own seconds: the time spent waiting for the cluster's next row is not its.
            busy["assemble"] += time.perf_counter() - began - (stream.waited_s - waited)
            reported.add(key)
            on_row(done)
    except Exception as error:  # noqa: BLE001 - the pipeline itself broke: the rows not written fail
        log.error("Ray pipeline failed: %s", error)
        for pending in rows:
            if pending.row.id not in reported:
                on_row(RowDone(pending, None,
                               f"Ray pipeline failed before this row was done: {_reason(error)}"))
    finally:
        context.execution_options.preserve_order = kept_order
    wall = time.perf_counter() - started
    return _utilisation(busy, wall, inspector, options, ray)


class _Waited:
    """An iterator that adds up the seconds its consumer spends waiting for the next item."""

    def __init__(self, rows: Any) -> None:
        self._rows = iter(rows)
        self.waited_s = 0.0

    def __iter__(self) -> "_Waited":
        return self

    def __next__(self) -> Any:
        started = time.perf_counter()
        try:
            return next(self._rows)
        finally:
            self.waited_s += time.perf_counter() - started


def _counted(work: WorkRow, busy: dict[str, float]) -> WorkRow:
    for name, seconds in work.busy_s.items():
        busy[name] = busy.get(name, 0.0) + seconds
    return work


def _utilisation(busy: dict[str, float], wall: float, inspector: Inspector, options: FleetOptions,
                 ray: Any) -> dict[str, dict]:
    """Busy seconds per stage and their share of the stage's workers' wall time."""
    workers = {"decode": 1.0, "assemble": 1.0}  # decode: busy seconds over one task slot's wall time
    for analyzer in inspector.analyzers:
        workers[analyzer.name] = float(_actors(options, analyzer.name))
    return {name: {"busy_s": round(seconds, 3), "workers": workers.get(name, 1.0), "wall_s": round(wall, 3),
                   "utilisation": round(seconds / (wall * workers.get(name, 1.0)), 3) if wall else 0.0}
            for name, seconds in busy.items()}


def _reason(error: Exception) -> str:
    return str(error) if isinstance(error, LiveInspectError) else f"{type(error).__name__}: {error}"
