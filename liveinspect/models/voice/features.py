"""Numpy front ends for the voice heads: 4 s windows over speech regions, and per-window statistics.

LFCCs (linear-frequency cepstra) keep the high band that mel scales squash,
where vocoders and formant synthesisers leave most of their traces; their
per-window statistics are a cheap second view beside the AASIST embedding.
Two more views come from the same short-time spectrum: phase statistics (how
far each bin's phase advance strays from what its frequency predicts, and
how phase runs across neighbouring bins: a vocoder that builds phase from a
magnitude spectrogram, or none, leaves it less coherent than a throat and a
room do) and band statistics (the long-term spectral shape and flatness in
linear bands, the high band included). A fourth, comb statistics (how
periodic the long-term spectrum is, from finer 2048-point frames), was
measured in a vocoder branch and is read by no shipped head.
`WINDOW_FEATURES` names them, so a head's card says which it reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
WINDOW_SAMPLES = 64_600  # AASIST's crop (4.04 s)


@dataclass(frozen=True)
class Window:
    """One model window cut from `region` of the source audio: samples [start, end) (end - start may
    be shorter than the window; the audio is then tiled to fill it, as AASIST was trained)."""

    start: int
    end: int
    region: int  # index of the speech region (the stretch) it came from


def speech_windows(n_samples: int, regions: list[tuple[int, int]], *, window: int = WINDOW_SAMPLES,
                   hop: int = WINDOW_SAMPLES, min_samples: int = SAMPLE_RATE // 2) -> list[Window]:
    """Windows over each speech region: `hop` apart, the last one flush with the region's end.

    Regions shorter than `min_samples` give no window (too little voice to judge)."""
    windows: list[Window] = []
    for index, (start, end) in enumerate(regions):
        start, end = max(0, start), min(n_samples, end)
        length = end - start
        if length < min_samples:
            continue
        if length <= window:
            windows.append(Window(start, end, index))
            continue
        starts = list(range(start, end - window + 1, hop))
        if starts[-1] + window < end:
            starts.append(end - window)  # cover the tail without running past the region
        windows.extend(Window(s, s + window, index) for s in starts)
    return windows


def window_batch(audio: np.ndarray, windows: list[Window], length: int = WINDOW_SAMPLES) -> np.ndarray:
    """(n, length) float32: each window's samples, tiled when shorter than `length`."""
    batch = np.zeros((len(windows), length), np.float32)
    for i, w in enumerate(windows):
        batch[i] = fit_length(audio[w.start:w.end], length)
    return batch


def fit_length(samples: np.ndarray, length: int = WINDOW_SAMPLES) -> np.ndarray:
    samples = np.asarray(samples, np.float32).ravel()
    if len(samples) == 0:
        return np.zeros(length, np.float32)
    if len(samples) >= length:
        return samples[:length]
    return np.tile(samples, -(-length // len(samples)))[:length]


def _linear_filterbank(n_filters: int, n_fft: int) -> np.ndarray:
    bins = n_fft // 2 + 1
    edges = np.linspace(0, bins - 1, n_filters + 2)
    grid = np.arange(bins)[None, :]
    left, centre, right = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (grid - left) / (centre - left)
    falling = (right - grid) / (right - centre)
    return np.clip(np.minimum(rising, falling), 0, None).astype(np.float32)


def _dct_matrix(n_in: int, n_out: int) -> np.ndarray:
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2 * n_in)) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


_N_FFT, _HOP, _FILTERS, _COEFFS = 512, 160, 30, 20
_BANK = _linear_filterbank(_FILTERS, _N_FFT)
_DCT = _dct_matrix(_FILTERS, _COEFFS)
_HANN = np.hanning(_N_FFT).astype(np.float32)
LFCC_STATS_SIZE = 4 * _COEFFS


def spectrum(samples: np.ndarray) -> np.ndarray:
    """(frames, 257) complex STFT of the window scaled to unit RMS: 32 ms Hann frames every 10 ms."""
    samples = np.asarray(samples, np.float32).ravel()
    samples = samples / (float(np.sqrt(np.mean(samples ** 2))) + 1e-8)  # level-free (loudness is no cue)
    if len(samples) < _N_FFT:
        samples = np.pad(samples, (0, _N_FFT - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples, _N_FFT)[::_HOP] * _HANN
    return np.fft.rfft(frames, axis=1)


def lfcc(samples: np.ndarray, spec: np.ndarray | None = None) -> np.ndarray:
    """(frames, 20) linear-frequency cepstral coefficients, 32 ms windows every 10 ms."""
    spec = spectrum(samples) if spec is None else spec
    power = np.abs(spec) ** 2
    return np.log(power @ _BANK.T + 1e-8) @ _DCT.T


def lfcc_stats(samples: np.ndarray, spec: np.ndarray | None = None) -> np.ndarray:
    """(80,) per-window statistics: mean and std of the LFCCs and of their frame-to-frame deltas.
    The audio is scaled to unit RMS first, so loudness is no cue; the 0th coefficient's mean is replaced
    by its spread over time (how much the level moves)."""
    coefficients = lfcc(samples, spec)
    delta = np.diff(coefficients, axis=0) if len(coefficients) > 1 else np.zeros_like(coefficients)
    stats = np.concatenate([coefficients.mean(0), coefficients.std(0), delta.mean(0), delta.std(0)])
    stats[0] = coefficients[:, 0].max() - coefficients[:, 0].min()
    return stats.astype(np.float32)


_BANDS = 8  # linear bands of 1 kHz at 16 kHz
_BIN_BAND = np.minimum(np.arange(_N_FFT // 2 + 1) * _BANDS // (_N_FFT // 2 + 1), _BANDS - 1)
_BAND_SUM = np.eye(_BANDS, dtype=np.float32)[_BIN_BAND]  # (bins, bands): sums a band's bins
# The phase a stationary tone at each bin's centre frequency advances in one hop.
_EXPECTED_ADVANCE = (2 * np.pi * _HOP * np.arange(_N_FFT // 2 + 1) / _N_FFT).astype(np.float32)
PHASE_STATS_SIZE = 3 * _BANDS
BAND_STATS_SIZE = 3 * _BANDS


def _band_means(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted mean of `values` (frames, bins) per linear band, over frames and the band's bins."""
    return ((values * weights).sum(0) @ _BAND_SUM) / (weights.sum(0) @ _BAND_SUM + 1e-8)


def phase_stats(samples: np.ndarray, spec: np.ndarray | None = None) -> np.ndarray:
    """(24,) per band: the mean |deviation| of each bin's phase advance from its centre frequency's
    (instantaneous-frequency noise), how steady that deviation is over time in each bin (resultant
    length: 1 = a steady partial, near 0 = random phase), and the mean |phase difference between
    neighbouring bins| (group-delay roughness); magnitude-weighted, so silent bins say nothing."""
    spec = spectrum(samples) if spec is None else spec
    if len(spec) < 3:
        return np.zeros(PHASE_STATS_SIZE, np.float32)
    magnitude = np.abs(spec)
    weight = np.sqrt(magnitude[1:] * magnitude[:-1])
    advance = np.angle(spec[1:] * np.conj(spec[:-1]) * np.exp(-1j * _EXPECTED_ADVANCE))
    deviation = _band_means(np.abs(advance), weight)
    # Per bin: how steady the deviation is over time (resultant length), then averaged over the band.
    per_bin_weight = weight.sum(0)
    resultant = np.abs((weight * np.exp(1j * advance)).sum(0)) / (per_bin_weight + 1e-8)
    coherence = (resultant * per_bin_weight) @ _BAND_SUM / (per_bin_weight @ _BAND_SUM + 1e-8)
    across = np.abs(np.angle(spec[:, 1:] * np.conj(spec[:, :-1])))
    across = np.concatenate([across, across[:, -1:]], axis=1)  # keep the bin count for the band map
    roughness = _band_means(across, np.sqrt(magnitude * np.roll(magnitude, -1, axis=1)))
    return np.concatenate([deviation, coherence, roughness]).astype(np.float32)


def band_stats(samples: np.ndarray, spec: np.ndarray | None = None) -> np.ndarray:
    """(24,) per band: mean log power relative to the window's mean (the long-term spectral shape),
    its spread over frames, and the mean spectral flatness (geometric / arithmetic mean power)."""
    spec = spectrum(samples) if spec is None else spec
    power = np.abs(spec) ** 2 + 1e-10
    counts = _BAND_SUM.sum(0)
    log_band = np.log(power @ _BAND_SUM / counts)
    shape = log_band.mean(0) - log_band.mean()
    spread = log_band.std(0)
    geometric = np.log(power) @ _BAND_SUM / counts
    flatness = np.exp(geometric - log_band).mean(0)
    return np.concatenate([shape, spread, flatness]).astype(np.float32)


_COMB_FFT, _COMB_HOP = 2048, 512  # 7.8 Hz bins: fine enough to resolve peaks 30 Hz apart
_COMB_HANN = np.hanning(_COMB_FFT).astype(np.float32)
_COMB_BIN_HZ = SAMPLE_RATE / _COMB_FFT
_COMB_LO, _COMB_HI = int(60 / _COMB_BIN_HZ), int(7900 / _COMB_BIN_HZ)
_COMB_SPACINGS = np.geomspace(30.0, 1000.0, 49)  # 48 log-spaced bands of peak spacing, in Hz
_COMB_QUEFRENCY_FFT = 4096
_COMB_SPACING_OF = _COMB_BIN_HZ * _COMB_QUEFRENCY_FFT / np.arange(1, _COMB_QUEFRENCY_FFT // 2 + 1)
COMB_STATS_SIZE = len(_COMB_SPACINGS) - 1 + 2


def comb_stats(samples: np.ndarray, spec: np.ndarray | None = None) -> np.ndarray:
    """(50,) how periodic the window's long-term spectrum is: the average log power spectrum (2048-point
    frames) less its 240 Hz moving average, 60 Hz-7.9 kHz, then the strongest normalised Fourier
    component of that residual per band of peak spacing (30-1000 Hz, 48 log-spaced bands), its spread,
    and the share of bins standing 2 spreads above it. Upsampling by transposed convolutions (HiFi-GAN,
    MelGAN) leaves fixed, evenly spaced peaks; a voice's harmonics move with pitch and blur over 4 s.
    `spec` is not used (this view needs finer frequency bins than the shared STFT)."""
    samples = np.asarray(samples, np.float32).ravel()
    samples = samples / (float(np.sqrt(np.mean(samples ** 2))) + 1e-8)
    if len(samples) < _COMB_FFT:
        samples = np.pad(samples, (0, _COMB_FFT - len(samples)))
    frames = np.lib.stride_tricks.sliding_window_view(samples, _COMB_FFT)[::_COMB_HOP] * _COMB_HANN
    log_power = np.log((np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(0) + 1e-8)
    smooth = np.convolve(log_power, np.ones(31) / 31, mode="same")
    residual = (log_power - smooth)[_COMB_LO:_COMB_HI]
    residual = residual - residual.mean()
    spread = float(residual.std())
    periodicity = np.abs(np.fft.rfft(residual, _COMB_QUEFRENCY_FFT))[1:] / (np.linalg.norm(residual) + 1e-8)
    peaks = [periodicity[(a <= _COMB_SPACING_OF) & (b > _COMB_SPACING_OF)].max()
             for a, b in zip(_COMB_SPACINGS[:-1], _COMB_SPACINGS[1:], strict=True)]
    return np.array([*peaks, spread, float(np.mean(residual > 2 * spread))], np.float32)


# name -> (size, function(samples, spec) -> (size,)): the numpy views a head may read beside AASIST.
WINDOW_FEATURES = {
    "lfcc_stats": (LFCC_STATS_SIZE, lfcc_stats),
    "phase_stats": (PHASE_STATS_SIZE, phase_stats),
    "band_stats": (BAND_STATS_SIZE, band_stats),
    "comb_stats": (COMB_STATS_SIZE, comb_stats),  # measured in a vocoder branch only, in no shipped head
}


def window_features(windows: np.ndarray, names: tuple[str, ...]) -> np.ndarray:
    """(n, sum of sizes) numpy features `names` of each window, one STFT per window shared by all."""
    unknown = [name for name in names if name not in WINDOW_FEATURES]
    if unknown:
        raise KeyError(f"unknown window features {unknown}; known: {sorted(WINDOW_FEATURES)}")
    size = sum(WINDOW_FEATURES[name][0] for name in names)
    out = np.zeros((len(windows), size), np.float32)
    if not names:  # a head on AASIST alone: no spectrum to compute
        return out
    for i, window in enumerate(windows):
        spec = spectrum(window)
        out[i] = np.concatenate([WINDOW_FEATURES[name][1](window, spec) for name in names])
    return out


@dataclass(frozen=True)
class StretchWindow:
    """One model window over the voiced audio of a speech stretch: the source spans it joins (the
    pauses between them are left out, as in training) and the stretch's own span, in samples."""

    pieces: tuple[tuple[int, int], ...]
    stretch: tuple[int, int]

    def samples(self, audio: np.ndarray, length: int = WINDOW_SAMPLES) -> np.ndarray:
        return fit_length(np.concatenate([audio[a:b] for a, b in self.pieces]), length)


def stretch_windows(regions: list[tuple[int, int]], *, gap: int, window: int = WINDOW_SAMPLES,
                    hop: int = WINDOW_SAMPLES, min_samples: int = SAMPLE_RATE // 2) -> list[StretchWindow]:
    """Group regions less than `gap` samples apart into stretches, join each stretch's voiced samples
    and cut windows over it: `hop` voiced samples apart when they tile it (the last flush with the end),
    ceil(voice / hop) (at least 2) spread from its start to its end when they sample it; a stretch with
    less voice than one window gives one window, tiled; one with less than `min_samples` none."""
    stretches: list[list[tuple[int, int]]] = []
    for start, end in sorted(regions):
        if stretches and start - stretches[-1][-1][1] <= gap:
            stretches[-1].append((start, end))
        else:
            stretches.append([(start, end)])
    out: list[StretchWindow] = []
    for parts in stretches:
        voiced = sum(b - a for a, b in parts)
        if voiced < min_samples:
            continue
        span = (parts[0][0], parts[-1][1])
        last = voiced - window
        if voiced <= window:
            starts = [0]
        elif hop <= window:  # windows tile the speech: `hop` apart, the last flush with the end
            starts = list(range(0, last + 1, hop))
            if starts[-1] < last:
                starts.append(last)
        else:
            # Windows sample the speech (the analyzer's default): the first at the stretch's start, the
            # last flush with its end, ceil(voice / hop) of them (at least those two) spread evenly between,
            # so a long stretch costs one window per `hop` of voice rather than one more for its tail.
            count = max(2, -(-voiced // hop))
            starts = [round(k * last / (count - 1)) for k in range(count)]
        for offset in starts:
            out.append(StretchWindow(_pieces(parts, offset, min(offset + window, voiced)), span))
    return out


def _pieces(parts: list[tuple[int, int]], lo: int, hi: int) -> tuple[tuple[int, int], ...]:
    """Source spans holding voiced samples [lo, hi) of the joined `parts`."""
    pieces, position = [], 0
    for a, b in parts:
        length = b - a
        s, e = max(lo, position), min(hi, position + length)
        if s < e:
            pieces.append((a + s - position, a + e - position))
        position += length
    return tuple(pieces)
