"""Request bodies of the HTTP API, as pydantic models (they are also the OpenAPI schema)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from liveinspect.schema import Modality, Product, Severity

# Where a text came from -> the modality its findings carry. Comments and captions are shown in
# the live room's picture, so they are on-screen text; the rest name a modality of their own.
TEXT_SOURCES: dict[str, Modality] = {
    "title": Modality.title,
    "profile": Modality.profile,
    "account": Modality.profile,
    "product": Modality.title,
    "product_list": Modality.title,
    "comment": Modality.onscreen_text,
    "caption": Modality.onscreen_text,
    "ocr": Modality.onscreen_text,
    "onscreen_text": Modality.onscreen_text,
    "speech": Modality.speech,
    "transcript": Modality.speech,
    "asr": Modality.speech,
    "cover": Modality.cover,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextIn(_Strict):
    text: str = Field(max_length=20_000, description="the text as shown or said")
    source: str = Field("title", max_length=40, description="where it came from: " + ", ".join(TEXT_SOURCES))
    t_start: float | None = Field(None, ge=0, description="broadcast seconds, for speech and captions")
    t_end: float | None = Field(None, ge=0)


class TextRequest(_Strict):
    items: list[TextIn] = Field(min_length=1, max_length=256)


class BroadcastIn(_Strict):
    title: str = Field("", max_length=2_000)
    cover_url: str | None = Field(None, max_length=4_096, description="http(s) URL of the cover image")
    account: str = Field("", max_length=500, description="the account (live room) name")
    profile: str = Field("", max_length=5_000)
    products: list[Product] = Field(default_factory=list, max_length=500)


class JobRequest(_Strict):
    source: str = Field(
        max_length=4_096, description="http(s) file or HLS (.m3u8) URL, or rtmp(s) stream URL"
    )
    broadcast: BroadcastIn = Field(default_factory=BroadcastIn)
    callback_url: str | None = Field(
        None, max_length=4_096, description="receives signed POSTs on state changes and findings"
    )
    callback_min_severity: Severity = Field(
        Severity.low,
        description="findings below this are not called back (they are still stored and streamed)",
    )
    max_duration: float | None = Field(None, gt=0, description="stop after this many media seconds")
    key_broadcast: bool = Field(False, description="a key broadcast (Art. 14): kept for the longest term")


ImageModality = Literal["cover", "frame"]

MULTIPART_JOB_SCHEMA = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": "the recording"},
        "broadcast": {"type": "string", "description": "JSON object: title, account, profile, products"},
        "cover": {"type": "string", "format": "binary", "description": "the cover image"},
        "callback_url": {"type": "string"},
        "callback_min_severity": {"type": "string", "enum": [s.value for s in Severity]},
        "max_duration": {"type": "number", "exclusiveMinimum": 0},
        "key_broadcast": {"type": "boolean"},
    },
}
