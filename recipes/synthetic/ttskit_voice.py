"""ttskit 0.3.8 (Mellotron multi-speaker + MelGAN, Mandarin) as a corpus generator, loaded safely.

    voice = TtskitVoice()                       # needs `pip install --no-deps ttskit==0.3.8`
    audio = voice.synthesize("欢迎来到直播间", speaker="Aiyue")   # float32, 16 kHz
    fake = resynthesize(real_16k, MelganVocoder())  # real speech through ttskit's MelGAN (copy-synthesis)

ttskit ships its two models as whole pickled `nn.Module`s, and its SDK loads
them with a bare `torch.load` and may try to download missing resources. This
module does neither: it loads only the two files that ship inside the installed
ttskit package, only when their SHA-256 is the one pinned here, and with
`weights_only=True` plus an allowlist of exactly the classes those two pickles
name (ttskit's own layer classes and plain torch modules). Any other file, a
changed file, or a pickle that names anything else is refused; nothing from a
user ever goes through it. The rest are compatibility shims for the 2021 code:
keyword-only `librosa` functions and the removed `np.float`/`np.int` aliases.

ttskit's own dependency pins (PyYAML<=5.4.1, old torch) do not install next to
this project's; install it with `--no-deps` and the `[synthetic]` extra, which
lists the dependencies it really imports.
"""

from __future__ import annotations

import hashlib
import importlib
import sys
from pathlib import Path

import numpy as np

SHIPPED_SHA256 = {
    "mellotron.kuangdd-mspk.pt": "6f73e55758506da22bbe6b76ca86ea5ff559f859bca0392e51aaeb0973a7838a",
    "melgan.kuangdd.pt": "4a8cf7774077b82cb48ac0a414f0993a5b904f8c5a2e1a92ae901d506b854da0",
}
# Every global the two shipped pickles name (read with pickletools), and nothing else. The pickles use
# the top-level names `mellotron` / `melgan` that ttskit had when they were saved.
ALLOWED_GLOBALS = (
    "builtins.set", "collections.OrderedDict",
    "melgan.model.generator.Generator", "melgan.model.res_stack.ResStack",
    "mellotron.layers.ConvNorm", "mellotron.layers.LinearNorm", "mellotron.model.Attention",
    "mellotron.model.Decoder", "mellotron.model.Encoder", "mellotron.model.LocationLayer",
    "mellotron.model.Postnet", "mellotron.model.Prenet", "mellotron.model.Tacotron2",
    "torch.nn.modules.activation.LeakyReLU", "torch.nn.modules.activation.Tanh",
    "torch.nn.modules.batchnorm.BatchNorm1d", "torch.nn.modules.container.ModuleList",
    "torch.nn.modules.container.Sequential", "torch.nn.modules.conv.Conv1d",
    "torch.nn.modules.conv.ConvTranspose1d", "torch.nn.modules.linear.Linear",
    "torch.nn.modules.padding.ReflectionPad1d", "torch.nn.modules.rnn.LSTM", "torch.nn.modules.rnn.LSTMCell",
    "torch.nn.modules.sparse.Embedding", "torch.nn.utils.weight_norm.WeightNorm",
)
_ALIASES = {"mellotron": "ttskit.mellotron", "melgan": "ttskit.melgan"}
SAMPLE_RATE = 22_050
# The 24 built-in speaker names. In ttskit's multi-speaker mode a speaker vector is derived from the
# name's MD5, so other names give further (unnamed) voices.
SPEAKERS = ("Aibao", "Aicheng", "Aida", "Aijia", "Aijing", "Aimei", "Aina", "Aiqi", "Aitong", "Aiwei",
            "Aixia", "Aiya", "Aiyu", "Aiyue", "Siyue", "Xiaobei", "Xiaogang", "Xiaomei", "Xiaomeng",
            "Xiaowei", "Xiaoxue", "Xiaoyun", "Yina", "biaobei")


class UntrustedModelFile(RuntimeError):
    """A file that is not one of ttskit's own shipped model files, unchanged."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _resolve_global(name: str):
    module, _, attr = name.rpartition(".")
    top = module.split(".")[0]
    real = module.replace(top, _ALIASES[top], 1) if top in _ALIASES else module
    return getattr(importlib.import_module(real), attr)


def load_shipped_model(path: str | Path, *, model_dir: Path | None = None,
                       pinned: dict[str, str] = SHIPPED_SHA256,
                       allowed: tuple[str, ...] = ALLOWED_GLOBALS):
    """One of ttskit's own model files, unpickled with weights_only=True and a fixed class allowlist.

    `path` must lie in `model_dir` (default: the installed ttskit's resource/model), be named in
    `pinned` and have that SHA-256; otherwise UntrustedModelFile, before anything is unpickled."""
    import torch

    path = Path(path).resolve()
    model_dir = (model_dir or _ttskit_model_dir()).resolve()
    if path.parent != model_dir or path.name not in pinned:
        raise UntrustedModelFile(f"{path}: only ttskit's own shipped model files "
                                 f"({', '.join(sorted(pinned))} in {model_dir}) are ever unpickled here")
    digest = _sha256(path)
    if digest != pinned[path.name]:
        raise UntrustedModelFile(f"{path}: SHA-256 {digest[:12]}... is not the ttskit 0.3.8 file "
                                 f"({pinned[path.name][:12]}...); reinstall: pip install --no-deps "
                                 "--force-reinstall ttskit==0.3.8")
    # (object, name-in-the-pickle) pairs: the classes live under ttskit.* now but the pickles say
    # mellotron.* / melgan.*; the allowlist maps exactly those names and no others.
    safe = [(_resolve_global(name), name) for name in allowed]
    with torch.serialization.safe_globals(safe):
        return torch.load(str(path), map_location="cpu", weights_only=True)


def _ttskit_model_dir() -> Path:
    spec = importlib.util.find_spec("ttskit")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("ttskit is not installed: pip install --no-deps ttskit==0.3.8 and "
                                  "pip install -e '.[synthetic]' for the dependencies it imports")
    return Path(spec.origin).parent / "resource" / "model"


def _compat_shims() -> None:
    """What the 2021 code needs from today's numpy and librosa (positional -> keyword arguments)."""
    import librosa.filters
    import librosa.util

    for name, value in (("float", float), ("int", int), ("complex", complex), ("bool", bool)):
        if name not in np.__dict__:
            setattr(np, name, value)
    if not getattr(librosa.util.pad_center, "_liveinspect_shim", False):
        pad_center = librosa.util.pad_center

        def pad_center_positional(data, size=None, *args, **kwargs):
            return pad_center(data, *args, size=kwargs.pop("size", size), **kwargs)

        pad_center_positional._liveinspect_shim = True
        librosa.util.pad_center = pad_center_positional
    if not getattr(librosa.filters.mel, "_liveinspect_shim", False):
        mel = librosa.filters.mel

        def mel_positional(sr=None, n_fft=None, n_mels=128, fmin=0.0, fmax=None, *args, **kwargs):
            return mel(*args, sr=kwargs.pop("sr", sr), n_fft=kwargs.pop("n_fft", n_fft),
                       n_mels=kwargs.pop("n_mels", n_mels), fmin=kwargs.pop("fmin", fmin),
                       fmax=kwargs.pop("fmax", fmax), **kwargs)

        mel_positional._liveinspect_shim = True
        librosa.filters.mel = mel_positional


# The mel spectrogram ttskit's MelGAN was trained on: Mellotron's (mellotron.kuangdd-mspk.hparams.json:
# 22.05 kHz, 1024-point STFT every 256 samples, periodic Hann window, 80 Slaney mel bands 0-8000 Hz,
# natural log of the magnitude clamped at 1e-5), computed from audio peak-normalised to 0.9 as its
# training loader does. Written out in numpy so it needs neither librosa nor ttskit; the corpus build
# checks it against ttskit's own TacotronSTFT on its first clip.
MEL = {"rate": SAMPLE_RATE, "n_fft": 1024, "hop": 256, "n_mels": 80, "fmin": 0.0, "fmax": 8000.0}


def _hz_to_mel(hz):
    """The Slaney (Auditory Toolbox) mel scale: linear to 1 kHz, logarithmic above."""
    hz = np.asarray(hz, np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / log_step, hz * 3.0 / 200.0)


def _mel_to_hz(mel):
    mel = np.asarray(mel, np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * 200.0 / 3.0)


def mel_filters(rate: int = MEL["rate"], n_fft: int = MEL["n_fft"], n_mels: int = MEL["n_mels"],
                fmin: float = MEL["fmin"], fmax: float = MEL["fmax"]) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangles equally spaced in Slaney mel, each of unit area in Hz."""
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    freqs = np.linspace(0.0, rate / 2, n_fft // 2 + 1)
    rising = (freqs[None, :] - edges[:-2, None]) / np.diff(edges)[:-1, None]
    falling = (edges[2:, None] - freqs[None, :]) / np.diff(edges)[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return (weights * (2.0 / (edges[2:] - edges[:-2]))[:, None]).astype(np.float32)


def peak_normalise(audio: np.ndarray) -> np.ndarray:
    """`audio` scaled to a 0.9 peak (a peak below 0.01 scaled as if it were 0.01): the level every
    vocoder mel in these recipes is taken at."""
    return 0.9 * audio / max(float(np.max(np.abs(audio))) if len(audio) else 0.0, 0.01)


def vocoder_mel(audio: np.ndarray) -> np.ndarray:
    """(80, len // 256 + 1) log-mel of `audio` at 22.05 kHz, as ttskit's MelGAN expects it."""
    n_fft, hop = MEL["n_fft"], MEL["hop"]
    audio = np.asarray(audio, np.float64).ravel()
    audio = peak_normalise(audio)
    padded = np.pad(audio, n_fft // 2, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    magnitude = np.abs(np.fft.rfft(frames * window, axis=1)).T
    return np.log(np.maximum(mel_filters() @ magnitude, 1e-5)).astype(np.float32)


def resynthesize(audio: np.ndarray, vocoder, rate: int = 16_000) -> np.ndarray:
    """`audio` (mono float32 at `rate`) through log-mel and a MelGAN-style vocoder back to a waveform:
    copy-synthesis (WaveFake's recipe), so the words, speaker and timing are real and only the
    waveform is the vocoder's. `vocoder.inference(mel[1, 80, frames])` returns int16-scale samples,
    256 per frame, at 22.05 kHz (ttskit's MelGAN). The result has the input's length and rate."""
    import torch

    audio = np.asarray(audio, np.float32).ravel()
    at_vocoder_rate = _resample(audio, rate, SAMPLE_RATE)
    mel = torch.from_numpy(vocoder_mel(at_vocoder_rate))[None]
    with torch.no_grad():
        wave = vocoder.inference(mel).float().numpy().ravel() / 32768.0
    wave = _resample(wave[: len(at_vocoder_rate)].astype(np.float32), SAMPLE_RATE, rate)
    if len(wave) < len(audio):
        wave = np.pad(wave, (0, len(audio) - len(wave)))
    return wave[: len(audio)]


class MelganVocoder:
    """ttskit's shipped MelGAN alone (mel -> waveform), loaded like TtskitVoice's models."""

    def __init__(self) -> None:
        _compat_shims()
        for alias, real in _ALIASES.items():
            sys.modules.setdefault(alias, importlib.import_module(real))
        self._melgan = load_shipped_model(_ttskit_model_dir() / "melgan.kuangdd.pt")
        self._melgan.train(False)  # its eval() is overridden and returns None

    def inference(self, mel):
        return self._melgan.inference(mel)


def ttskit_mel(audio: np.ndarray) -> np.ndarray:
    """The same mel by ttskit's own Mellotron TacotronSTFT (to check `vocoder_mel` against)."""
    import torch

    _compat_shims()
    for alias, real in _ALIASES.items():
        sys.modules.setdefault(alias, importlib.import_module(real))
    from ttskit.mellotron.layers import TacotronSTFT

    stft = TacotronSTFT(MEL["n_fft"], MEL["hop"], MEL["n_fft"], MEL["n_mels"], MEL["rate"], MEL["fmin"],
                        MEL["fmax"])
    audio = np.asarray(audio, np.float32).ravel()
    audio = peak_normalise(audio)
    with torch.no_grad():
        return stft.mel_spectrogram(torch.from_numpy(audio)[None])[0].numpy()


class TtskitVoice:
    """Mellotron (text -> mel) + MelGAN (mel -> waveform) from the installed ttskit, on CPU."""

    def __init__(self, threads: int | None = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        _compat_shims()
        model_dir = _ttskit_model_dir()
        for alias, real in _ALIASES.items():
            sys.modules.setdefault(alias, importlib.import_module(real))
        from ttskit.mellotron.data_utils import TextMelLoader
        from ttskit.mellotron.hparams import create_hparams

        self._mellotron = load_shipped_model(model_dir / "mellotron.kuangdd-mspk.pt")
        self._melgan = load_shipped_model(model_dir / "melgan.kuangdd.pt")
        for model in (self._mellotron, self._melgan):
            model.train(False)  # MelGAN's Generator overrides eval() (and returns None)
        hparams = create_hparams((model_dir / "mellotron.kuangdd-mspk.hparams.json").read_text("utf-8"))
        self._loader = TextMelLoader(audiopaths_and_text="", hparams=hparams, speaker_ids=None, mode="test")

    def synthesize(self, text: str, speaker: str = "Aiyue", gate_threshold: float = 0.8) -> np.ndarray:
        """float32 audio at 16 kHz for one short sentence (ttskit's SDK splits longer text)."""
        import torch

        text_data, _mel, speaker_data, f0 = self._loader.get_data_inference_v2(["", text, speaker])
        with torch.no_grad():
            _mels, postnet, gates, _align = self._mellotron.inference(
                (text_data[None, :].long(), 0, speaker_data, f0))
            gate = torch.sigmoid(gates).numpy()[0]
            end = int(np.argmax(gate > gate_threshold)) or int(np.argmax(gate)) or gate.shape[0]
            wave = self._melgan.inference(postnet[:, :, :end]).float().numpy() / 32768.0  # int16 scale
        return _resample(np.asarray(wave, np.float32).ravel(), SAMPLE_RATE, 16_000)


def _resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    from scipy.signal import resample_poly

    divisor = np.gcd(rate, target)
    return resample_poly(audio, target // divisor, rate // divisor).astype(np.float32)
