"""Scan the corpus's real test recordings, whole, with the voice analyzer a scan runs: is any flagged?

    nice -n 19 python recipes/synthetic/check_real_recordings.py      # out/synthetic/voice-recordings

The leave-one-out tables score single 4 s windows (one crop per clip). A scan does not: it cuts every
voiced stretch of a recording into windows and gives each stretch the mean logit of its windows
(`pipelines.voice`), and a finding is a stretch at or above the policy's threshold
(`aigc_labels.yaml thresholds.voice`) that lasts at least `min_voice_s`. This runs exactly that path
(VAD per 30 s segment, the shipped head, the default options) over the whole recordings the test
crops come from, never trained on: the test-side AMI meeting files (60 s each, from the
pyannote-audio sdist), the pyannote sample and JFK, clean and after the evaluation's MP3 32k, AAC 32k
and Opus 24k. Writes `results.json` and prints one line per recording and condition.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from build_voice_corpus import _pyannote_wavs  # noqa: E402

from liveinspect.media.audio import load_audio  # noqa: E402
from liveinspect.media.transcode import reencode  # noqa: E402
from liveinspect.pipelines.voice import VoiceAnalyzer, VoiceOptions, recording_segments, run_stream  # noqa: E402
from liveinspect.schema import FindingKind  # noqa: E402
from liveinspect.training.voice import CONDITIONS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def test_side_ami_files(meta: Path) -> set[str]:
    """The meeting files whose crops are test rows (the corpus splits AMI by file)."""
    with meta.open(encoding="utf-8") as handle:
        return {row["speaker"] for row in csv.DictReader(handle)
                if row["generator"] == "ami" and row["split"] == "test"}


def check(recordings: dict[str, Path], analyzer: VoiceAnalyzer) -> list[dict]:
    rows = []
    for name, path in recordings.items():
        audio = load_audio(path)
        for condition, spec in CONDITIONS.items():
            heard = audio if spec is None else reencode(audio, spec[0], spec[1])
            output = run_stream(analyzer, recording_segments(heard), stream_id=f"{name}:{condition}")
            stretches = output.details["stretches"]
            flagged = [f for f in output.findings if f.kind == FindingKind.synthetic_voice]
            rows.append({"recording": name, "seconds": round(len(audio) / 16_000, 1), "condition": condition,
                         "stretches": len(stretches), "windows": output.details["windows"],
                         "max_stretch_score": round(max((s["score"] for s in stretches), default=0.0), 3),
                         "flagged_stretches": len(flagged),
                         "flagged_seconds": round(sum(f.t_end - f.t_start for f in flagged), 1)})
            row = rows[-1]
            print(f"{name:<22} {condition:<9} {row['stretches']:>3} stretches {row['windows']:>3} windows "
                  f"max {row['max_stretch_score']:.3f}  flagged {row['flagged_stretches']} "
                  f"({row['flagged_seconds']} s)", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("out/synthetic/voice"), help="the built corpus")
    parser.add_argument("--sdists", type=Path, default=Path("out/sdists"))
    parser.add_argument("--out", type=Path, default=Path("out/synthetic/voice-recordings"))
    args = parser.parse_args(argv)
    started = time.time()
    analyzer = VoiceAnalyzer(VoiceOptions())
    if analyzer.unavailable_reason():
        raise SystemExit(f"voice analyzer unavailable: {analyzer.unavailable_reason()}")
    keep = test_side_ami_files(args.data / "meta.csv")
    with tempfile.TemporaryDirectory() as tmp:
        wavs, sample = _pyannote_wavs(args.sdists, Path(tmp))
        recordings = {f"ami/{p.stem}": p for p in wavs if p.stem in keep}
        if sample is not None:
            recordings["pyannote-sample"] = sample
        recordings["jfk"] = ROOT / "tests" / "data" / "jfk.flac"
        rows = check(recordings, analyzer)
    flagged = [r for r in rows if r["flagged_stretches"]]
    summary = {"threshold": analyzer.threshold, "min_voice_s": analyzer.min_stretch_s,
               "model": analyzer.model_version, "recordings": len(recordings),
               "recording_conditions_flagged": f"{len(flagged)} of {len(rows)}", "rows": rows,
               "seconds": round(time.time() - started, 1)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"{len(flagged)} of {len(rows)} (recording, condition) pairs flagged at {analyzer.threshold}; "
          f"{summary['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
