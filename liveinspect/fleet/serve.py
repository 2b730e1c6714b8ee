"""The inspection service on Ray Serve: model stages as deployments with `@serve.batch`.

    liveinspect serve (plain uvicorn)      one process: HTTP app + inspector + one batcher per analyzer
    Ray Serve (this module)                ingress replicas: the same FastAPI app, preprocess/postprocess,
                                           jobs, text checks; one deployment per analyzer: its model,
                                           batching requests from every ingress replica

A `ModelStage` deployment loads one analyzer and batches single items from
any number of callers with `@serve.batch`, its batch size the analyzer's own
and its wait bound the service's `max_wait_s` (the same latency bound the
in-process batcher keeps). In the ingress, `RemoteAnalyzer` stands in for the
analyzer: preprocess, postprocess and per-stream state stay local, `forward`
sends each item to the deployment. So the inspector, the orchestrator and the
HTTP app are the ones `liveinspect serve` runs, and scaling a model is a
deployment setting (replicas, GPUs, autoscaling), not code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from liveinspect.errors import LiveInspectError
from liveinspect.pipelines.orchestrator import Inspector, ScanOptions


def _require_serve() -> Any:
    try:
        from ray import serve
    except ImportError as error:
        raise LiveInspectError("Ray Serve is not installed: pip install 'liveinspect[ray]'") from error
    return serve


@dataclass(frozen=True)
class StageDeployment:
    """How one model stage is deployed: replicas (fixed or autoscaled) and what each reserves."""

    num_replicas: int = 1
    # e.g. {"min_replicas": 1, "max_replicas": 8, "target_ongoing_requests": 16}: Serve adds replicas
    # while more than `target_ongoing_requests` items wait per replica (batches fill before they grow).
    autoscaling: Mapping[str, Any] | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0  # 1 for Whisper on a GPU node, 0.25 for the frame models
    max_ongoing_requests: int = 64  # items queued at one replica; more wait at the caller


@dataclass(frozen=True)
class ServeOptions:
    analyzers: list[str] | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    policy_dir: str | None = None
    max_wait_s: float = 0.02  # the batching latency bound, as ScanOptions.max_wait_s
    stages: Mapping[str, StageDeployment] = field(default_factory=dict)

    def stage(self, name: str) -> StageDeployment:
        return self.stages.get(name) or StageDeployment()


class _ModelStage:
    """One analyzer's model, batching single items from every caller (the body of the deployment)."""

    def __init__(self, name: str, settings: dict[str, Any], policy_paths: dict[str, str],
                 max_wait_s: float) -> None:
        from liveinspect.pipelines.registry import build_analyzers
        from liveinspect.policy import load_policy

        built, skipped = build_analyzers([name], settings, load_policy(**policy_paths))
        if not built or built[0].unavailable_reason():
            reason = skipped[0].reason if skipped else built[0].unavailable_reason()
            raise LiveInspectError(f"model stage {name} cannot run here: {reason}")
        self.analyzer = built[0]
        # The analyzer says how many items one model call takes; the service says how long to wait.
        self.forward_batch.set_max_batch_size(self.analyzer.batch_size)
        self.forward_batch.set_batch_wait_timeout_s(max_wait_s)
        self.batches = self.items = 0

    async def forward_batch(self, items: list[Any]) -> list[Any]:
        self.batches += 1
        self.items += len(items)
        # The model call blocks; a thread keeps the replica's event loop taking requests meanwhile.
        return await asyncio.to_thread(self.analyzer.forward, items)

    def stats(self) -> dict[str, int]:
        """Model calls and items so far (for metrics and tests: items / batches is the batch size)."""
        return {"batches": self.batches, "items": self.items, "max_batch_size": self.analyzer.batch_size}

    async def __call__(self, item: Any) -> Any:
        return await self.forward_batch(item)


def model_stage_deployment() -> Any:
    """The Serve deployment class (made on first use, so importing this module needs no Ray)."""
    serve = _require_serve()
    body = type("ModelStage", (_ModelStage,), {
        "forward_batch": serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)(_ModelStage.forward_batch),
    })
    return serve.deployment(body)


class RemoteAnalyzer:
    """An analyzer whose `forward` runs in its Serve deployment; everything else is the local one's.

    The inspector's batcher hands `forward` a batch; each item goes to the deployment as its own
    request, and `@serve.batch` there regroups items from every ingress replica into model batches.
    """

    def __init__(self, analyzer: Any, handle: Any) -> None:
        self._analyzer = analyzer
        self._handle = handle

    def __getattr__(self, name: str) -> Any:
        return getattr(self._analyzer, name)

    def forward(self, batch: Sequence[Any]) -> list[Any]:
        responses = [self._handle.remote(item) for item in batch]
        return [response.result() for response in responses]


def remote_inspector(handles: Mapping[str, Any], options: ServeOptions,
                     scan: ScanOptions | None = None) -> Inspector:
    """An inspector whose analyzers' models are the deployments in `handles` (name -> handle)."""
    from liveinspect.pipelines.registry import build_inspector
    from liveinspect.policy import load_policy_dir

    scan = scan or ScanOptions(progress=False, max_wait_s=options.max_wait_s)
    local = build_inspector(options.analyzers, options=scan, policy=load_policy_dir(options.policy_dir),
                            settings=dict(options.settings))
    local.close()  # its batchers call the local models; the inspector below batches towards the handles
    analyzers = [RemoteAnalyzer(a, handles[a.name]) if a.name in handles else a for a in local.analyzers]
    return Inspector(analyzers, text_analyzer=local.text_analyzer, policy=local.policy,
                     skipped=local.skipped, options=scan, product_options=local.product_options)


def bind_model_stages(names: Sequence[str], options: ServeOptions) -> dict[str, Any]:
    """One bound ModelStage deployment per analyzer, with its replicas and resources."""
    from liveinspect.policy import load_policy_dir

    policy = load_policy_dir(options.policy_dir)
    paths = {key: str(value) for key, value in policy.paths.items()}
    deployment = model_stage_deployment()
    bound = {}
    for name in names:
        plan = options.stage(name)
        settings: dict[str, Any] = {
            "name": f"model-{name}", "max_ongoing_requests": plan.max_ongoing_requests,
            "ray_actor_options": {"num_cpus": plan.num_cpus, "num_gpus": plan.num_gpus},
        }
        if plan.autoscaling:
            settings["autoscaling_config"] = dict(plan.autoscaling)
        else:
            settings["num_replicas"] = plan.num_replicas
        bound[name] = deployment.options(**settings).bind(name, dict(options.settings), paths,
                                                          options.max_wait_s)
    return bound


def service_application(config: Any, *, stages: Mapping[str, StageDeployment] | None = None,
                        ingress_replicas: int = 1, ingress_cpus: float = 0.5) -> Any:
    """The HTTP service (`liveinspect.serving.create_app`) as a Serve application whose model stages
    are deployments: `serve.run(service_application(ServiceConfig(data_dir=...)), route_prefix="/")`.

    `config` is the service's `ServiceConfig` (analyzers, settings, window, batching bound, limits),
    as for `liveinspect serve`; `stages` sizes each model's deployment. The ingress replicas build
    the same `Service` and FastAPI app, with an inspector whose models are the deployments."""
    serve = _require_serve()
    from liveinspect.pipelines.registry import analyzer_classes
    from liveinspect.serving.app import create_app
    from liveinspect.serving.service import Service

    names = list(config.analyzers) if config.analyzers is not None else list(analyzer_classes())
    options = ServeOptions(analyzers=names, settings=dict(config.settings), max_wait_s=config.max_wait_s,
                           stages=dict(stages or {}))
    scan = ScanOptions(window_s=config.window_s, fps=config.fps, max_wait_s=config.max_wait_s,
                       progress=False, allow_private_urls=config.allow_private_urls)
    bound = bind_model_stages(names, options)

    class ServiceIngress:
        """The service's FastAPI app, built in the replica once the stage handles arrive."""

        def __init__(self, **handles: Any) -> None:
            self._handles = handles

        def __serve_build_asgi_app__(self) -> Any:
            inspector = remote_inspector(self._handles, options, scan)
            return create_app(service=Service(config, inspector=inspector))  # Serve runs its lifespan

    ingress = serve.deployment(serve.ingress()(ServiceIngress)).options(
        name="liveinspect-api", num_replicas=ingress_replicas, ray_actor_options={"num_cpus": ingress_cpus})
    return ingress.bind(**bound)
