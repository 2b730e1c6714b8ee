"""Throughput of scan-many: the local engine and the Ray engine on the same manifest, side by side.

    python bench/scale.py [--broadcasts 20] [--analyzers speech,frames] [--cpus 2] [--nodes 10]

Makes N broadcasts of one to three minutes from the shipped demo (its video
played one to three times over, real speech, captions and banners), scans
them with each engine into a fresh folder, and prints broadcast-minutes per
wall-second for both, each stage's busy seconds and utilisation, the
per-stage rates those give (broadcast seconds per busy CPU-second), and what
a cluster of `--nodes` nodes of `--node-cpus` CPUs would do with the same
rates: CPUs shared out to the stages in proportion to their cost, with the
one-process assembly as a separate bound.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scale_media import loop  # noqa: E402

import liveinspect  # noqa: E402
from liveinspect.fleet import FleetOptions, scan_manifest, write_manifest  # noqa: E402
from liveinspect.pipelines.orchestrator import ScanOptions  # noqa: E402
from liveinspect.schema import Report  # noqa: E402

TITLES = ["全网第一好用的面霜 限时秒杀", "今日直播 护肤好物分享", "保湿面霜 买一送一",
          "新品上市 欢迎来到直播间"]


def make_manifest(folder: Path, count: int) -> Path:
    demo = ROOT / "examples" / "demo"
    clips = {n: loop(demo / "demo.mp4", folder / f"demo-x{n}.mp4", repeats=n) for n in (1, 2, 3)}
    rows = [{"id": f"room-{i:02d}", "source": str(clips[1 + i % 3]), "title": TITLES[i % len(TITLES)],
             "cover": str(demo / "cover.png") if i % 2 == 0 else None, "account_name": f"主播{i}",
             "profile": "专业护肤 加微信 vx: skin_888 领券" if i % 4 == 0 else "专业护肤 每晚八点"}
            for i in range(count)]
    return write_manifest([{k: v for k, v in row.items() if v is not None} for row in rows],
                          folder / "rooms.jsonl")


def local_stages(out: Path, wall: float, analyzers: list[str]) -> dict[str, dict]:
    """The local engine's busy seconds per stage from its reports (model time shares and assembly)."""
    busy = {name: 0.0 for name in analyzers}
    for path in (out / "reports").glob("*/report.json"):
        report = Report.from_json(path.read_bytes())
        for status in report.analyzers:
            if status.name in busy:
                busy[status.name] += status.seconds
    return {name: {"busy_s": round(s, 3), "workers": 1.0, "utilisation": round(s / wall, 3)}
            for name, s in busy.items()}


def project(stages: dict[str, dict], media_s: float, nodes: int, node_cpus: int) -> dict[str, float]:
    """Cluster throughput from per-stage costs (busy CPU-seconds per broadcast second)."""
    costs = {name: s["busy_s"] / media_s for name, s in stages.items() if name != "assemble" and media_s}
    cpus = nodes * node_cpus
    pipeline = cpus / sum(costs.values()) if costs else 0.0  # broadcast seconds per wall second
    assemble_cost = stages.get("assemble", {}).get("busy_s", 0.0) / media_s if media_s else 0.0
    assembly = 1.0 / assemble_cost if assemble_cost else float("inf")
    return {"cpus": cpus, "pipeline_min_per_s": pipeline / 60, "assembly_min_per_s": assembly / 60,
            "cluster_min_per_s": min(pipeline, assembly) / 60,
            "broadcast_hours_per_hour": min(pipeline, assembly)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broadcasts", type=int, default=20)
    parser.add_argument("--analyzers", default="speech,frames")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray")
    parser.add_argument("--fps", type=float, default=1.0)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--streams", type=int, default=2, help="local engine: broadcasts at once")
    parser.add_argument("--nodes", type=int, default=10)
    parser.add_argument("--node-cpus", type=int, default=16)
    parser.add_argument("--work", default="out/bench-scale")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    import ray

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    manifest = make_manifest(work, args.broadcasts)
    names = [n for n in args.analyzers.split(",") if n]
    scan = ScanOptions(window_s=args.window, fps=args.fps, progress=False)
    options = FleetOptions(analyzers=names, scan=scan, progress=False, max_streams=args.streams,
                           num_cpus=args.cpus)
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    results = {}
    with liveinspect.build_inspector(names, options=scan) as inspector:
        for engine in ("local", "ray"):
            started = time.perf_counter()
            summary = scan_manifest(manifest, work / engine, engine=engine, options=options,
                                    inspector=inspector)
            wall = time.perf_counter() - started
            stages = summary.stages if engine == "ray" else local_stages(work / engine, wall, names)
            results[engine] = {"rows": summary.rows, "done": summary.done, "failed": summary.failed,
                               "media_s": round(summary.media_seconds, 1), "wall_s": round(wall, 2),
                               "min_per_s": round(summary.media_seconds / 60 / wall, 4), "stages": stages}
    ray.shutdown()
    ray_run = results["ray"]
    results["per_stage_rate"] = {name: round(ray_run["media_s"] / s["busy_s"], 2)
                                 for name, s in ray_run["stages"].items() if s["busy_s"]}
    results["cluster"] = project(ray_run["stages"], ray_run["media_s"], args.nodes, args.node_cpus)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{args.broadcasts} broadcasts, {results['local']['media_s'] / 60:.1f} broadcast minutes, "
          f"analyzers {args.analyzers}, {args.cpus} CPUs")
    for engine in ("local", "ray"):
        r = results[engine]
        print(f"  {engine:5s}: {r['wall_s']:8.1f} s wall  {r['min_per_s']:.3f} broadcast-min per wall-s  "
              f"({r['done']} done, {r['failed']} failed)")
        for name, stage in r["stages"].items():
            print(f"         {name:9s} busy {stage['busy_s']:8.1f} s  utilisation {stage['utilisation']:.0%}"
                  f"  ({stage['workers']:.0f} worker{'s' if stage['workers'] != 1 else ''})")
    print(f"  ray / local: {results['ray']['min_per_s'] / results['local']['min_per_s']:.2f}x")
    print("  per-stage rate (broadcast seconds per busy worker-second, Ray run): " +
          ", ".join(f"{k} {v}" for k, v in results["per_stage_rate"].items()))
    c = results["cluster"]
    print(f"  {args.nodes} nodes x {args.node_cpus} CPUs at these rates: pipeline "
          f"{c['pipeline_min_per_s']:.1f} broadcast-min/s, assembly bound {c['assembly_min_per_s']:.1f}; "
          f"cluster {c['cluster_min_per_s']:.1f} broadcast-min/s = {c['broadcast_hours_per_hour']:.0f} "
          f"broadcast-hours per hour")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
