"""The implicit AIGC label read back from every container and image kind it is written into."""

from __future__ import annotations

import json
import struct
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from liveinspect.media.aigc import parse_aigc_value, read_provenance

FIELDS = {"Label": "1", "ContentProducer": "001191440300MA5XXXXX00001", "ProduceID": "gen-7f3a",
          "ContentPropagator": "", "PropagateID": "", "ReservedCode1": "", "ReservedCode2": ""}
TAG = json.dumps(FIELDS)


def _write_media(path, fmt: str, tags: dict[str, str], *, video: str | None, audio: str | None,
                 options: dict[str, str] | None = None) -> None:
    """A few frames/packets of real FFmpeg output with `tags` as container metadata."""
    with av.open(str(path), "w", format=fmt, options=options or {}) as out:
        for key, value in tags.items():
            out.metadata[key] = value
        v = a = None
        if video:
            v = out.add_stream(video, rate=5)
            v.width, v.height, v.pix_fmt = 64, 48, "yuv420p"
        if audio:
            rate = 48_000 if audio == "libopus" else 16_000
            a = out.add_stream(audio, rate=rate, layout="mono")
        if v is not None:
            for i in range(3):
                frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 40 * i, np.uint8), format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, 5)
                out.mux(v.encode(frame))
            out.mux(v.encode(None))
        if a is not None:
            planar = audio in ("aac", "libopus", "libmp3lame")
            n = a.codec_context.frame_size or 1024
            for i in range(4):
                samples = (np.sin(np.arange(n) * 0.05) * (0.3 if planar else 9000)).reshape(1, n)
                frame = av.AudioFrame.from_ndarray(samples.astype(np.float32 if planar else np.int16),
                                                   format="fltp" if planar else "s16", layout="mono")
                frame.sample_rate, frame.pts = a.codec_context.sample_rate, i * n
                out.mux(a.encode(frame))
            out.mux(a.encode(None))


CONTAINERS = [
    # (suffix, PyAV format, video codec, audio codec, muxer options)
    ("mp4", "mp4", "libx264", "aac", {"movflags": "use_metadata_tags"}),
    ("mov", "mov", "libx264", "aac", {"movflags": "use_metadata_tags"}),
    ("mkv", "matroska", "libx264", "aac", {}),
    ("webm", "webm", "libvpx", "libopus", {}),
    ("flv", "flv", "libx264", "aac", {}),
    ("mp3", "mp3", None, "libmp3lame", {}),
    ("flac", "flac", None, "flac", {}),
    ("m4a", "ipod", None, "aac", {"movflags": "use_metadata_tags"}),
]


@pytest.mark.parametrize("suffix,fmt,video,audio,options", CONTAINERS, ids=[c[0] for c in CONTAINERS])
def test_container_tag_read_back(tmp_path, suffix, fmt, video, audio, options):
    path = tmp_path / f"clip.{suffix}"
    _write_media(path, fmt, {"AIGC": TAG, "title": "demo"}, video=video, audio=audio, options=options)
    marks = read_provenance(path)
    assert marks.labelled and len(marks.labels) == 1
    label = marks.labels[0]
    assert label.fields["ContentProducer"] == FIELDS["ContentProducer"] and label.confirmed
    assert "AIGC" in label.where and "raw" not in label.where  # found as a tag, not by the byte scan


def test_untagged_container_has_no_label(tmp_path):
    path = tmp_path / "plain.mp4"
    _write_media(path, "mp4", {"title": "AIGC is a word in this title"}, video="libx264", audio="aac")
    marks = read_provenance(path)
    assert not marks.labelled and marks.c2pa is None and marks.problems == []


def test_wav_info_comment_and_own_chunk(tmp_path):
    # FFmpeg keeps only RIFF INFO keys, so a WAV writer puts the object into the comment (ICMT).
    path = tmp_path / "voice.wav"
    _write_media(path, "wav", {"comment": json.dumps({"AIGC": FIELDS})}, video=None, audio="pcm_s16le")
    marks = read_provenance(path)
    assert [label.where for label in marks.labels] == ["WAV INFO ICMT"]
    # A chunk of its own, appended after the samples, as some tools write it.
    own = tmp_path / "own.wav"
    _write_media(own, "wav", {}, video=None, audio="pcm_s16le")
    body = TAG.encode()
    chunk = b"AIGC" + struct.pack("<I", len(body)) + body + b"\0" * (len(body) & 1)
    data = bytearray(own.read_bytes()) + chunk
    data[4:8] = struct.pack("<I", len(data) - 8)
    own.write_bytes(bytes(data))
    marks = read_provenance(own)
    assert marks.labelled and marks.labels[0].where == "WAV chunk 'AIGC'"
    assert marks.labels[0].fields["ProduceID"] == "gen-7f3a"


def test_png_text_chunk_and_xmp(tmp_path):
    picture = Image.fromarray(np.zeros((16, 16, 3), np.uint8))
    info = PngInfo()
    info.add_text("AIGC", TAG)
    picture.save(tmp_path / "text.png", pnginfo=info)
    marks = read_provenance(tmp_path / "text.png")
    assert marks.labelled and marks.labels[0].where == "PNG text chunk 'AIGC'"

    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/" '
           f'TC260:AIGC="{json.dumps(FIELDS).replace(chr(34), "&quot;")}"/></rdf:RDF></x:xmpmeta>')
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    picture.save(tmp_path / "xmp.png", pnginfo=info)
    marks = read_provenance(tmp_path / "xmp.png")
    assert marks.labelled and marks.labels[0].where == "XMP attribute AIGC"


def test_jpeg_exif_user_comment_and_xmp(tmp_path):
    picture = Image.fromarray(np.full((16, 16, 3), 128, np.uint8))
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\0\0\0" + json.dumps({"AIGC": FIELDS}).encode()
    picture.save(tmp_path / "exif.jpg", exif=exif)
    marks = read_provenance(tmp_path / "exif.jpg")
    assert marks.labelled and marks.labels[0].where == "EXIF UserComment"

    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/">'
           f'<TC260:AIGC>{TAG}</TC260:AIGC></rdf:Description></rdf:RDF></x:xmpmeta>').encode()
    picture.save(tmp_path / "xmp.jpg", xmp=xmp)
    marks = read_provenance(tmp_path / "xmp.jpg")
    assert marks.labelled and marks.labels[0].where == "XMP element AIGC"

    picture.save(tmp_path / "plain.jpg")
    assert not read_provenance(tmp_path / "plain.jpg").labelled


def test_jpeg_c2pa_manifest_noted(tmp_path):
    picture = Image.fromarray(np.full((16, 16, 3), 90, np.uint8))
    picture.save(tmp_path / "base.jpg")
    data = (tmp_path / "base.jpg").read_bytes()
    # An APP11 segment with a (tiny, unsigned) JUMBF superbox labelled c2pa.
    jumbf = b"JP" + struct.pack(">HI", 1, 1) + struct.pack(">I", 30) + b"jumb" + \
        struct.pack(">I", 22) + b"jumd" + b"\0" * 16 + b"c2pa"
    segment = b"\xff\xeb" + struct.pack(">H", len(jumbf) + 2) + jumbf
    (tmp_path / "c2pa.jpg").write_bytes(data[:2] + segment + data[2:])
    marks = read_provenance(tmp_path / "c2pa.jpg")
    assert marks.c2pa == "JPEG APP11 JUMBF manifest" and not marks.labelled
    assert read_provenance(tmp_path / "base.jpg").c2pa is None


def test_malformed_aigc_value_is_a_problem_not_a_label(tmp_path):
    path = tmp_path / "bad.mkv"
    _write_media(path, "matroska", {"AIGC": "Label=1;Producer=x"}, video="libx264", audio=None)
    marks = read_provenance(path)
    assert not marks.labelled and len(marks.problems) == 1 and "AIGC" in marks.problems[0]


def test_raw_byte_fallback_finds_an_unparsed_box(tmp_path):
    # A tag in a place no parser here reads (bytes after the end of an MP3 stream).
    path = tmp_path / "odd.mp3"
    _write_media(path, "mp3", {}, video=None, audio="libmp3lame")
    path.write_bytes(path.read_bytes() + b'\0\0"AIGC": ' + json.dumps(FIELDS).encode() + b"\0")
    marks = read_provenance(path)
    assert marks.labelled and marks.labels[0].where.startswith("raw bytes at byte ")


def test_parse_aigc_value_shapes():
    assert parse_aigc_value(TAG)["Label"] == "1"
    assert parse_aigc_value(json.dumps({"AIGC": FIELDS}))["ProduceID"] == "gen-7f3a"
    assert parse_aigc_value(json.dumps({"AIGC": TAG}))["ProduceID"] == "gen-7f3a"  # double-encoded
    assert parse_aigc_value(json.dumps({"Label": 1}))["Label"] == "1"
    assert parse_aigc_value('{"title": "x"}') is None
    assert parse_aigc_value("not json") is None
