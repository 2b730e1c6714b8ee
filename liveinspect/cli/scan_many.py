"""`liveinspect scan-many MANIFEST --out DIR --engine local|ray`: a manifest of broadcasts, resumably.

Each row's report.json/report.html goes to DIR/reports/<id>/; DIR/findings.parquet,
findings.jsonl and rows.jsonl cover the manifest. Rows already done with the
same inputs and models are skipped, so rerunning the command retries only the
failed rows. Exit code 0 when every row is done, 2 when some failed (their
errors are in rows.jsonl and on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys

from liveinspect.cli.common import (
    EXIT_CLEAN,
    EXIT_ERROR,
    add_model_options,
    add_policy_option,
    add_reading_options,
    analyzer_names,
    component_settings,
    scan_options_from_args,
)
from liveinspect.errors import LiveInspectError


def _pairs(values: list[str] | None, flag: str, kind: type) -> dict[str, object]:
    """NAME=VALUE flags (e.g. --actors speech=2) into a mapping."""
    pairs: dict[str, object] = {}
    for value in values or []:
        name, sep, number = value.partition("=")
        try:
            if not sep:
                raise ValueError
            pairs[name.strip()] = kind(number)
        except ValueError as error:
            raise LiveInspectError(f"{flag} takes ANALYZER=NUMBER (e.g. {flag} speech=2), got {value!r}") \
                from error
    return pairs


def cmd_scan_many(args: argparse.Namespace) -> int:
    from liveinspect.fleet import FleetOptions, StagePlan, scan_manifest

    actors = _pairs(args.actors, "--actors", int)
    gpus = _pairs(args.gpus, "--gpus", float)
    cpus = _pairs(args.cpus, "--cpus", float)
    stages = {name: StagePlan(actors=actors.get(name, 1), num_gpus=gpus.get(name), num_cpus=cpus.get(name),
                              segments_per_batch=args.segments_per_batch)
              for name in {*actors, *gpus, *cpus}}
    default_stage = StagePlan(segments_per_batch=args.segments_per_batch)
    options = FleetOptions(
        analyzers=analyzer_names(args), settings=component_settings(args), policy_dir=args.policy,
        scan=scan_options_from_args(args, progress=False),
        progress=not args.no_progress, max_streams=args.streams, address=args.address,
        num_cpus=args.num_cpus, stages=stages, default_stage=default_stage)
    summary = scan_manifest(args.manifest, args.out, engine=args.engine, options=options)
    if args.json:
        print(json.dumps({"rows": summary.rows, "done": summary.done, "failed": summary.failed,
                          "skipped": summary.skipped, "media_seconds": round(summary.media_seconds, 3),
                          "wall_seconds": round(summary.wall_seconds, 3), "failures": summary.failures,
                          "stages": summary.stages,
                          "tables": {k: str(v) for k, v in summary.tables.items()}}, ensure_ascii=False))
    print(f"{summary.rows} rows: {summary.done} done, {summary.skipped} skipped (done before), "
          f"{summary.failed} failed; {summary.media_seconds / 60:.1f} broadcast minutes in "
          f"{summary.wall_seconds:.1f} s ({summary.minutes_per_second:.2f} min/s)", file=sys.stderr)
    for row_id, error in summary.failures.items():
        print(f"  failed {row_id}: {error}", file=sys.stderr)
    print(f"findings: {summary.tables['findings_parquet']}", file=sys.stderr)
    return EXIT_ERROR if summary.failed else EXIT_CLEAN


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("scan-many", help="scan a manifest of broadcasts (jsonl/parquet), locally or "
                                              "on Ray; reruns skip finished rows")
    parser.add_argument("manifest", help=".jsonl or .parquet, one broadcast per row (source, title, cover, "
                                         "account_name, profile, products, optional id)")
    parser.add_argument("--out", required=True, help="folder for reports/, findings.parquet, rows.jsonl")
    parser.add_argument("--engine", choices=["local", "ray"], default="local")
    parser.add_argument("--address",
                        help="Ray cluster: auto, or ray://HEAD:10001 (default: start a local Ray)")
    parser.add_argument("--num-cpus", type=int, help="CPUs of the local Ray started here (default: all)")
    parser.add_argument("--actors", action="append", metavar="ANALYZER=N",
                        help="actors in an analyzer's pool on Ray (default 1 each)")
    parser.add_argument("--gpus", action="append", metavar="ANALYZER=F",
                        help="GPUs per actor, fractions allowed (default: speech 1, others 0.25 when the "
                             "cluster has GPUs, else 0)")
    parser.add_argument("--cpus", action="append", metavar="ANALYZER=F", help="CPUs per actor (default 1)")
    parser.add_argument("--segments-per-batch", type=int, default=2,
                        help="segments per actor call on Ray (default 2)")
    parser.add_argument("--streams", type=int, default=2,
                        help="broadcasts scanned at once by the local engine (default 2)")
    parser.add_argument("--json", action="store_true", help="print the run's summary as JSON on stdout")
    add_reading_options(parser, max_duration_help="inspect at most this many seconds of each row")
    add_policy_option(parser)
    add_model_options(parser)
    parser.set_defaults(func=cmd_scan_many)
