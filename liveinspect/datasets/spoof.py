"""Adapters for the public anti-spoofing and fake-image layouts, into one list of `SpoofItem`s.

- ASVspoof 2019 LA: `ASVspoof2019.LA.cm.<split>.trn/trl.txt` lines
  `SPEAKER UTTERANCE - SYSTEM KEY` (system `-` for bona fide, A01..A19);
  audio in `ASVspoof2019_LA_<split>/flac/<UTTERANCE>.flac`.
- ASVspoof 2021 LA/DF keys (`trial_metadata.txt`): `SPEAKER UTTERANCE CODEC
  TRANSMISSION ATTACK KEY ...`; audio in `flac/`.
- ASVspoof 5 protocols: `SPEAKER FILE GENDER CODEC CODEC_Q CODEC_SEED ATTACK_TAG
  ATTACK KEY ...`; audio in `flac_<split>/` or `flac/`.
- In-the-Wild: `meta.csv` with `file,speaker,label` (label `bona-fide`/`spoof`) beside the
  audio; an optional `generator` column (our shipped corpus adds one) and `split`.
- Image folders: `real/` and `fake/` (generators as subfolders of `fake/`), or the
  FaceForensics++ layout (`original_sequences/...` real, `manipulated_sequences/<Method>/...` fake)
  holding extracted frames.

Protocol lines are parsed by what the tokens are (the key is the token
`bonafide`/`spoof`, the attack is `A` + digits) rather than by column
counts, so the three ASVspoof generations share one parser.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from liveinspect.errors import DataError

BONA_FIDE = "bona-fide"
REAL_GENERATOR = "bona-fide"
_AUDIO_SUFFIXES = (".flac", ".wav", ".mp3", ".m4a", ".ogg", ".opus")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
_KEYS = {"bonafide": 0, "bona-fide": 0, "genuine": 0, "spoof": 1}
_ATTACK = re.compile(r"^A\d{2}$")
_CODECS = {"none", "alaw", "ulaw", "g722", "gsm", "opus", "pstn", "mp3m4a", "m4a", "ogg", "mp3",
           "aac", "ac3", "amr", "speex", "encodec", "flac", "-"}


@dataclass(frozen=True)
class SpoofItem:
    path: Path
    label: int  # 1 synthetic/spoof/fake, 0 bona fide/real
    generator: str  # attack id (A07), TTS name, manipulation method; "bona-fide" for real items
    speaker: str = ""
    codec: str = ""
    split: str = ""


def parse_asvspoof_line(line: str) -> dict[str, str] | None:
    """Speaker, utterance, key, attack and codec from one protocol line of any ASVspoof generation."""
    tokens = line.split()
    if len(tokens) < 3 or tokens[0].startswith("#"):
        return None
    key = next((t for t in tokens[2:] if t.lower() in _KEYS), None)
    if key is None:
        raise DataError(f"protocol line has no bonafide/spoof key: {line.strip()!r}")
    attack = next((t for t in tokens[2:] if _ATTACK.match(t)), "-")
    codec = tokens[2].lower() if tokens[2].lower() in _CODECS and tokens[2] != "-" else ""
    if len(tokens) >= 9 and codec == "" and tokens[3].lower() in _CODECS:  # ASVspoof 5: after gender
        codec = tokens[3].lower() if tokens[3] != "-" else ""
    return {"speaker": tokens[0], "utterance": tokens[1], "key": key.lower(), "attack": attack,
            "codec": codec}


def _find_audio(folder: Path, stem: str) -> Path | None:
    for suffix in _AUDIO_SUFFIXES:
        for candidate in (folder / f"{stem}{suffix}", folder / "flac" / f"{stem}{suffix}"):
            if candidate.is_file():
                return candidate
    return None


def read_asvspoof_protocol(protocol: str | Path, audio_dir: str | Path, *, split: str = "",
                           require_audio: bool = True) -> list[SpoofItem]:
    """Items of an ASVspoof 2019 LA / 2021 LA, DF / ASVspoof 5 protocol file whose audio is in `audio_dir`."""
    protocol, audio_dir = Path(protocol), Path(audio_dir)
    if not protocol.is_file():
        raise DataError(f"protocol file {protocol} does not exist")
    items, missing = [], []
    for number, line in enumerate(protocol.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            row = parse_asvspoof_line(line)
        except DataError as error:
            raise DataError(f"{protocol}:{number}: {error}") from None
        if row is None:
            continue
        path = _find_audio(audio_dir, row["utterance"])
        if path is None:
            missing.append(row["utterance"])
            if require_audio:
                continue
            path = audio_dir / f"{row['utterance']}.flac"
        label = _KEYS[row["key"]]
        items.append(SpoofItem(path=path, label=label, generator=row["attack"] if label else REAL_GENERATOR,
                               speaker=row["speaker"], codec=row["codec"], split=split))
    if require_audio and missing and not items:
        raise DataError(f"none of the {len(missing)} utterances of {protocol} is in {audio_dir} "
                        f"(first: {missing[0]}); point audio_dir at the folder holding the flac files")
    return items


def read_in_the_wild(folder_or_meta: str | Path) -> list[SpoofItem]:
    """In-the-Wild `meta.csv` (file, speaker, label), optionally with generator and split columns."""
    meta = Path(folder_or_meta)
    meta = meta / "meta.csv" if meta.is_dir() else meta
    if not meta.is_file():
        raise DataError(f"{meta} does not exist: In-the-Wild data has a meta.csv beside its audio")
    with meta.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        columns = set(reader.fieldnames or [])
        if not {"file", "label"} <= columns:
            raise DataError(f"{meta}: expected columns file,speaker,label; found {sorted(columns)}")
        items = []
        for number, row in enumerate(reader, start=2):
            key = row["label"].strip().lower()
            if key not in _KEYS:
                raise DataError(f"{meta}:{number}: label {row['label']!r} is not bona-fide or spoof")
            label = _KEYS[key]
            generator = (row.get("generator") or "").strip() or ("spoof" if label else REAL_GENERATOR)
            items.append(SpoofItem(path=meta.parent / row["file"], label=label,
                                   generator=REAL_GENERATOR if label == 0 else generator,
                                   speaker=(row.get("speaker") or "").strip(),
                                   split=(row.get("split") or "").strip()))
    return items


def _images(folder: Path) -> Iterable[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES and p.is_file())


def read_image_folders(root: str | Path) -> list[SpoofItem]:
    """Real/fake image folders (`real/`, `fake/[<generator>/]`) or the FaceForensics++ layout."""
    root = Path(root)
    items: list[SpoofItem] = []
    if (root / "original_sequences").is_dir() or (root / "manipulated_sequences").is_dir():
        for path in _images(root / "original_sequences"):
            items.append(SpoofItem(path=path, label=0, generator=REAL_GENERATOR, codec=_ffpp_quality(path)))
        manipulated = root / "manipulated_sequences"
        for method in sorted(p for p in manipulated.iterdir() if p.is_dir()) if manipulated.is_dir() else []:
            for path in _images(method):
                items.append(SpoofItem(path=path, label=1, generator=method.name, codec=_ffpp_quality(path)))
    elif (root / "real").is_dir() and (root / "fake").is_dir():
        for path in _images(root / "real"):
            items.append(SpoofItem(path=path, label=0, generator=REAL_GENERATOR))
        for path in _images(root / "fake"):
            relative = path.relative_to(root / "fake")
            generator = relative.parts[0] if len(relative.parts) > 1 else "fake"
            items.append(SpoofItem(path=path, label=1, generator=generator))
    else:
        raise DataError(f"{root}: expected real/ and fake/ folders, or FaceForensics++'s original_sequences/ "
                        "and manipulated_sequences/")
    if not items:
        raise DataError(f"{root}: no images found")
    return items


def _ffpp_quality(path: Path) -> str:
    return next((part for part in path.parts if part in ("raw", "c23", "c40")), "")


def generators(items: Iterable[SpoofItem]) -> list[str]:
    """The synthetic generators present, in first-seen order."""
    seen: dict[str, None] = {}
    for item in items:
        if item.label == 1:
            seen.setdefault(item.generator, None)
    return list(seen)
