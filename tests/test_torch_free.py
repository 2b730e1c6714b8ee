"""The torch-free inference core: with torch and the torch model libraries unimportable, the parts
an ONNX-only edge node runs still import and work.

The checks run in a fresh interpreter whose `sys.meta_path` starts with a
finder that raises ImportError for torch, torchvision, transformers, whisper
and open_clip (as on a node where they are not installed). Each part prints
one JSON line of what it saw; the test reads them and asserts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "examples" / "demo" / "demo.mp4"
JFK = ROOT / "tests" / "data" / "jfk.flac"
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
BLOCKED = ("torch", "torchvision", "transformers", "whisper", "open_clip")

PRELUDE = f"""
import importlib.abc, json, sys

BLOCKED = {BLOCKED!r}


class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not installed on this node (torch-free test)")
        return None


sys.meta_path.insert(0, NoTorch())


def report(part, **seen):
    print(json.dumps({{"part": part, **seen}}, ensure_ascii=False), flush=True)
"""

# --- the parts below the pipelines (models, media, policy, text) ----------------------------
CORE = """
import numpy as np

# media: decode the demo's first seconds
from liveinspect.media import iter_segments
segment = next(iter_segments(DEMO, window_s=4.0, fps=1.0, max_duration=4.0))
report("media", frames=len(segment.frames), audio_s=len(segment.audio) / 16000,
       shape=list(segment.frames[0].image.shape))

# policy
from liveinspect.policy import load_policy
policy = load_policy()
report("policy", version=policy.version)

# text: normalisation and the lexicon
from liveinspect.text import normalize
from liveinspect.text.lexicon import LexiconMatcher
matches = LexiconMatcher.from_policy(policy).match(normalize("全網最低價，加我薇信").text)
report("text", normalized=normalize("全網最低價").text, kinds=sorted({m.kind.value for m in matches}))

# the claim classifier on ONNX Runtime
from liveinspect.models.claims import load_default_claim_classifier
classifier = load_default_claim_classifier(backend="onnx")
texts = ["这款面霜很滋润", "三天祛斑", "全网第一", "已经卖出十万单了"]
probabilities = classifier.predict_proba(texts)
report("claims", backend=classifier.backend.kind, name=classifier.name,
       labels=[classifier.labels[i] for i in probabilities.argmax(axis=1)],
       rows_sum_to_one=bool(np.allclose(probabilities.sum(axis=1), 1.0)))

# voice activity: silero-vad's ONNX model
from liveinspect.media import load_audio
from liveinspect.pipelines.vad import speech_probabilities, speech_regions
speech = load_audio(JFK)
silence = np.zeros(16000 * 5, np.float32)
report("vad", speech_peak=float(speech_probabilities(speech).max()),
       silence_peak=float(speech_probabilities(silence).max()),
       speech_regions=len(speech_regions(speech)), silence_regions=len(speech_regions(silence)))

# OCR: PP-OCR ONNX models from the rapidocr wheel
from PIL import Image, ImageDraw, ImageFont
from liveinspect.models.ocr import OcrEngine
banner = Image.new("RGB", (900, 200), (25, 50, 80))
ImageDraw.Draw(banner).text((40, 60), "全网最低价 Limited offer", fill=(255, 240, 0),
                            font=ImageFont.truetype(CJK_FONT, 44))
lines = OcrEngine(max_threads=1).read(np.asarray(banner))
report("ocr", texts=[line.text for line in lines])

# QR codes: OpenCV decoding, payload rules from the policy
import qrcode
from liveinspect.models.qr import CodeReader
frame = np.full((480, 640, 3), 90, np.uint8)
frame[100:280, 200:380] = np.asarray(qrcode.make("https://u.wechat.com/EDGEtest1", border=2)
                                     .convert("RGB").resize((180, 180), 0))
codes = CodeReader().read(frame)
report("qr", payloads=[c.payload for c in codes],
       kinds=[policy.qr_rules.classify(c.payload).kind.value for c in codes])
"""

# --- the pipelines above the models: the frame analyzer, the orchestrator, the report -----------
# (the lead's parts: extend here as the torch-free core grows, e.g. more analyzers or the service)
PIPELINES = """
from liveinspect.pipelines.registry import build_inspector
from liveinspect.pipelines.orchestrator import ScanOptions
from liveinspect.pipelines.text import TextAnalyzer
from liveinspect.report.html import write_report
from liveinspect.schema import Broadcast

text = TextAnalyzer(policy=policy, classifier=classifier)
inspector = build_inspector(["frames"], policy=policy, text_analyzer=text,
                            options=ScanOptions(max_duration=35.0, progress=False))
result = inspector.scan(Broadcast(source=str(DEMO)))
files = write_report(result.report, result.evidence, OUT)
written = json.loads(open(files.json, encoding="utf-8").read())
report("pipelines", statuses={s.name: s.state for s in result.report.analyzers},
       kinds=sorted({f.kind.value for f in result.report.findings}),
       models=sorted({f.model for f in result.report.findings}),
       report_equals_written=written == json.loads(result.report.model_dump_json()))

# The defaults a torch-free node gets: the CLI builds its parser, the default inspector builds
# what can run (the shipped claim models on ONNX Runtime) and says why the rest is skipped.
from liveinspect.cli import build_parser
build_parser()
default = build_inspector(options=ScanOptions(progress=False))
report("defaults", statuses={s.name: s.state for s in default.model_statuses()},
       text_model=default.text_analyzer.model_name,
       reasons={s.name: s.reason for s in default.model_statuses() if s.state != "ran"})
default.close()
"""

EPILOGUE = """
report("modules", loaded=sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED))
"""


@pytest.fixture(scope="module")
def seen(tmp_path_factory) -> dict[str, dict]:
    assert DEMO.is_file() and JFK.is_file() and CJK_FONT.is_file(), "test inputs missing"
    out = tmp_path_factory.mktemp("torch-free-report")
    setup = f"DEMO, JFK, CJK_FONT, OUT = {str(DEMO)!r}, {str(JFK)!r}, {str(CJK_FONT)!r}, {str(out)!r}\n"
    script = PRELUDE + setup + textwrap.dedent(CORE) + textwrap.dedent(PIPELINES) + EPILOGUE
    # An empty cache folder: MTCNN's nets exported by an earlier run would let faces run here (on
    # ONNX Runtime, no torch needed), which this test must not depend on either way.
    env = {**os.environ, "LIVEINSPECT_CACHE": str(tmp_path_factory.mktemp("empty-cache"))}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                         cwd=ROOT, env=env)
    assert run.returncode == 0, f"torch-free run failed:\n{run.stdout[-3000:]}\n{run.stderr[-6000:]}"
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    return {line.pop("part"): line for line in lines}


def test_torch_and_the_torch_model_libraries_were_never_loaded(seen):
    assert seen["modules"]["loaded"] == []


def test_media_policy_and_text(seen):
    media = seen["media"]
    assert media["frames"] >= 3 and media["audio_s"] == pytest.approx(4.0, abs=0.05)
    assert media["shape"][2] == 3
    assert len(seen["policy"]["version"]) >= 8
    assert seen["text"]["normalized"] == "全网最低价"
    assert {"false_price", "offplatform_lure"} <= set(seen["text"]["kinds"])


def test_claim_classifier_on_onnx_runtime(seen):
    claims = seen["claims"]
    assert claims["backend"] == "onnx" and claims["name"] == "claims-ngram-onnx"
    assert claims["labels"] == ["compliant", "false_efficacy", "absolute_term", "fake_data"]
    assert claims["rows_sum_to_one"]


def test_voice_activity_ocr_and_qr(seen):
    vad = seen["vad"]
    assert vad["speech_peak"] > 0.9 and vad["silence_peak"] < 0.2
    assert vad["speech_regions"] >= 1 and vad["silence_regions"] == 0
    assert any(t.replace(" ", "").startswith("全网最低价") for t in seen["ocr"]["texts"]), seen["ocr"]
    assert seen["qr"] == {"payloads": ["https://u.wechat.com/EDGEtest1"], "kinds": ["offplatform_lure"]}


def test_frame_analyzer_orchestrator_and_report(seen):
    pipelines = seen["pipelines"]
    statuses = pipelines["statuses"]
    assert statuses["frames.ocr"] == "ran" and statuses["frames.qr"] == "ran"
    assert statuses["frames.faces"] == "skipped" and statuses["frames.clip"] == "skipped"
    # The demo's banner price claim (V03, 13-17 s) and its WeChat QR code (V09, from 27.9 s).
    assert {"false_price", "offplatform_lure"} <= set(pipelines["kinds"])
    assert any(model.endswith("claims-ngram-onnx") for model in pipelines["models"])
    assert pipelines["report_equals_written"]


def test_the_defaults_on_a_node_without_torch(seen):
    defaults = seen["defaults"]
    assert defaults["statuses"]["text"] == "ran" and "claims" in defaults["text_model"]
    assert defaults["statuses"]["frames"] == "ran" and defaults["statuses"]["frames.ocr"] == "ran"
    assert defaults["statuses"]["speech"] == "skipped"  # Whisper here is torch; ONNX Whisper: the edge
    assert "torch" in defaults["reasons"]["speech"] or "not installed" in defaults["reasons"]["speech"]
