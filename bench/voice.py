"""Cost of the voice and avatar analyzers as a share of the media's duration, side by side in one run.

    .venv/bin/python bench/voice.py                 # 60 s of speech, 2 threads
    .venv/bin/python bench/voice.py --seconds 120 --json

Voice: a broadcast-like track (espeak-ng and the JFK recording alternating
with pauses) goes through the analyzer's own work (window cutting, batched
AASIST + head, stretch scores, the Morse-cue search), timed for the ONNX and
the torch backend and for two window hops. Voice activity is the speech
analyzer's shared product and is timed on its own line. The target: the
voice analyzer adds at most 5% of the audio's duration.

Avatar: 720p frames (the demo's, scaled up) through the analyzer's
forward: the int8 CLIP tower and the head on the whole frame, MTCNN, and the
largest face's crop through the tower again; once more with the face path
off. Each line says seconds per frame and the share of the stream's duration
at the default interval (the frame analyzer's budget is the stream's own
duration: a 1 fps scan must keep up with 1 frame a second).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SR = 16_000


def _track(seconds: float) -> np.ndarray:
    from liveinspect.media.audio import load_audio

    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "tts.wav"
        subprocess.run(["espeak-ng", "-w", str(wav),
                        "Welcome to the live room, today everything is half price, "
                        "click the yellow cart below and order before midnight."], check=True)
        tts = load_audio(wav)
    real = load_audio(ROOT / "tests" / "data" / "jfk.flac")
    pieces, total = [], 0
    while total < seconds * SR:
        for clip in (tts, real):
            pieces += [clip, np.zeros(SR // 2, np.float32)]
            total += len(clip) + SR // 2
    return np.concatenate(pieces)[: int(seconds * SR)]


def _voice_seconds(audio: np.ndarray, options) -> tuple[float, int]:
    from liveinspect.pipelines.voice import VoiceAnalyzer, recording_segments, run_stream

    analyzer = VoiceAnalyzer(options)
    segments = recording_segments(audio)  # VAD is shared with speech in a scan: timed apart
    analyzer.forward(analyzer.preprocess(segments[0], analyzer.open_stream("warm"))[:1])  # load the model
    started = time.perf_counter()
    output = run_stream(analyzer, segments)
    return time.perf_counter() - started, int(output.details["windows"])


def _vad_seconds(audio: np.ndarray) -> float:
    from liveinspect.pipelines.vad import VoiceActivity

    started = time.perf_counter()
    for start in range(0, len(audio), 30 * SR):
        VoiceActivity.of(audio[start:start + 30 * SR])
    return time.perf_counter() - started


def _avatar_frames(count: int) -> list[np.ndarray]:
    """`count` frames of the demo broadcast (a studio with a portrait presenter) 2 s apart, scaled to
    720p: white noise would be the detector's worst case (proposals everywhere), not a stream's."""
    import av
    from PIL import Image

    frames: list[np.ndarray] = []
    with av.open(str(ROOT / "examples" / "demo" / "demo.mp4")) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time + 1e-6 >= 2.0 * len(frames):
                image = frame.to_image().resize((1280, 720), Image.Resampling.BILINEAR)
                frames.append(np.asarray(image))
                if len(frames) == count:
                    break
    return frames


def _avatar(frames: int) -> dict:
    """Seconds per sampled frame through the analyzer's forward: whole frame, MTCNN, the face crop."""
    from liveinspect.pipelines.avatar import AvatarAnalyzer, AvatarItem, AvatarOptions

    images = _avatar_frames(frames)
    frames = len(images)
    items = [AvatarItem(image, 2.0 * k, k) for k, image in enumerate(images)]
    result: dict = {}
    for name, options in (("whole frames and face crops (default)", AvatarOptions()),
                          ("whole frames only (--no-avatar-faces)", AvatarOptions(faces=False))):
        analyzer = AvatarAnalyzer(options)
        if analyzer.unavailable_reason():
            return {"skipped": analyzer.unavailable_reason()}
        analyzer.forward(items[:analyzer.batch_size])  # warm: ONNX Runtime plans each batch shape once
        started = time.perf_counter()
        faces = 0
        for k in range(0, frames, analyzer.batch_size):
            outputs = analyzer.forward(items[k:k + analyzer.batch_size])
            faces += sum(o.face_embedding is not None for o in outputs)
        per_frame = (time.perf_counter() - started) / frames
        result[name] = {"seconds_per_frame": round(per_frame, 3), "interval_s": analyzer.options.interval_s,
                        "share_of_duration": round(per_frame / analyzer.options.interval_s, 4),
                        "frames_with_face": faces, "crop_head": analyzer.face_head is not None}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from liveinspect.pipelines.voice import VoiceOptions

    audio = _track(args.seconds)
    duration = len(audio) / SR
    rows = {"vad (shared with speech)": (_vad_seconds(audio), 0)}
    hop = VoiceOptions().hop_s
    for name, options in ((f"voice onnx, hop {hop:g} s (default)", VoiceOptions()),
                          ("voice onnx, hop 4 s", VoiceOptions(hop_s=4.0)),
                          (f"voice torch, hop {hop:g} s", VoiceOptions(backend="torch")),
                          ("voice baseline only (no head)", VoiceOptions(head="none"))):
        rows[name] = _voice_seconds(audio, options)
    result = {"audio_s": round(duration, 1), "threads": args.threads, "load_average": os.getloadavg()[0],
              "voice": {name: {"seconds": round(s, 2), "windows": w,
                               "share_of_duration": round(s / duration, 4)}
                        for name, (s, w) in rows.items()},
              "avatar": _avatar(args.frames)}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{duration:.0f} s of audio, {args.threads} threads, load average {result['load_average']:.1f} "
          "(other work on the machine inflates every line alike)")
    for name, row in result["voice"].items():
        print(f"  {name:<32} {row['seconds']:6.2f} s  {row['share_of_duration']:6.1%} of the duration"
              f"  ({row['windows']} windows)")
    avatar = result["avatar"]
    if "skipped" in avatar:
        print(f"  avatar: skipped ({avatar['skipped']})")
    for name, row in avatar.items() if "skipped" not in avatar else ():
        print(f"  avatar, {name}: {row['seconds_per_frame']:.3f} s a frame, one every "
              f"{row['interval_s']:g} s: {row['share_of_duration']:.1%} of the duration "
              f"({row['frames_with_face']} frames with a face, "
              f"crop head {'on' if row['crop_head'] else 'absent'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
