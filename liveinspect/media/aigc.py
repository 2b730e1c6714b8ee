"""The implicit AI-content label (隐式标识) that generators write into a file's metadata.

Since 2025-09-01 the Measures for Labeling AI-Generated and Synthesized Content
and GB 45438-2025 ask generators to write a JSON object under the key `AIGC`
(fields Label, ContentProducer, ProduceID, ContentPropagator, PropagateID,
ReservedCode1, ReservedCode2) into the file's metadata, and distribution
platforms to read it. Vendors put it where each format keeps tags:

- MP4/MOV/M4A/MKV/WebM/FLV/MP3/FLAC: a container (or stream) tag, read here through PyAV;
- WAV: RIFF chunks (LIST/INFO values, an `id3 ` chunk, or a chunk of its own),
  which FFmpeg does not surface, so they are walked here;
- JPEG/PNG: EXIF values, XMP packets, PNG text chunks.

When none of those structured places holds it, the head and tail of the file
are searched for the JSON itself, so a tag in a box or chunk we do not parse
is still found (and said to be found "in the raw bytes").

A C2PA manifest (JUMBF boxes labelled `c2pa`) is noted when present; its
signature is not verified here.
"""

from __future__ import annotations

import html
import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

from liveinspect.errors import MediaError

# The fields GB 45438-2025 names, in its order.
AIGC_FIELDS = ("Label", "ContentProducer", "ProduceID", "ContentPropagator", "PropagateID",
               "ReservedCode1", "ReservedCode2")

# The raw-byte fallback reads this much from each end: tags sit in the header or,
# for MP4 written without faststart, in the moov box at the end.
_SCAN_BYTES = 4 * 1024 * 1024

_JPEG_MAGIC = b"\xff\xd8\xff"
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class ImplicitLabel:
    """One `AIGC` object found in a file, with where it was found."""

    fields: dict[str, str]
    where: str  # e.g. "container tag 'AIGC'", "PNG text chunk 'AIGC'", "XMP", "raw bytes at 1234"

    @property
    def label(self) -> str:
        return self.fields.get("Label", "")

    @property
    def confirmed(self) -> bool:
        """Label "1" is what vendors write for content they generated; other values (the
        standard's "possible"/"suspected" attributes) are reported as given."""
        return self.label.strip() == "1"

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in self.fields.items() if k in AIGC_FIELDS and v)
        return f"AIGC {{{shown}}} in {self.where}"


@dataclass(frozen=True)
class ProvenanceMarks:
    """What a file's metadata says about how it was made."""

    labels: list[ImplicitLabel] = field(default_factory=list)
    c2pa: str | None = None  # where a C2PA manifest was seen (not verified), or None
    problems: list[str] = field(default_factory=list)  # AIGC values that were not valid JSON objects

    @property
    def labelled(self) -> bool:
        return bool(self.labels)


def read_provenance(path: str | Path) -> ProvenanceMarks:
    """Implicit AIGC labels and C2PA manifests in a media or image file.

    Raises MediaError when the file cannot be read at all; a file without
    metadata, or one PyAV cannot open, simply yields no labels.
    """
    path = Path(path)
    try:
        with path.open("rb") as handle:
            head = handle.read(_SCAN_BYTES)
            size = path.stat().st_size
            tail = b""
            if size > _SCAN_BYTES:
                handle.seek(max(_SCAN_BYTES, size - _SCAN_BYTES))
                tail = handle.read()
    except OSError as error:
        raise MediaError(f"cannot read the file to look for AI-content labels: {error}",
                         source=str(path)) from error
    found = _Collector()
    if head.startswith(_JPEG_MAGIC) or head.startswith(_PNG_MAGIC):
        _read_image(path, head, found)
    else:
        if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
            _read_riff(head, found)
        _read_container_tags(path, found)
    if not found.labels:
        _scan_raw(head, 0, found)
        if tail:
            _scan_raw(tail, size - len(tail), found)
    c2pa = found.c2pa or _raw_c2pa(head) or _raw_c2pa(tail)
    return ProvenanceMarks(labels=found.labels, c2pa=c2pa, problems=found.problems)


def parse_aigc_value(value: str | bytes) -> dict[str, str] | None:
    """The AIGC fields in a tag value: the object itself, or one wrapped as {"AIGC": {...}}.

    Returns None when the value is not such an object; vendors differ on the
    wrapper and on whether values are strings, so numbers come back as strings.
    """
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    value = value.strip().strip("\x00")
    if not value.startswith("{"):
        return None
    try:
        data = json.loads(value)
    except json.JSONDecodeError:
        data = _first_json_object(value)
    if not isinstance(data, dict):
        return None
    inner = next((v for k, v in data.items() if k.casefold() == "aigc"), data)
    if isinstance(inner, str):  # double-encoded: "AIGC": "{\"Label\": ...}"
        return parse_aigc_value(inner)
    if not isinstance(inner, dict) or not any(k in inner for k in AIGC_FIELDS):
        return None
    return {str(k): "" if v is None else str(v) for k, v in inner.items()}


class _Collector:
    def __init__(self) -> None:
        self.labels: list[ImplicitLabel] = []
        self.problems: list[str] = []
        self.c2pa: str | None = None
        self._seen: set[tuple] = set()

    def value(self, key: str, value: str | bytes, where: str) -> None:
        """Consider one tag: an `AIGC` key must parse; any other value counts only if it does."""
        fields = parse_aigc_value(value)
        if fields is None:
            if key.strip().casefold() == "aigc":
                text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
                self.problems.append(f"{where}: AIGC value is not a JSON object with the "
                                     f"GB 45438-2025 fields: {text[:80]!r}")
            return
        identity = tuple(sorted(fields.items()))
        if identity not in self._seen:  # the same tag often sits on container and stream
            self._seen.add(identity)
            self.labels.append(ImplicitLabel(fields=fields, where=where))


def _first_json_object(text: str) -> object | None:
    """The first complete JSON object at the start of `text` (values padded by junk)."""
    try:
        data, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError:
        return None
    return data


def _read_container_tags(path: Path, found: _Collector) -> None:
    import av

    from liveinspect.media.source import open_container

    # Opened exactly as the decoder opens it (protocol whitelist, the `file:` prefix, the opener
    # that keeps an HLS playlist inside its folder, timeouts): a plain av.open here let a local
    # playlist or concat list make FFmpeg read any file on the machine while the decoder refused
    # the same source (issue 9, row 5).
    try:
        with open_container(path) as container:
            for key, value in container.metadata.items():
                found.value(key, value, f"container tag {key!r}")
            for stream in container.streams:
                for key, value in stream.metadata.items():
                    found.value(key, value, f"{stream.type} stream {stream.index} tag {key!r}")
    except (MediaError, av.error.FFmpegError, OSError, ValueError):
        return  # refused, or not a media file PyAV knows: the decoder says why; the raw scan still looks


def _read_riff(data: bytes, found: _Collector) -> None:
    """WAV: LIST/INFO values, an ID3 chunk and any chunk named AIGC (FFmpeg drops unknown keys)."""
    position = 12
    while position + 8 <= len(data):
        chunk_id, size = data[position:position + 4], struct.unpack("<I", data[position + 4:position + 8])[0]
        body = data[position + 8:position + 8 + size]
        name = chunk_id.decode("latin-1").strip()
        if chunk_id == b"LIST" and body[:4] == b"INFO":
            inner = 4
            while inner + 8 <= len(body):
                sub_id = body[inner:inner + 4].decode("latin-1")
                sub_size = struct.unpack("<I", body[inner + 4:inner + 8])[0]
                found.value(sub_id, body[inner + 8:inner + 8 + sub_size], f"WAV INFO {sub_id}")
                inner += 8 + sub_size + (sub_size & 1)
        elif name.casefold() == "aigc":
            found.value("AIGC", body, f"WAV chunk {name!r}")
        elif name.casefold() == "id3":
            _scan_raw(body, position + 8, found, where="WAV ID3 chunk")
        if chunk_id == b"data" and position + 8 + size > len(data):
            break  # the samples run past what was read; tags after them are left to the raw scan
        position += 8 + size + (size & 1)


def _read_image(path: Path, head: bytes, found: _Collector) -> None:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        return   # a bomb is refused where the picture is loaded (media/image.py); no tags from it
    with image:
        for key, value in image.info.items():
            if key in ("xmp", "XML:com.adobe.xmp"):
                _read_xmp(value, found)
            elif isinstance(value, (str, bytes)):
                where = "PNG text chunk" if image.format == "PNG" else f"{image.format} info"
                found.value(key, value, f"{where} {key!r}")
        exif = image.getexif()
        for tag, value in [*exif.items(), *exif.get_ifd(0x8769).items()]:
            _exif_value(tag, value, found)
    if head.startswith(_JPEG_MAGIC):
        found.c2pa = found.c2pa or _jpeg_c2pa(head)
    else:
        found.c2pa = found.c2pa or _png_c2pa(head)


_EXIF_NAMES = {0x010E: "ImageDescription", 0x9286: "UserComment", 0x9C9C: "XPComment",
               0x013B: "Artist", 0x8298: "Copyright", 0x0131: "Software"}


def _exif_value(tag: int, value: object, found: _Collector) -> None:
    if not isinstance(value, (str, bytes)):
        return
    if isinstance(value, bytes):
        if tag == 0x9286 and value[:8] in (b"ASCII\0\0\0", b"UNICODE\0", b"\0" * 8):
            encoding = "utf-16-be" if value[:8] == b"UNICODE\0" else "utf-8"
            value = value[8:].decode(encoding, "replace")
        elif tag == 0x9C9C:
            value = value.decode("utf-16-le", "replace")
    found.value(_EXIF_NAMES.get(tag, hex(tag)), value, f"EXIF {_EXIF_NAMES.get(tag, hex(tag))}")


# An XMP property named AIGC in any namespace (TC260:AIGC), as an attribute or an element.
_XMP_ATTRIBUTE = re.compile(r"""[\w.-]+:AIGC\s*=\s*(["'])(.*?)\1""", re.S)
_XMP_ELEMENT = re.compile(r"<([\w.-]+:AIGC)\b[^>]*>(.*?)</\1>", re.S)


def _read_xmp(packet: str | bytes, found: _Collector) -> None:
    text = packet.decode("utf-8", "replace") if isinstance(packet, bytes) else packet
    for match in _XMP_ATTRIBUTE.finditer(text):
        found.value("AIGC", html.unescape(match.group(2)), "XMP attribute AIGC")
    for match in _XMP_ELEMENT.finditer(text):
        inner = re.sub(r"<[^>]+>", "", match.group(2))  # rdf:Alt/rdf:li wrappers
        found.value("AIGC", html.unescape(inner), "XMP element AIGC")


_RAW_KEY = re.compile(rb'"?AIGC"?\s*[:=]\s*')


def _scan_raw(data: bytes, offset: int, found: _Collector, where: str = "raw bytes") -> None:
    """The JSON after an `AIGC` key anywhere in `data` (also an escaped one inside XML)."""
    for match in _RAW_KEY.finditer(data):
        start = match.end()
        window = data[start:start + 4096]
        text = window.decode("utf-8", "replace")
        if text.startswith('"{') or text.startswith("'{"):
            text = text[1:]
        text = html.unescape(text) if text.startswith("{&quot;") else text
        if text.startswith("{"):
            obj = _first_json_object(text)
            if isinstance(obj, dict):
                found.value("AIGC", json.dumps(obj), f"{where} at byte {offset + match.start()}")


def _jpeg_c2pa(data: bytes) -> str | None:
    """C2PA in JPEG lives in APP11 segments holding JUMBF boxes."""
    position = 2
    while position + 4 <= len(data) and data[position] == 0xFF:
        marker = data[position + 1]
        if marker in (0xD9, 0xDA):  # end of image / start of scan: no more metadata segments
            break
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        body = data[position + 4:position + 2 + length]
        if marker == 0xEB and b"jumb" in body and b"c2pa" in body:
            return "JPEG APP11 JUMBF manifest"
        position += 2 + length
    return None


def _png_c2pa(data: bytes) -> str | None:
    """C2PA in PNG is a `caBX` chunk."""
    position = 8
    while position + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[position:position + 8])
        if kind == b"caBX":
            return "PNG caBX chunk"
        if kind == b"IEND":
            break
        position += 12 + size
    return None


def _raw_c2pa(data: bytes) -> str | None:
    """MP4 and others carry the manifest in a JUMBF box (a `jumb` box with a `c2pa` label)."""
    at = data.find(b"jumb")
    if at >= 0 and data.find(b"c2pa", at, at + 512) >= 0:
        return f"JUMBF box at byte {at}"
    return None
