"""The result model: what a scan was given, what it found, and how it went.

Reports are evidence a platform keeps (Article 9), so this model is
versioned and stable: add fields, never rename them, and bump
`SCHEMA_VERSION` on any change a reader would notice.
"""

from __future__ import annotations

import json
from datetime import datetime, UTC
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# 1.1: AnalyzerStatus.details; 1.2: MediaStatus state "stopped", AnalyzerStatus failed_items/errors,
# a "text" status in every report; 1.3: Product.category is a ProductCategory (old free text mapped,
# kept in category_label), Product functions/indications/registration/aliases/t_start/t_end,
# Evidence decided_by/rule/product/product_category; TextSpan keeps a window of the source text
# (offset, source_length) instead of all of it
SCHEMA_VERSION = "1.3"


class FindingKind(StrEnum):
    absolute_term = "absolute_term"
    false_efficacy = "false_efficacy"
    false_price = "false_price"
    fake_data = "fake_data"
    misleading_claim = "misleading_claim"
    negative_list_product = "negative_list_product"
    offplatform_lure = "offplatform_lure"
    qr_code = "qr_code"
    synthetic_voice = "synthetic_voice"
    synthetic_avatar = "synthetic_avatar"
    undisclosed_synthetic_media = "undisclosed_synthetic_media"
    aigc_label = "aigc_label"  # an implicit (metadata) or explicit AI-content label was found
    aigc_declared = "aigc_declared"  # the title, profile or product list declares AI content
    unsuitable_attire = "unsuitable_attire"
    minor_protection = "minor_protection"


class Modality(StrEnum):
    speech = "speech"
    onscreen_text = "onscreen_text"
    cover = "cover"
    title = "title"
    profile = "profile"
    frame = "frame"
    audio = "audio"


class Severity(StrEnum):
    """Ordered from harmless to gravest; compare with `.rank`."""

    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = list(Severity)


class Action(StrEnum):
    """The graded measures of Articles 10 and 14, mildest first."""

    none = "none"
    popup_prompt = "popup_prompt"
    violation_warning = "violation_warning"
    traffic_restriction = "traffic_restriction"
    suspension = "suspension"

    @property
    def rank(self) -> int:
        return list(Action).index(self)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_enum_values=False)


class Box(_Model):
    """Pixel box in the frame it was found in: (x0, y0) top-left, (x1, y1) bottom-right."""

    x0: float
    y0: float
    x1: float
    y1: float

    @model_validator(mode="after")
    def _ordered(self) -> "Box":
        if self.x1 < self.x0 or self.y1 < self.y0:
            raise ValueError(f"box corners out of order: {self}")
        return self


class TextSpan(_Model):
    """A character span [start, end) inside `text`.

    `text` is a window of the source text (as it was read or heard) around
    the match, starting at character `offset` of a source of
    `source_length` characters; a short source is kept whole (offset 0).
    Quoting a window, not the whole text, keeps a report linear in its
    findings: a 36 KB description repeating a violation 1,000 times made a
    37 MB report when every finding carried all of it. Build spans with
    `TextSpan.around`.
    """

    text: str
    start: int = Field(ge=0)
    end: int = Field(ge=0)
    offset: int = Field(default=0, ge=0)
    source_length: int | None = Field(default=None, ge=0)  # None: `text` is the whole source

    @property
    def matched(self) -> str:
        return self.text[self.start:self.end]

    @property
    def source_start(self) -> int:
        return self.offset + self.start

    @property
    def source_end(self) -> int:
        return self.offset + self.end

    @classmethod
    def around(cls, text: str, start: int, end: int, *, context: int = 80,
               max_match: int = 400) -> "TextSpan":
        """The span [start, end) of `text`, keeping `context` characters on each side.

        A match longer than `max_match` characters is cut there (its window
        then ends at the cut); `source_start`/`source_end` give the span in
        the full text either way.
        """
        if not 0 <= start <= end <= len(text):
            raise ValueError(f"span [{start}, {end}) outside text of length {len(text)}")
        shown_end = min(end, start + max_match)
        lo, hi = max(0, start - context), min(len(text), shown_end + context)
        if lo == 0 and hi == len(text):
            return cls(text=text, start=start, end=end)
        return cls(text=text[lo:hi], start=start - lo, end=shown_end - lo, offset=lo,
                   source_length=len(text))

    @model_validator(mode="after")
    def _inside(self) -> "TextSpan":
        if not (self.start <= self.end <= len(self.text)):
            raise ValueError(f"span [{self.start}, {self.end}) outside text of length {len(self.text)}")
        if self.source_length is not None and self.offset + len(self.text) > self.source_length:
            raise ValueError(f"window at {self.offset} of {len(self.text)} characters runs past a "
                             f"source of {self.source_length}")
        return self


class Evidence(_Model):
    """Where a finding was seen or heard; only the parts that apply are set."""

    text: TextSpan | None = None
    frame_index: int | None = None
    box: Box | None = None
    audio_span: tuple[float, float] | None = None
    payload: str | None = None  # e.g. a decoded QR code
    thumbnail: str | None = None  # path relative to the report folder
    matched_term: str | None = None  # the lexicon entry or prompt that matched
    category: str | None = None  # e.g. negative-list category id
    # Which source of evidence decided the finding: "lexicon", "ngram", "encoder", "ngram+encoder"
    # (the combined classifier), "category_rule"; and the rule that applied, if any (e.g.
    # "product_rules:health_food:beyond_approved:blood_pressure", "product_rules:strict").
    decided_by: str | None = None
    rule: str | None = None
    product: str | None = None  # the product the text was read as being about
    product_category: str | None = None  # its ProductCategory


class Finding(_Model):
    kind: FindingKind
    modality: Modality
    t_start: float | None = None  # broadcast seconds; None for title, profile, cover
    t_end: float | None = None
    evidence: Evidence = Field(default_factory=Evidence)
    score: float = Field(ge=0.0, le=1.0)
    model: str
    model_version: str
    articles: list[str] = Field(default_factory=list)
    severity: Severity = Severity.medium
    action: Action = Action.none
    message: str = ""  # one human sentence: what is wrong


class TextItem(_Model):
    """One piece of text that analyzers read or heard, for the text analyzer and the report."""

    modality: Modality
    text: str
    t_start: float | None = None
    t_end: float | None = None
    frame_index: int | None = None
    box: Box | None = None
    source: str = ""  # the analyzer that produced it
    words: list[tuple[str, float, float]] | None = None  # word timings, speech only


class ProductCategory(StrEnum):
    """What is sold decides which claims are lawful (policy/product_rules.yaml)."""

    ordinary_food = "ordinary_food"
    health_food = "health_food"  # registered 保健食品 ("blue hat"): its approved functions only
    cosmetic = "cosmetic"  # ordinary cosmetic
    special_cosmetic = "special_cosmetic"  # special-use cosmetic: its registered efficacy
    drug_otc = "drug_otc"
    drug_prescription = "drug_prescription"
    medical_device = "medical_device"
    alcohol = "alcohol"
    tobacco = "tobacco"
    financial = "financial"
    other = "other"


# Free-text categories that product lists used before ProductCategory, and common synonyms.
_CATEGORY_WORDS = {
    ProductCategory.ordinary_food: ("food", "foods", "食品", "普通食品", "农产品", "零食", "饮料", "snack",
                                    "snacks", "drink", "drinks", "beverage", "grocery", "groceries"),
    ProductCategory.health_food: ("保健食品", "保健品", "蓝帽子", "health food", "health_food",
                                  "dietary supplement", "supplement", "supplements"),
    ProductCategory.cosmetic: ("cosmetics", "cosmetic", "化妆品", "普通化妆品", "护肤品", "彩妆", "skincare",
                               "skin care", "makeup", "beauty"),
    ProductCategory.special_cosmetic: ("特殊化妆品", "特殊用途化妆品", "special cosmetic",
                                       "special-use cosmetic", "special use cosmetic"),
    ProductCategory.drug_otc: ("非处方药", "otc", "otc drug", "药品", "drug", "drugs", "medicine"),
    ProductCategory.drug_prescription: ("处方药", "prescription drug", "prescription", "rx"),
    ProductCategory.medical_device: ("医疗器械", "medical device", "medical devices"),
    ProductCategory.alcohol: ("酒", "酒类", "白酒", "红酒", "啤酒", "alcohol", "wine", "liquor", "spirits",
                              "beer"),
    ProductCategory.tobacco: ("烟草", "香烟", "电子烟", "tobacco", "cigarettes", "e-cigarette", "vape"),
    ProductCategory.financial: ("金融", "金融产品", "理财", "基金", "保险", "financial", "finance", "fund",
                                "insurance", "investment"),
    ProductCategory.other: ("其他", "other", "general", "日用品", "家居", "服饰", "clothing", "household",
                            "electronics"),
}
_CATEGORY_BY_WORD = {word: category for category, words in _CATEGORY_WORDS.items() for word in words}


def product_category(text: str) -> ProductCategory | None:
    """The ProductCategory a free-text category names (an id, or a word such as "cosmetics",
    "保健食品"), or None when it names none of them."""
    key = " ".join(text.strip().casefold().replace("_", " ").split())
    for candidate in (key, key.replace(" ", "_")):
        if candidate in ProductCategory.__members__:
            return ProductCategory(candidate)
    return _CATEGORY_BY_WORD.get(key)


class Product(_Model):
    """A product on sale. `category` decides which claims about it are lawful; without one the text
    check reads claims strictly (as for an ordinary product). A free-text category from an older
    product list is mapped (`cosmetics` -> cosmetic) and kept in `category_label`; text that names
    no category becomes `other`."""

    name: str
    category: ProductCategory | None = None
    price: float | None = None
    description: str = ""
    category_label: str | None = None  # the free text the category was read from
    functions: list[str] = Field(default_factory=list)  # approved health-food / special-cosmetic functions
    indications: list[str] = Field(default_factory=list)  # approved drug or device indications
    registration: str | None = None  # registration or filing number (注册证号 / 备案号)
    aliases: list[str] = Field(default_factory=list)  # other names the presenter uses for it
    t_start: float | None = None  # broadcast seconds while it is presented, when known
    t_end: float | None = None

    @model_validator(mode="before")
    @classmethod
    def _free_text_category(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("category"), str):
            text = data["category"]
            category = product_category(text)
            if category is None or category.value != text:
                data = {**data, "category": (category or ProductCategory.other).value}
                data.setdefault("category_label", text)
        return data


class Broadcast(_Model):
    """What to inspect: the media `source` (file path or URL; "" for metadata only) and the live
    room's listing: title, cover image, account name, profile and products."""

    source: str
    title: str = ""
    cover: str | None = None
    account_name: str = ""
    profile: str = ""
    products: list[Product] = Field(default_factory=list)


class AnalyzerStatus(_Model):
    name: str
    state: Literal["ran", "skipped", "failed"]
    reason: str = ""
    model: str = ""
    model_version: str = ""
    items: int = 0
    seconds: float = 0.0
    # What the analyzer observed that is not a finding, e.g. presenter presence on screen.
    details: dict[str, Any] = Field(default_factory=dict)
    # Items (frames, speech chunks, segments) the analyzer could not inspect, and the first errors.
    failed_items: int = 0
    errors: list[str] = Field(default_factory=list)


class MediaStatus(_Model):
    # partial: the source stopped decoding midway; stopped: the caller stopped the scan (a cancelled
    # job, a signal) and everything before `stopped_at` was inspected.
    state: Literal["complete", "partial", "stopped", "failed", "none"]
    duration_s: float = 0.0
    segments: int = 0
    frames: int = 0
    message: str = ""
    stopped_at: float | None = None


class Verdict(_Model):
    severity: Severity
    action: Action
    by_article: dict[str, int] = Field(default_factory=dict)
    by_kind: dict[str, int] = Field(default_factory=dict)


class Report(_Model):
    """Everything one scan found, with its evidence, the analyzers that ran (and what they could not
    inspect), the media's state and the policy's verdict; `to_json()` is report.json."""

    schema_version: str = SCHEMA_VERSION
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    tool_version: str = ""
    broadcast: Broadcast
    media: MediaStatus = Field(default_factory=lambda: MediaStatus(state="none"))
    findings: list[Finding] = Field(default_factory=list)
    texts: list[TextItem] = Field(default_factory=list)
    analyzers: list[AnalyzerStatus] = Field(default_factory=list)
    verdict: Verdict | None = None
    timings: dict[str, float] = Field(default_factory=dict)

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, data: str | bytes) -> "Report":
        return cls.model_validate_json(data)


def report_json_schema() -> dict:
    """The JSON Schema of `Report`, for consumers in other languages."""
    return Report.model_json_schema()


def write_json_schema(path: str | Path) -> Path:
    path = Path(path)
    path.write_text(json.dumps(report_json_schema(), indent=2, ensure_ascii=False), encoding="utf-8")
    return path
