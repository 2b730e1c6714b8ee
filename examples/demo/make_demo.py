"""Generate the liveinspect demo broadcast: demo.mp4, cover.png, broadcast.yaml and its ground truth.

The demo is a ~55 s stylised live-stream selling a face cream. Violations of the
2021 Online Live Marketing Management Measures are planted at known times in
speech, on-screen banners, captions, a QR code, the cover, the title and the
profile; clean (and near-miss) parts sit between them. Everything the tests
and docs rely on (times, texts, kinds) is written to truth.json from the same
scene list that drives the rendering, so the two cannot drift apart.

Regenerate with:  .venv/bin/python examples/demo/make_demo.py [--out DIR]
Needs: Debian `espeak-ng` and `fonts-noto-cjk`; Python `av`, `pillow`,
`qrcode`, `matplotlib`, `numpy`, `pyyaml`. Output is deterministic.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

HERE = Path(__file__).resolve().parent
FONT_REGULAR = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
FONT_BOLD = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
WIDTH, HEIGHT, FPS = 854, 480, 12
SAMPLE_RATE = 16_000
VOICE, WORDS_PER_MINUTE = "en-us", 140
SPEECH_LEAD_S = 0.4  # silence before each line, so scene cuts never clip a word
SCENE_TAIL_S = 0.9  # silence after each line
CAPTION_HOLD_S = 0.6  # captions stay up a little after the voice stops
NOISE_SEED = 20210525  # the Measures took effect on 25 May 2021
QR_PAYLOAD = "https://u.wechat.com/EXAMPLEdemo123"
MAX_DURATION_S = 59.0

TITLE = "全网第一好用的面霜 限时秒杀"
PROFILE = "专业护肤 加微信 vx: skin_888 领券"
ACCOUNT = "小美护肤直播间"
COVER_TITLE = "国家级品质 三天见效"
COVER_TITLE_EN = "National-grade quality · results in 3 days"
PRODUCTS = [
    {"name": "保湿面霜 50g", "category": "cosmetics", "price": 99.0},
    {"name": "温和洁面乳 100ml", "category": "cosmetics", "price": 59.0},
]


@dataclass(frozen=True)
class Scene:
    """One shot: a spoken line (captioned in Chinese and English), optionally a banner and a QR code.

    `*_kinds` empty means that part is clean; the first kind is the expected
    primary finding kind, the rest are also acceptable labels for it.
    """

    name: str
    speech: str  # what is said, and the English caption
    caption_zh: str
    spoken_as: str | None = None  # respelling fed to espeak-ng where its default pronunciation is unclear
    speech_kinds: tuple[str, ...] = ()
    banner_zh: str | None = None
    banner_en: str | None = None
    banner_kinds: tuple[str, ...] = ()
    qr_payload: str | None = None
    min_seconds: float = 4.0
    speech_note: str = ""  # why the spoken line (and its caption) is or is not a violation
    banner_note: str = ""


SCENES = [
    Scene("welcome", "Welcome to our live room. Today we introduce a moisturising face cream.",
          "欢迎来到直播间 今天介绍一款保湿面霜",
          banner_zh="欢迎来到直播间", banner_en="Welcome to our live room"),
    Scene("best_in_world", "This is the best cream in the world, number one on the whole internet.",
          "这是全世界最好的面霜 全网第一", speech_kinds=("absolute_term",),
          speech_note="superlatives: best in the world, number one on the whole internet"),
    Scene("lowest_price", "The texture is light and it absorbs quickly.", "质地轻薄 吸收很快",
          banner_zh="全网最低价 原价¥999 直播间¥99", banner_en="Lowest price online: was ¥999, now ¥99",
          banner_kinds=("false_price", "absolute_term"),
          banner_note="invented reference price and 'lowest on the whole internet'"),
    # espeak-ng mispronounces "eczema" (Whisper hears "a maximum"); "skin disease" comes through.
    Scene("cures_disease", "It can cure any skin disease in three days, guaranteed.",
          "三天治好各种皮肤病 保证有效",
          speech_kinds=("false_efficacy", "misleading_claim"),
          speech_note="medical efficacy claim for a cosmetic, with a guarantee"),
    Scene("sales_number", "Please read the ingredients list on the box.", "请查看包装盒上的成分表",
          banner_zh="已售10万件 销量第一", banner_en="100,000 sold · No. 1 in sales",
          banner_kinds=("fake_data", "absolute_term"), banner_note="unverifiable sales figure and ranking"),
    Scene("wechat_qr", "Add me on WeChat to get a private discount.", "加我微信 私下给你优惠",
          spoken_as="Add me on Wee-chat, to get a private discount.",  # plain "WeChat" is heard as "we can't"
          speech_kinds=("offplatform_lure",), qr_payload=QR_PAYLOAD, min_seconds=8.0,
          speech_note="invites viewers to trade outside the platform"),
    Scene("v_xin_banner", "A small amount is enough for the whole face.", "一点点就够涂全脸",
          banner_zh="加V信: abc12345 私聊下单", banner_en="Add V-chat: abc12345 · order in private",
          banner_kinds=("offplatform_lure",),
          banner_note="'V信' is a common evasion spelling of 微信 (WeChat)"),
    Scene("near_miss_gift", "It feels soft and moisturising on dry skin.", "干性皮肤用着也很柔软滋润",
          banner_zh="这款面霜很滋润 第一次下单的朋友有小礼物",
          banner_en="Very moisturising · a small gift for first-time buyers",
          banner_note="near miss: '第一' inside '第一次' (first time) is not a ranking claim"),
    Scene("e_cigarette", "We also have a new electronic cigarette flavour today.", "今天还有电子烟新口味",
          speech_kinds=("negative_list_product",),
          speech_note="e-cigarettes may not be sold in live marketing",
          banner_zh="电子烟 新口味",
          banner_en="E-cigarette · new flavour", banner_kinds=("negative_list_product",),
          banner_note="e-cigarettes may not be sold in live marketing"),
    Scene("goodbye", "Thank you for watching. See you next time.", "感谢观看 下次再见",
          banner_zh="感谢观看 下次再见", banner_en="Thanks for watching"),
]

# Always-on text on the set: clean, and a detector must not flag it.
STATIC_TEXTS = ["直播中 LIVE", "保湿面霜", "Moisturising Cream"]

REQUIRED_MODULES = {"av": "av", "numpy": "numpy", "PIL": "pillow", "qrcode": "qrcode",
                    "matplotlib": "matplotlib", "yaml": "pyyaml"}


def check_tools() -> None:
    """Fail early, saying exactly what to install, instead of half-writing the demo."""
    problems = []
    if shutil.which("espeak-ng") is None:
        problems.append("espeak-ng not found: apt-get install espeak-ng")
    for font in (FONT_REGULAR, FONT_BOLD):
        if not font.is_file():
            problems.append(f"{font} missing: apt-get install fonts-noto-cjk")
    for module, package in REQUIRED_MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            problems.append(f"Python module {module!r} missing: pip install {package}")
    if problems:
        sys.exit("make_demo.py cannot run:\n  " + "\n  ".join(problems))


# ---------------------------------------------------------------- audio

def synthesize(text: str, workdir: Path):
    """Speak `text` with espeak-ng and return mono float32 samples at SAMPLE_RATE."""
    import av
    import numpy as np

    wav_path = workdir / "line.wav"
    subprocess.run(["espeak-ng", "-v", VOICE, "-s", str(WORDS_PER_MINUTE), "-w", str(wav_path), text],
                   check=True)
    with wave.open(str(wav_path)) as wav:
        rate, raw = wav.getframerate(), wav.readframes(wav.getnframes())
    samples = np.frombuffer(raw, dtype=np.int16)[None, :]
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks = [f.to_ndarray()[0] for f in resampler.resample(frame) + resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


def voiced_bounds(samples) -> tuple[float, float]:
    """Seconds of the first and last sample above 2 % of the peak: where the voice really is."""
    import numpy as np

    loud = np.flatnonzero(np.abs(samples) > 0.02 * np.abs(samples).max())
    return loud[0] / SAMPLE_RATE, (loud[-1] + 1) / SAMPLE_RATE


@dataclass
class Timing:
    start: float
    end: float
    speech_start: float
    speech_end: float

    @property
    def caption(self) -> tuple[float, float]:
        return max(self.start, self.speech_start - 0.2), min(self.end, self.speech_end + CAPTION_HOLD_S)


def build_audio(workdir: Path):
    """Lay the spoken lines end to end; return the soundtrack and each scene's timing."""
    import numpy as np

    timings, pieces, cursor = [], [], 0.0
    for scene in SCENES:
        line = synthesize(scene.spoken_as or scene.speech, workdir)
        lead = np.zeros(round(SPEECH_LEAD_S * SAMPLE_RATE), np.float32)
        seconds = max(scene.min_seconds, SPEECH_LEAD_S + len(line) / SAMPLE_RATE + SCENE_TAIL_S)
        total = round(seconds * SAMPLE_RATE)
        piece = np.zeros(total, np.float32)
        piece[: len(lead) + len(line)] = np.concatenate([lead, line])
        v0, v1 = voiced_bounds(line)
        timings.append(Timing(cursor, cursor + total / SAMPLE_RATE,
                              cursor + SPEECH_LEAD_S + v0, cursor + SPEECH_LEAD_S + v1))
        pieces.append(piece)
        cursor += total / SAMPLE_RATE
    # A faint, seeded room-noise floor: real streams are never digitally silent.
    track = np.concatenate(pieces)
    track += np.random.default_rng(NOISE_SEED).normal(0, 0.002, track.shape).astype(np.float32)
    return np.clip(track * 0.9, -1, 1), timings


# ---------------------------------------------------------------- pictures

def font(size: int, bold: bool = False):
    from PIL import ImageFont

    return ImageFont.truetype(str(FONT_BOLD if bold else FONT_REGULAR), size)


def draw_centered(draw, text: str, center_x: int, top: int, size: int, max_width: int,
                  fill, bold: bool = False, stroke: int = 0) -> None:
    """Draw one line centred at `center_x`, shrinking the font until it fits `max_width`."""
    while True:
        face = font(size, bold)
        x0, _, x1, _ = draw.textbbox((0, 0), text, font=face, stroke_width=stroke)
        if x1 - x0 <= max_width or size <= 12:
            break
        size -= 2
    draw.text((center_x - (x1 - x0) // 2, top), text, font=face, fill=fill,
              stroke_width=stroke, stroke_fill=(0, 0, 0))


def draw_product_box(draw, x0: int, y0: int, w: int, h: int, scale: float = 1.0) -> None:
    draw.rectangle((x0, y0, x0 + w, y0 + h), fill=(250, 245, 238), outline=(120, 90, 70), width=3)
    draw.rectangle((x0, y0, x0 + w, y0 + int(h * 0.22)), fill=(214, 112, 140))
    radius, cx, top = int(26 * scale), x0 + w // 2, y0 + int(h * 0.28)
    draw.ellipse((cx - radius, top, cx + radius, top + 2 * radius), fill=(240, 200, 215),
                 outline=(180, 90, 120), width=2)
    draw_centered(draw, STATIC_TEXTS[1], x0 + w // 2, y0 + int(h * 0.55), int(30 * scale), w - 12,
                  (60, 30, 40), bold=True)
    draw_centered(draw, STATIC_TEXTS[2], x0 + w // 2, y0 + int(h * 0.78), int(16 * scale), w - 12,
                  (60, 30, 40))


def render_set():
    """The unchanging studio: wall, shelves, table, presenter photo and the product box."""
    import random

    from matplotlib import cbook
    from PIL import Image, ImageDraw

    rng = random.Random(7)
    canvas = Image.new("RGB", (WIDTH, HEIGHT))
    draw = ImageDraw.Draw(canvas)
    for y in range(HEIGHT):  # warm wall gradient
        shade = 236 - y * 40 // HEIGHT
        draw.line((0, y, WIDTH, y), fill=(shade, shade - 16, shade - 30))
    for shelf_y in (170, 255, 340):
        draw.rectangle((560, shelf_y, 840, shelf_y + 8), fill=(140, 100, 70))
        x = 570
        while x < 820:  # bottles on the shelf
            bw, bh = rng.randint(18, 30), rng.randint(34, 62)
            colour = rng.choice([(230, 150, 170), (160, 200, 230), (250, 250, 250), (200, 230, 190)])
            draw.rounded_rectangle((x, shelf_y - bh, x + bw, shelf_y), radius=5, fill=colour,
                                   outline=(90, 90, 90))
            x += bw + rng.randint(8, 16)
    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as photo:
        presenter = photo.convert("RGB").resize((235, 275), Image.Resampling.LANCZOS)
    canvas.paste(presenter, (70, 118))
    draw.rectangle((0, 360, WIDTH, HEIGHT), fill=(120, 84, 60))  # table top
    draw_product_box(draw, 360, 206, 170, 170)
    return canvas


def make_qr_image(payload: str, side: int):
    import qrcode
    from PIL import Image

    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=3)
    code.add_data(payload)
    code.make(fit=True)
    return code.make_image(fill_color="black", back_color="white").get_image().convert("RGB").resize(
        (side, side), Image.Resampling.NEAREST)


def render_frame(base, scene: Scene, show_caption: bool, live_dot_on: bool):
    from PIL import Image, ImageDraw

    frame = base.copy()
    draw = ImageDraw.Draw(frame)
    if scene.banner_zh:
        draw.rectangle((0, 0, WIDTH, 104), fill=(196, 18, 36))
        draw_centered(draw, scene.banner_zh, WIDTH // 2, 2, 48, WIDTH - 30, (255, 236, 0), True, 2)
        draw_centered(draw, scene.banner_en or "", WIDTH // 2, 66, 26, WIDTH - 30, (255, 255, 255), True, 1)
    draw.rounded_rectangle((10, 112, 150, 144), radius=8, fill=(30, 30, 30))
    draw.ellipse((20, 121, 34, 135), fill=(255, 40, 40) if live_dot_on else (90, 30, 30))
    draw.text((40, 114), STATIC_TEXTS[0], font=font(20, True), fill=(255, 255, 255))
    if scene.qr_payload:
        frame.paste(make_qr_image(scene.qr_payload, 220), (600, 120))
    if show_caption:
        band = Image.new("RGB", (WIDTH, 92), (0, 0, 0))
        frame.paste(Image.blend(frame.crop((0, HEIGHT - 92, WIDTH, HEIGHT)), band, 0.8), (0, HEIGHT - 92))
        draw_centered(draw, scene.caption_zh, WIDTH // 2, HEIGHT - 90, 34, WIDTH - 30, (255, 255, 255), True)
        draw_centered(draw, scene.speech, WIDTH // 2, HEIGHT - 40, 24, WIDTH - 30, (255, 255, 120))
    return frame


def render_cover(path: Path) -> None:
    from PIL import Image, ImageDraw

    cover = Image.new("RGB", (720, 960))
    draw = ImageDraw.Draw(cover)
    for y in range(960):
        draw.line((0, y, 720, y), fill=(255, 228 - y * 60 // 960, 236 - y * 40 // 960))
    draw.rectangle((0, 40, 720, 230), fill=(196, 18, 36))
    draw_centered(draw, COVER_TITLE, 360, 52, 72, 680, (255, 236, 0), True, 3)
    draw_centered(draw, COVER_TITLE_EN, 360, 160, 34, 680, (255, 255, 255), True, 1)
    draw_product_box(draw, 190, 330, 340, 340, scale=2.0)
    draw_centered(draw, f"{ACCOUNT} · {PRODUCTS[0]['name']}", 360, 780, 40, 680, (90, 30, 50), True)
    cover.save(path, optimize=True)


# ---------------------------------------------------------------- muxing

def encode(video_path: Path, track, timings: list[Timing]) -> None:
    """Write H.264 + AAC with PyAV; frames are cached per visual state, as most repeat."""
    import av

    base, cache = render_set(), {}
    with av.open(str(video_path), "w", format="mp4") as container:
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        video.options = {"crf": "30", "preset": "slow", "g": str(FPS * 2)}
        video.codec_context.thread_count = 1  # one thread keeps the bitstream reproducible
        audio = container.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        audio.bit_rate = 40_000
        n_frames = round(timings[-1].end * FPS)
        for index in range(n_frames):
            t = index / FPS
            scene_no = next(i for i, tm in enumerate(timings) if t < tm.end or i == len(timings) - 1)
            c0, c1 = timings[scene_no].caption
            key = (scene_no, c0 <= t < c1, int(t * 2) % 2 == 0)
            if key not in cache:
                cache[key] = render_frame(base, SCENES[scene_no], key[1], key[2])
            frame = av.VideoFrame.from_image(cache[key])
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        block = 1024  # AAC frame size
        for start in range(0, len(track), block):
            chunk = track[None, start:start + block]
            frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE, start
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))


# ---------------------------------------------------------------- ground truth

def build_truth(timings: list[Timing]) -> dict:
    violations, clean = [], []

    def add(kinds: tuple[str, ...], entry: dict) -> None:
        if kinds:
            violations.append({"id": f"V{len(violations) + 1:02d}", "kind": kinds[0], "kinds": list(kinds),
                               **entry})
        else:
            clean.append({"id": f"C{len(clean) + 1:02d}", **entry})

    for scene, tm in zip(SCENES, timings, strict=True):
        spoken = {"scene": scene.name, "note": scene.speech_note}
        add(scene.speech_kinds, {"modality": "speech", "t_start": round(tm.speech_start, 2),
                                 "t_end": round(tm.speech_end, 2), "text": scene.speech, **spoken})
        c0, c1 = tm.caption
        add(scene.speech_kinds, {"modality": "onscreen_text", "t_start": round(c0, 2),
                                 "t_end": round(c1, 2), "text": scene.caption_zh, "text_en": scene.speech,
                                 "where": "caption", **spoken})
        if scene.banner_zh:
            add(scene.banner_kinds, {"modality": "onscreen_text", "t_start": round(tm.start, 2),
                                     "t_end": round(tm.end, 2), "text": scene.banner_zh,
                                     "text_en": scene.banner_en, "where": "banner", "scene": scene.name,
                                     "note": scene.banner_note})
        if scene.qr_payload:
            add(("qr_code", "offplatform_lure"), {"modality": "frame", "t_start": round(tm.start, 2),
                                                  "t_end": round(tm.end, 2), "text": scene.qr_payload,
                                                  "payload": scene.qr_payload, "where": "qr_code",
                                                  "scene": scene.name, "note": "QR code to a WeChat profile"})
    meta = [("title", TITLE, ("absolute_term",), "全网第一: 'number one on the whole internet'"),
            ("profile", PROFILE, ("offplatform_lure",), "WeChat id in the profile"),
            ("cover", "国家级品质", ("absolute_term",), "'national-grade' is a banned absolute term"),
            ("cover", "三天见效", ("false_efficacy",), "promised effect within three days")]
    for modality, text, kinds, note in meta:
        add(kinds, {"modality": modality, "t_start": None, "t_end": None, "text": text, "note": note})
    # Every line is spoken by espeak-ng and nothing in the broadcast says so: Art. 13 and 25 and the
    # 2025 labeling rules ask for synthetic voices to be disclosed.
    add(("undisclosed_synthetic_media",), {
        "modality": "audio", "t_start": round(timings[0].speech_start, 2),
        "t_end": round(timings[-1].speech_end, 2), "text": "the presenter's espeak-ng voice",
        "where": "voice", "note": "a synthetic presenter voice throughout, disclosed nowhere"})
    for text in STATIC_TEXTS:
        add((), {"modality": "onscreen_text", "t_start": 0.0, "t_end": round(timings[-1].end, 2),
                 "text": text, "where": "set", "note": "always on screen"})
    return {"version": 1, "source": "demo.mp4", "broadcast": "broadcast.yaml", "cover": "cover.png",
            "duration_s": round(timings[-1].end, 2), "violations": violations, "clean": clean}


def truth_markdown(truth: dict) -> str:
    def when(e: dict) -> str:
        return "—" if e["t_start"] is None else f"{e['t_start']:.2f}–{e['t_end']:.2f} s"

    def shown(e: dict) -> str:
        return e["text"] + (f" / {e['text_en']}" if e.get("text_en") and e["text_en"] != e["text"] else "")

    lines = ["# Demo ground truth", "",
             f"Generated by `make_demo.py` together with `demo.mp4` ({truth['duration_s']:.2f} s); "
             "`truth.json` holds the same data for tests.", "",
             "## Planted violations", "", "| id | time | modality | where | expected kind (also) | text |",
             "|---|---|---|---|---|---|"]
    for v in truth["violations"]:
        also = ", ".join(v["kinds"][1:])
        lines.append(f"| {v['id']} | {when(v)} | {v['modality']} | {v.get('where', '')} | "
                     f"{v['kind']}{f' ({also})' if also else ''} | {shown(v)} |")
    lines += ["", "## Clean parts (must not be flagged)", "",
              "| id | time | modality | where | text | note |", "|---|---|---|---|---|---|"]
    for c in truth["clean"]:
        lines.append(f"| {c['id']} | {when(c)} | {c['modality']} | {c.get('where', '')} | {shown(c)} | "
                     f"{c['note']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output folder (default: next to this script)")
    out = parser.parse_args(argv).out
    check_tools()
    import json

    import yaml

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        track, timings = build_audio(Path(tmp))
    if timings[-1].end > MAX_DURATION_S:
        sys.exit(f"demo would last {timings[-1].end:.1f} s, over {MAX_DURATION_S} s: shorten the scenes")
    encode(out / "demo.mp4", track, timings)
    render_cover(out / "cover.png")
    broadcast = {"source": "demo.mp4", "title": TITLE, "cover": "cover.png", "account_name": ACCOUNT,
                 "profile": PROFILE, "products": PRODUCTS}
    (out / "broadcast.yaml").write_text(yaml.safe_dump(broadcast, allow_unicode=True, sort_keys=False),
                                        encoding="utf-8")
    truth = build_truth(timings)
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    (out / "TRUTH.md").write_text(truth_markdown(truth), encoding="utf-8")
    print(f"wrote {out}: demo.mp4 ({timings[-1].end:.2f} s), cover.png, broadcast.yaml, truth.json, TRUTH.md")


if __name__ == "__main__":
    main()
