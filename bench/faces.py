"""The face detector per frame, three generations side by side in one process on the same frames.

    .venv/bin/python bench/faces.py [--frames 24] [--baseline /tmp/baseline]

Rows: the torch-era detector of commit 3b998d3 (`models/faces.py`: pyramid, crops and nets in
torch; needs a checkout of that commit, `git worktree add --detach /tmp/baseline 3b998d3`), the
numpy pre/post-processing of stop 16 (ee46921; read from git) on torch nets, and the current
detector on torch nets and on ONNX Runtime (the default). The same demo frames, the frame stage's
settings (min face 40 px, frames shrunk to 640 px), best of 4 runs after a warm-up; the face count
and the first box show that each finds the same presenter.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _module_from_source(name: str, source: str):
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def _best(run, repeats: int = 4) -> float:
    run()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--baseline", type=Path, default=Path("/tmp/baseline"),
                        help="a checkout of 3b998d3 (the torch-era detector)")
    args = parser.parse_args()

    from liveinspect.export.common import EvalData, demo_frames
    from liveinspect.models.faces import FaceDetector

    frames = demo_frames(EvalData.locate(ROOT), every=2, limit=args.frames)
    settings = {"min_face_size": 40, "max_side": 640}
    detectors = {}
    old = args.baseline / "liveinspect" / "models" / "faces.py"
    if old.is_file():
        detectors["torch era (3b998d3)"] = _module_from_source("faces_3b998d3", old.read_text()).FaceDetector(
            **settings)
    stop16 = subprocess.run(["git", "show", "ee46921:liveinspect/models/faces/detector.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout
    detectors["numpy pre/post, stop 16, torch nets"] = _module_from_source(
        "faces_ee46921", stop16).FaceDetector(**settings)
    detectors["now, torch nets"] = FaceDetector(backend="torch", **settings)
    detectors["now, ONNX Runtime (default)"] = FaceDetector(**settings)
    print(f"{len(frames)} demo frames {frames[0].shape[1]}x{frames[0].shape[0]}")
    for name, detector in detectors.items():
        seconds = _best(lambda d=detector: d.detect_batch(frames))
        found = detector.detect_batch(frames)
        first = next((f[0].box for f in found if f), None)
        box = tuple(round(v) for v in first) if first else None
        print(f"{name:40s} {seconds / len(frames) * 1000:6.1f} ms/frame  faces {sum(map(len, found)):3d}"
              f"  first box {box}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
