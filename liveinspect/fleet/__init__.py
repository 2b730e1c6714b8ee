"""Many broadcasts at once: a manifest scanned by the local engine or on a Ray cluster.

    from liveinspect.fleet import FleetOptions, scan_manifest

    summary = scan_manifest("rooms.jsonl", "out/fleet", engine="ray",
                            options=FleetOptions(analyzers=["speech", "frames"]))
    print(summary.done, summary.failed, summary.minutes_per_second)

Each row's report lands in `out/fleet/reports/<id>/`; `findings.parquet`,
`findings.jsonl` and `rows.jsonl` cover the whole manifest. A rerun skips
rows already done with the same inputs and model versions (`runs.py`).
"""

from liveinspect.fleet.manifest import ManifestRow, read_manifest, write_manifest
from liveinspect.fleet.options import FleetOptions, StagePlan
from liveinspect.fleet.runner import ENGINES, FleetSummary, scan_manifest

__all__ = ["ENGINES", "FleetOptions", "FleetSummary", "ManifestRow", "StagePlan", "read_manifest",
           "scan_manifest", "write_manifest"]
