"""Frames per second of the frame analyzer with and without near-duplicate skipping.

Two sources, both run twice in one process so the numbers compare like for like:

- the demo broadcast (`examples/demo/demo.mp4`), when present;
- a generated live room of `--seconds` (default 300): a fixed set with the
  channel's own captions, a presenter photo that sways a little, subtitles
  that change every few seconds, a WeChat QR code for a while, and encoder
  noise; encoded with PyAV (h264) to a temporary file.

Only the analyzer's own work is timed (preprocess, batched forward,
postprocess); decoding is timed separately. Run:

    .venv/bin/python bench/frames.py            # demo + 5-minute stream
    .venv/bin/python bench/frames.py --seconds 60 --json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo" / "demo.mp4"
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SUBTITLES = ["欢迎来到直播间 今天介绍一款保湿面霜", "质地轻薄 吸收很快", "请查看包装盒上的成分表",
             "一点点就够涂全脸", "干性皮肤用着也很柔软滋润", "今天下单送小样", "库存不多了 抓紧下单",
             "感谢大家的支持", "有问题可以在评论区留言", "下次直播再见"]


def make_live_room(path: Path, seconds: float, fps: float = 5.0, size=(854, 480)) -> Path:
    """Encode a synthetic live room that looks like what the analyzer sees in practice."""
    import av
    import qrcode
    from matplotlib import cbook
    from PIL import Image, ImageDraw, ImageFont

    if not CJK_FONT.is_file():
        sys.exit(f"CJK font missing ({CJK_FONT}): install Debian fonts-noto-cjk")
    font, small = ImageFont.truetype(str(CJK_FONT), 30), ImageFont.truetype(str(CJK_FONT), 22)
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        presenter = Image.open(handle).convert("RGB").resize((220, 258))
    code = qrcode.make("https://u.wechat.com/BENCHdemo42", border=2).convert("RGB").resize((170, 170))
    width, height = size
    base = Image.new("RGB", size, (222, 210, 196))
    draw = ImageDraw.Draw(base)
    draw.rectangle((0, 360, width, height), fill=(30, 24, 20))
    draw.text((20, 20), "直播中 LIVE", font=small, fill=(255, 255, 255))
    draw.text((330, 250), "保湿面霜  Moisturising Cream", font=small, fill=(90, 40, 60))
    rng = np.random.default_rng(0)
    rate = Fraction(fps).limit_denominator(100)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.options = {"preset": "ultrafast"}
        for i in range(round(seconds * fps)):
            t = i / fps
            picture = base.copy()
            sway = round(4 * np.sin(t * 0.8))
            picture.paste(presenter, (60 + sway, 80))
            if 120 <= t % 300 < 150:  # the QR code is up for 30 s of every 5 minutes
                picture.paste(code, (640, 80))
            ImageDraw.Draw(picture).text((40, 400), SUBTITLES[int(t // 6) % len(SUBTITLES)],
                                         font=font, fill=(255, 255, 255))
            pixels = np.asarray(picture).astype(np.int16) + rng.integers(-2, 3, (height, width, 3))
            frame = av.VideoFrame.from_ndarray(np.clip(pixels, 0, 255).astype(np.uint8), format="rgb24")
            frame.pts = i
            frame.time_base = 1 / rate
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def run_analyzer(source: Path, *, skip_duplicates: bool, policy) -> dict:
    from liveinspect.media.stream import iter_segments
    from liveinspect.pipelines.frames import FrameAnalyzer, FrameOptions

    analyzer = FrameAnalyzer(FrameOptions(skip_duplicates=skip_duplicates), policy=policy)
    stream = analyzer.open_stream("bench")
    decode_s = analyze_s = 0.0
    texts = findings = 0
    lines: set[str] = set()  # distinct lines read, to show what skipping frames costs in recall
    started = time.perf_counter()
    segments = iter_segments(source, window_s=30.0, fps=1.0)
    while True:
        try:
            segment = next(segments)
        except StopIteration:
            break
        decode_s += time.perf_counter() - started
        started = time.perf_counter()
        items = analyzer.preprocess(segment, stream)
        for offset in range(0, len(items), analyzer.batch_size):
            batch = items[offset:offset + analyzer.batch_size]
            for item, output in zip(batch, analyzer.forward(batch), strict=True):
                result = analyzer.postprocess(item, output, stream)
                texts += len(result.texts)
                lines.update("".join(t.text.split()).casefold() for t in result.texts)
                findings += len(result.findings)
        analyze_s += time.perf_counter() - started
        started = time.perf_counter()
    return {"frames": stream.frames_seen, "inspected": stream.frames_inspected,
            "analyze_s": round(analyze_s, 2), "decode_s": round(decode_s, 2),
            "fps": round(stream.frames_seen / analyze_s, 2) if analyze_s else None,
            "texts": texts, "findings": findings, "lines": sorted(lines),
            "stage_s": {name: round(value, 2) for name, value in stream.seconds.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="length of the generated stream")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo broadcast")
    args = parser.parse_args()

    from liveinspect.policy import load_policy

    policy = load_policy()
    sources: list[tuple[str, Path]] = []
    if args.no_demo:
        pass
    elif DEMO.is_file():
        sources.append(("demo", DEMO))
    else:
        print(f"demo broadcast not found at {DEMO} (make it with examples/demo/make_demo.py); "
              "benchmarking the generated stream only", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        generated = Path(folder) / "live_room.mp4"
        started = time.perf_counter()
        make_live_room(generated, args.seconds)
        print(f"generated {args.seconds:.0f} s live room in {time.perf_counter() - started:.1f} s",
              file=sys.stderr)
        sources.append((f"generated {args.seconds / 60:.0f} min", generated))
        rows = []
        for name, path in sources:
            for skip in (False, True):
                result = run_analyzer(path, skip_duplicates=skip, policy=policy)
                rows.append({"source": name, "skip_duplicates": skip, **result})
                print(f"  {name} skip={skip}: {result['fps']} frames/s", file=sys.stderr)
    for name, _ in sources:
        off, on = (next(r for r in rows if r["source"] == name and r["skip_duplicates"] is s)
                   for s in (False, True))
        on["speedup"] = round(on["fps"] / off["fps"], 2) if off["fps"] and on["fps"] else None
        # Lines read on some frame without skipping but never with it: the recall cost of skipping.
        on["lines_missed"] = sorted(set(off["lines"]) - set(on["lines"]))
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    print(f"{'source':<16} {'skip':<5} {'frames':>6} {'read':>5} {'analyze s':>9} {'frames/s':>8} "
          f"{'speedup':>7} {'lines':>5} {'missed':>6}  stage seconds")
    for row in rows:
        stages = ", ".join(f"{k} {v}" for k, v in row["stage_s"].items())
        print(f"{row['source']:<16} {'on' if row['skip_duplicates'] else 'off':<5} {row['frames']:>6} "
              f"{row['inspected']:>5} {row['analyze_s']:>9} {row['fps']:>8} "
              f"{row.get('speedup') or '':>7} {len(row['lines']):>5} "
              f"{len(row['lines_missed']) if 'lines_missed' in row else '':>6}  {stages}")


if __name__ == "__main__":
    main()
