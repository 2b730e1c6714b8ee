"""`liveinspect serve`: the HTTP inspection service (uvicorn), see docs/serving.md."""

from __future__ import annotations

import argparse

from liveinspect.cli.common import add_model_options, component_settings, requested_weights
from liveinspect.errors import LiveInspectError


def _retention(values: list[str]) -> dict[str, float]:
    table = {}
    for value in values:
        name, _, days = value.partition("=")
        try:
            table[name.strip()] = float(days)
        except ValueError as error:
            raise LiveInspectError(f"--retention takes CLASS=DAYS (e.g. high=1095), got {value!r}") from error
    return table


def _settings(args: argparse.Namespace) -> dict:
    """Each component's options from the model flags, with --settings JSON over them field by field."""
    settings = component_settings(args)
    if args.settings:
        from liveinspect.serving.settings import parse_settings_json

        settings = parse_settings_json(args.settings, settings)
    return settings


def build_config(args: argparse.Namespace):
    from liveinspect.serving.config import ServiceConfig

    names = None
    if args.analyzers:
        names = tuple(n.strip() for n in args.analyzers.split(",") if n.strip() not in ("", "none"))
    return ServiceConfig(
        data_dir=args.data,
        database=args.database,
        job_workers=args.workers,
        allow_private_urls=args.allow_private_urls,
        analyzers=names,
        settings=_settings(args),
        requested_weights=requested_weights(args),
        window_s=args.window,
        fps=args.fps,
        max_batch_size=args.max_batch,
        max_wait_s=args.max_wait_ms / 1000.0,
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        rate_limit_per_s=args.rate_limit,
        rate_burst=args.burst,
        max_pending_items=args.max_pending,
        lease_s=args.lease,
        callback_backoff_s=args.callback_backoff,
        callback_max_attempts=args.callback_attempts,
        retention_days=_retention(args.retention),
        sweep_interval_s=args.sweep_interval,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from liveinspect.serving.app import create_app
        from liveinspect.serving.logs import configure_json_logging
    except ImportError as error:
        raise LiveInspectError(
            f"the service needs its extra dependencies ({error.name} is missing): "
            "pip install 'liveinspect[serve]'"
        ) from error
    import logging

    configure_json_logging(logging.DEBUG if args.verbose else logging.INFO)
    app = create_app(build_config(args))
    # Our middleware logs each request as JSON with its request id; uvicorn's own lines go too.
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_config=None,
            access_log=False,
            limit_concurrency=args.max_connections,
            timeout_graceful_shutdown=30,
            proxy_headers=args.proxy_headers,
            forwarded_allow_ips=args.forwarded_allow_ips,
        )
    except SystemExit:
        # uvicorn exits when the app fails to start; a configuration error (weights that were
        # named and did not load) says so plainly instead.
        error = getattr(app.state, "startup_error", None)
        if error is not None:
            raise error from None
        raise
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    serve = sub.add_parser("serve", help="run the HTTP inspection service")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--data", required=True, help="folder for the SQLite database, uploads and temporary files"
    )
    serve.add_argument(
        "--database",
        help="postgresql://user:pass@host/db to share jobs between processes (default: SQLite in --data)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=2,
        help="jobs this process scans at once; they share one inspector (default 2)",
    )
    serve.add_argument(
        "--allow-private-urls",
        action="store_true",
        help="allow sources and callbacks on loopback/private networks (own media servers)",
    )
    serve.add_argument("--analyzers", help="comma-separated analyzers to load, or none (default: all)")
    serve.add_argument(
        "--window",
        type=float,
        default=5.0,
        help="seconds per segment; bounds how soon a live finding is reported (default 5)",
    )
    serve.add_argument("--fps", type=float, default=1.0, help="frames sampled per second (default 1)")
    serve.add_argument("--max-batch", type=int, help="cap on every model's batch size (1 turns batching off)")
    serve.add_argument(
        "--max-wait-ms",
        type=float,
        default=20.0,
        help="how long a batch waits for more items, in ms (default 20)",
    )
    serve.add_argument(
        "--max-upload-mb", type=float, default=512.0, help="largest recording upload (default 512)"
    )
    serve.add_argument(
        "--max-pending",
        type=int,
        default=256,
        help="synchronous items waiting for models before 429 (default 256)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=512,
        help="concurrent connections before uvicorn answers 503 (default 512)",
    )
    serve.add_argument(
        "--rate-limit",
        type=float,
        default=50.0,
        help="requests per second per API key, 0 for none (default 50)",
    )
    serve.add_argument("--burst", type=int, default=100, help="requests a key may make at once (default 100)")
    serve.add_argument(
        "--lease",
        type=float,
        default=30.0,
        help="seconds before another process takes over a job whose process died (default 30)",
    )
    serve.add_argument(
        "--callback-backoff",
        type=float,
        default=2.0,
        help="seconds before the first callback retry; doubles each time (default 2)",
    )
    serve.add_argument("--callback-attempts", type=int, default=8, help="tries per callback (default 8)")
    serve.add_argument(
        "--retention",
        action="append",
        default=[],
        metavar="CLASS=DAYS",
        help="days to keep finished jobs by highest severity (none, info, low, medium, high, "
        "critical, key_broadcast); repeatable",
    )
    serve.add_argument("--sweep-interval", type=float, default=600.0, help="seconds between retention sweeps")
    serve.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-For/Proto from --forwarded-allow-ips (behind a reverse proxy)",
    )
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    serve.add_argument(
        "--settings",
        metavar="JSON",
        help="component options as JSON, over the model flags, e.g. "
        '\'{"frames.ocr": {"enabled": false}, "speech": {"language": "zh"}}\' '
        "(unknown components or options are refused, naming the known ones)",
    )
    add_model_options(serve)
    serve.set_defaults(func=cmd_serve)
