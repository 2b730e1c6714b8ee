"""A small HiFi-GAN-style neural vocoder, trained here on the corpus's own real training speech.

    vocoder = train_vocoder(real_clips, steps=1500)          # torch, a few minutes on 2 cores
    save_vocoder(vocoder, "out/synthetic/voice/vocoders/small_hifi.safetensors")
    fake = resynthesize_small(real_16k, load_vocoder(path))    # copy-synthesis, 16 kHz in and out

Why it exists: the corpus has one neural vocoder (ttskit's MelGAN), so a detector that must catch
vocoders it was not trained on has nothing to learn a vocoder trace from once the MelGAN family is
held out. Copy-synthesis of real speech through a second, independently built vocoder keeps the
words, speaker and timing real, so the only cue left to learn is the waveform's (Wang & Yamagishi's
recipe of training countermeasures on vocoded bona fide speech). It differs from ttskit's MelGAN in
every way that is not the idea itself: another sample rate (16 kHz, not 22.05), another mel
configuration, transposed-convolution upsampling 8-8-2-2 with multi-receptive-field residual blocks
(HiFi-GAN's generator, narrower), trained on other speech (the AMI training meetings and ARCTIC),
with multi-resolution STFT and log-mel losses only (no discriminator: Parallel WaveGAN's
pre-training stage). It is a rough vocoder: intelligible, buzzier than a GAN-trained one, a few
hundred thousand parameters.

The weights are written with safetensors (never pickled) beside a JSON of the architecture, and
retrained from the seed when absent: they are build outputs, not shipped.
"""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import numpy as np

# a sibling recipe module: importable wherever this one is (recipes/synthetic on the path)
from ttskit_voice import mel_filters, peak_normalise

SR = 16_000
MEL16 = {"rate": SR, "n_fft": 1024, "hop": 256, "n_mels": 80, "fmin": 0.0, "fmax": 8000.0}
UPSAMPLE = (8, 8, 2, 2)  # product = MEL16["hop"]
CHANNELS = 128
KERNELS = (3, 7)
DILATIONS = (1, 3)
# (n_fft, hop) for the multi-resolution STFT loss: short windows see the waveform's fine structure,
# long ones its harmonics.
STFT_RESOLUTIONS = ((256, 64), (512, 128), (1024, 256))


def _torch():
    import torch

    return torch


def build_generator(channels: int = CHANNELS):
    """mel (batch, 80, frames) -> waveform (batch, 1, frames * 256) in [-1, 1]."""
    torch = _torch()
    nn = torch.nn

    class ResBlock(nn.Module):
        def __init__(self, width: int, kernel: int):
            super().__init__()
            self.convs = nn.ModuleList(
                nn.Conv1d(width, width, kernel, dilation=d, padding=d * (kernel - 1) // 2) for d in DILATIONS)

        def forward(self, x):
            for conv in self.convs:
                x = x + conv(nn.functional.leaky_relu(x, 0.1))
            return x

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.pre = nn.Conv1d(MEL16["n_mels"], channels, 7, padding=3)
            self.ups, self.blocks = nn.ModuleList(), nn.ModuleList()
            width = channels
            for rate in UPSAMPLE:
                self.ups.append(nn.ConvTranspose1d(width, width // 2, 2 * rate, stride=rate,
                                                   padding=rate // 2))
                width //= 2
                self.blocks.append(nn.ModuleList(ResBlock(width, k) for k in KERNELS))
            self.post = nn.Conv1d(width, 1, 7, padding=3)

        def forward(self, mel):
            x = self.pre(mel)
            for up, blocks in zip(self.ups, self.blocks, strict=True):
                x = up(nn.functional.leaky_relu(x, 0.1))
                x = sum(block(x) for block in blocks) / len(blocks)
            return torch.tanh(self.post(nn.functional.leaky_relu(x, 0.1)))

    return Generator()


class LogMel:
    """log-mel in MEL16's configuration, in torch (differentiable, for the loss) and for numpy input."""

    def __init__(self):
        torch = _torch()
        self.filters = torch.from_numpy(mel_filters(SR, MEL16["n_fft"], MEL16["n_mels"], MEL16["fmin"],
                                                    MEL16["fmax"]))
        self.window = torch.hann_window(MEL16["n_fft"])

    def __call__(self, audio):
        """(batch, samples) -> (batch, 80, samples // 256 + 1)."""
        torch = _torch()
        spec = torch.stft(audio, MEL16["n_fft"], MEL16["hop"], window=self.window, center=True,
                          pad_mode="reflect", return_complex=True).abs()
        return torch.log(torch.clamp(self.filters @ spec, min=1e-5))


def stft_loss(fake, real):
    """Multi-resolution STFT loss: spectral convergence + log-magnitude L1, averaged over resolutions."""
    torch = _torch()
    total = 0.0
    for n_fft, hop in STFT_RESOLUTIONS:
        window = torch.hann_window(n_fft)
        f = torch.stft(fake, n_fft, hop, window=window, return_complex=True).abs().clamp(min=1e-7)
        r = torch.stft(real, n_fft, hop, window=window, return_complex=True).abs().clamp(min=1e-7)
        total = total + torch.linalg.norm(r - f) / torch.linalg.norm(r) + (r.log() - f.log()).abs().mean()
    return total / len(STFT_RESOLUTIONS)


@functools.cache
def _log_mel() -> LogMel:
    """One LogMel (its filter bank and window) per process, for copy-synthesis clip after clip."""
    return LogMel()


def _peak_normalise(audio: np.ndarray) -> np.ndarray:
    return peak_normalise(audio).astype(np.float32)


def build_discriminator(periods: tuple[int, ...] = (2, 3, 5, 7, 11)):
    """HiFi-GAN's multi-period discriminator, narrower: the waveform folded by each period, 2-D
    convolutions along time. Returns, per period, (score map, feature maps) for feature matching."""
    torch = _torch()
    nn = torch.nn

    class PeriodDiscriminator(nn.Module):
        def __init__(self, period: int):
            super().__init__()
            self.period = period
            widths = (1, 16, 32, 64, 64)
            self.convs = nn.ModuleList(
                nn.Conv2d(a, b, (5, 1), stride=(3, 1) if i < 3 else 1, padding=(2, 0))
                for i, (a, b) in enumerate(zip(widths, widths[1:], strict=False)))
            self.out = nn.Conv2d(widths[-1], 1, (3, 1), padding=(1, 0))

        def forward(self, wave):
            batch, length = wave.shape
            pad = (-length) % self.period
            x = nn.functional.pad(wave, (0, pad), mode="reflect").view(batch, 1, -1, self.period)
            features = []
            for conv in self.convs:
                x = nn.functional.leaky_relu(conv(x), 0.1)
                features.append(x)
            return self.out(x), features

    class MultiPeriod(nn.Module):
        def __init__(self):
            super().__init__()
            self.discriminators = nn.ModuleList(PeriodDiscriminator(p) for p in periods)

        def forward(self, wave):
            return [d(wave) for d in self.discriminators]

    return MultiPeriod()


def train_vocoder(clips: list[np.ndarray], *, steps: int = 2000, adversarial_steps: int = 0, batch: int = 12,
                  segment: int = 8192, lr: float = 2e-3, seed: int = 0, channels: int = CHANNELS,
                  progress: bool = True):
    """Fit a generator to `clips` (real speech, 16 kHz float32) by copy-synthesis of random segments:
    `steps` with the spectral losses alone, then `adversarial_steps` adding a multi-period
    discriminator (least-squares GAN and feature matching, HiFi-GAN's losses; the spectral
    losses stay, as in Parallel WaveGAN)."""
    torch = _torch()
    from tqdm import tqdm

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    if steps <= 20:  # OneCycle's 5% warm-up must be at least one step
        raise ValueError(f"train_vocoder needs more than 20 spectral steps, got {steps}")
    clips = [_peak_normalise(c) for c in clips if len(c) > segment]
    if not clips:
        raise ValueError(f"no clip is longer than one training segment ({segment} samples)")
    generator = build_generator(channels)
    mel = LogMel()

    def batches():
        while True:
            picks = rng.integers(0, len(clips), batch)
            yield torch.from_numpy(np.stack([clips[i][s:s + segment] for i in picks
                                             for s in [int(rng.integers(0, len(clips[i]) - segment))]]))

    def reconstruct(real):
        """The generator's copy of `real` from its mel."""
        return generator(mel(real)[:, :, :segment // MEL16["hop"]])[:, 0]

    def spectral_loss(fake, real):
        return stft_loss(fake, real) + (mel(fake) - mel(real)).abs().mean()

    data = batches()
    optimiser = torch.optim.AdamW(generator.parameters(), lr=lr, betas=(0.8, 0.99))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=0.05)
    bar = tqdm(range(steps), desc="small vocoder (spectral)", disable=not progress, mininterval=10)
    for _ in bar:
        real = next(data)
        loss = spectral_loss(reconstruct(real), real)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(generator.parameters(), 10.0)
        optimiser.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    spectral = loss.item()
    if adversarial_steps:
        discriminator = build_discriminator()
        g_opt = torch.optim.AdamW(generator.parameters(), lr=2e-4, betas=(0.8, 0.99))
        d_opt = torch.optim.AdamW(discriminator.parameters(), lr=2e-4, betas=(0.8, 0.99))
        bar = tqdm(range(adversarial_steps), desc="small vocoder (adversarial)", disable=not progress,
                   mininterval=10)
        for _ in bar:
            real = next(data)
            fake = reconstruct(real)
            d_loss = sum(((r - 1) ** 2).mean() + (f ** 2).mean() for (r, _), (f, _) in
                         zip(discriminator(real), discriminator(fake.detach()), strict=True))
            d_opt.zero_grad()
            d_loss.backward()
            d_opt.step()
            fake_out, real_out = discriminator(fake), discriminator(real)
            adversarial = sum(((f - 1) ** 2).mean() for f, _ in fake_out)
            matching = sum((a - b.detach()).abs().mean() for (_, fa), (_, ra) in zip(fake_out, real_out,
                                                                                     strict=True)
                           for a, b in zip(fa, ra, strict=True))
            spectral_part = spectral_loss(fake, real)  # after the discriminator's step, as it was trained
            g_loss = 4.0 * spectral_part + adversarial + 2.0 * matching
            g_opt.zero_grad()
            g_loss.backward()
            torch.nn.utils.clip_grad_norm_(generator.parameters(), 10.0)
            g_opt.step()
            spectral = spectral_part.item()
            bar.set_postfix(spectral=f"{spectral:.3f}", d=f"{d_loss.item():.3f}", refresh=False)
    generator.train(False)
    generator.final_loss = spectral
    return generator


def save_vocoder(generator, path: str | Path, *, info: dict | None = None) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in generator.state_dict().items()}, str(path))
    card = {"architecture": "small HiFi-GAN-style generator", "channels": generator.pre.out_channels,
            "upsample": list(UPSAMPLE), "mel": MEL16, **(info or {})}
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def load_vocoder(path: str | Path):
    from safetensors.torch import load_file

    path = Path(path)
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    generator = build_generator(int(card["channels"]))
    generator.load_state_dict(load_file(str(path)))  # strict: a file for another shape is refused
    generator.train(False)
    return generator


def resynthesize_small(audio: np.ndarray, generator) -> np.ndarray:
    """16 kHz speech through log-mel and the small vocoder back to 16 kHz, the input's length and level
    scale (peak-normalised like the training segments; the corpus sets every clip's loudness after).

    The output goes through a DC blocker (one pole at 0.995, about 13 Hz): the spectral losses barely
    see 0 Hz, so the generator leaves a level-dependent offset that no real recording chain passes and
    that would be a trivial cue (and would skew the corpus's RMS loudness)."""
    from scipy.signal import lfilter

    torch = _torch()
    audio = np.asarray(audio, np.float32).ravel()
    with torch.no_grad():
        mel = _log_mel()(torch.from_numpy(_peak_normalise(audio))[None])
        wave = generator(mel)[0, 0].numpy()
    wave = lfilter([1.0, -1.0], [1.0, -0.995], wave[: len(audio)].astype(np.float64))
    return np.pad(wave, (0, len(audio) - len(wave))).astype(np.float32)


def cached_vocoder(path: Path, clips: list[np.ndarray], *, steps: int, adversarial_steps: int, seed: int):
    """The vocoder at `path`, trained on `clips` and written there first when absent."""
    if path.is_file():
        return load_vocoder(path)
    started = time.time()
    generator = train_vocoder(clips, steps=steps, adversarial_steps=adversarial_steps, seed=seed)
    save_vocoder(generator, path, info={"steps": steps, "adversarial_steps": adversarial_steps, "seed": seed,
                                        "train_clips": len(clips),
                                        "train_seconds": round(sum(map(len, clips)) / SR, 1),
                                        "final_loss": round(generator.final_loss, 4),
                                        "wall_s": round(time.time() - started, 1)})
    return generator
