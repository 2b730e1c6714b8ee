"""The export: manifest, checksums on load, bundles, the int8 budget, which products int8 touches,
and (slow) what a full export of every model records."""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from liveinspect.cli import main
from liveinspect.export.budget import judge_int8, ships
from liveinspect.export.bundle import open_bundle, pack_bundle
from liveinspect.export.graph import GraphBuilder
from liveinspect.export.manifest import BundleError, Manifest, verify_tree
from liveinspect.export.quantize import quantize_int8, weight_nodes
from liveinspect.export.runner import export_models, resolve_names

from edge_support import edge_export  # noqa: F401 - fixture


@pytest.fixture(scope="module")
def small_export(tmp_path_factory) -> Path:
    """The cheapest real export: silero-vad's file and the policy, with its manifest."""
    out = tmp_path_factory.mktemp("export") / "vad-only"
    manifest = export_models(["vad"], out)
    assert set(manifest.models) == {"vad"} and len(manifest.policy) >= 6
    return out


def test_manifest_lists_every_file_with_its_checksum(small_export):
    manifest = verify_tree(small_export)
    vad = manifest.models["vad"]
    assert vad.task == "speech_regions" and vad.files[0].path.startswith("packaged/silero-vad/")
    assert len(vad.files[0].sha256) == 64 and vad.files[0].bytes > 1_000_000
    assert {Path(f.path).name for f in manifest.policy} >= {"articles.yaml", "negative_list.yaml",
                                                            "claims.yaml", "ladder.yaml"}
    assert Manifest.read(small_export).digest == manifest.digest


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_a_changed_missing_or_unlisted_file_is_refused(small_export, tmp_path):
    changed = _copy(small_export, tmp_path / "changed")
    policy = changed / "policy" / "ladder.yaml"
    policy.write_text(policy.read_text(encoding="utf-8").replace("high", "low", 1), encoding="utf-8")
    with pytest.raises(BundleError, match="ladder.yaml"):
        verify_tree(changed)
    missing = _copy(small_export, tmp_path / "missing")
    (missing / "policy" / "claims.yaml").unlink()
    with pytest.raises(BundleError, match="claims.yaml.*missing"):
        verify_tree(missing)
    extra = _copy(small_export, tmp_path / "extra")
    (extra / "policy" / "extra.yaml").write_text("x: 1\n", encoding="utf-8")
    with pytest.raises(BundleError, match="extra.yaml.*not in its manifest"):
        verify_tree(extra)


def test_bundle_round_trip_and_tampered_bundles_exit_2(small_export, tmp_path, capsys):
    tar = pack_bundle(small_export, tmp_path / "edge.tar")
    folder, manifest = open_bundle(tar)
    assert manifest.digest == Manifest.read(small_export).digest and (folder / "policy").is_dir()
    # the edge text check runs from the bundle (lexicon only: this export has no claim model)
    lines = tmp_path / "titles.txt"
    lines.write_text("全网最低价 加微信\n普通的面霜\n", encoding="utf-8")
    assert main(["edge", "text", str(lines), "--models", str(tar), "--lexicon-only"]) == 1
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {f["kind"] for f in out[0]["findings"]} >= {"false_price", "offplatform_lure"}
    assert out[1]["findings"] == []

    # The same tar with one policy file changed inside it: refused, exit 2, the file named.
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(tar) as source, tarfile.open(tampered, "w") as target:
        for member in source.getmembers():
            data = source.extractfile(member).read()
            if member.name.endswith("negative_list.yaml"):
                data = data.replace(b"\n", b"\n# edited\n", 1)
                member.size = len(data)
            import io

            target.addfile(member, io.BytesIO(data))
    assert main(["edge", "text", str(lines), "--models", str(tampered), "--lexicon-only"]) == 2
    assert "negative_list.yaml" in capsys.readouterr().err

    escaping = tmp_path / "escaping.tar"
    with tarfile.open(escaping, "w") as target:
        target.add(small_export / "manifest.json", arcname="manifest.json")
        target.add(small_export / "policy" / "claims.yaml", arcname="../claims.yaml")
    with pytest.raises(BundleError, match="outside the bundle"):
        open_bundle(escaping)


def test_a_bundle_of_the_chosen_precision_leaves_the_other_graphs_out():
    from liveinspect.export.bundle import chosen_only
    from liveinspect.export.manifest import FileRecord, ModelRecord

    files = [FileRecord("w/encoder.onnx", "a" * 64, 10, precision="fp32"),
             FileRecord("w/encoder.int8.onnx", "b" * 64, 5, precision="int8"),
             FileRecord("w/ngram.onnx", "e" * 64, 2, precision="fp32"),  # no twin: stays
             FileRecord("w/whisper.json", "c" * 64, 1)]
    manifest = Manifest(liveinspect_version="x", models={
        "whisper": ModelRecord("whisper", "speech", "v", "s", None, "w", "int8", files=list(files)),
        "faces": ModelRecord("faces", "frames.faces", "v", "s", None, "f", "fp32",
                             files=[FileRecord("f/pnet.onnx", "d" * 64, 3, precision="fp32")])})
    lean = chosen_only(manifest)
    assert [f.path for f in lean.models["whisper"].files] == ["w/encoder.int8.onnx", "w/ngram.onnx",
                                                              "w/whisper.json"]
    assert [f.path for f in lean.models["faces"].files] == ["f/pnet.onnx"]
    assert len(manifest.models["whisper"].files) == 4  # the original is left as it was


def test_the_budget_accepts_within_and_rejects_over():
    assert judge_int8("wer", 0.02, 0.029, evidence="x")["status"] == "accepted"
    rejected = judge_int8("wer", 0.02, 0.031, evidence="x")
    assert rejected["status"] == "rejected" and "over budget" in rejected["reason"]
    assert judge_int8("macro_f1", 0.88, 0.871, evidence="x")["status"] == "accepted"
    assert judge_int8("macro_f1", 0.88, 0.869, evidence="x")["status"] == "rejected"
    assert judge_int8("eer", 0.05, 0.06, evidence="x")["status"] == "accepted"
    # shipped only within budget and faster than fp32; a slower twin's reason says why
    assert ships(judge_int8("eer", 0.05, 0.05, evidence="x", speedup=1.6))
    slower = judge_int8("eer", 0.05, 0.05, evidence="x", speedup=0.8)
    assert not ships(slower) and "not shipped: int8 runs at 0.8x" in slower["reason"]
    assert not ships(judge_int8("eer", 0.05, 0.07, evidence="x", speedup=3.0))
    assert not ships({"status": "not_attempted", "reason": "no data"})


def test_int8_quantizes_weight_products_only(tmp_path):
    import onnxruntime

    rng = np.random.default_rng(0)
    g = GraphBuilder("toy")
    x = g.input("x", "float32", ["batch", 16])
    h = g.linear(x, rng.normal(size=(32, 16)).astype(np.float32), np.zeros(32, np.float32), "fc")
    scores = g.op("MatMul", [h, g.op("Transpose", [h], perm=[1, 0])])  # two activations
    g.output(scores, "y", "float32", ["batch", "batch"])
    path = tmp_path / "toy.onnx"
    import onnx

    onnx.save(g.model(), str(path))
    assert weight_nodes(onnx.load(str(path))) == ["fc_w"]
    quantize_int8(path, tmp_path / "toy.int8.onnx")
    ops = [n.op_type for n in onnx.load(str(tmp_path / "toy.int8.onnx")).graph.node]
    assert ops.count("MatMul") == 1 and any("Integer" in op or "DynamicQuantize" in op for op in ops)
    feed = {"x": rng.normal(size=(3, 16)).astype(np.float32)}
    fp32 = onnxruntime.InferenceSession(str(path)).run(None, feed)[0]
    int8 = onnxruntime.InferenceSession(str(tmp_path / "toy.int8.onnx")).run(None, feed)[0]
    assert np.abs(fp32 - int8).max() < 0.05 * np.abs(fp32).max()


def test_model_names():
    assert resolve_names(["all"]) == ["whisper", "faces", "claims", "voice", "avatar", "vad", "clip"]
    assert resolve_names(["faces,claims", "faces"]) == ["faces", "claims"]
    with pytest.raises(Exception, match="unknown model 'clip2'"):
        resolve_names(["clip2"])


def test_export_command_needs_no_torch_to_build_its_parser():
    code = ("import sys, importlib.abc\n"
            "class No(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.partition('.')[0] in ('torch', 'whisper', 'transformers', 'open_clip'):\n"
            "            raise ImportError(name)\n"
            "sys.meta_path.insert(0, No())\n"
            "from liveinspect.cli import build_parser\n"
            "p = build_parser()\n"
            "print(p.parse_args(['export', '--out', 'x', '--int8']).int8,"
            " p.parse_args(['edge', 'scan', 'a.mp4', '--models', 'm']).models)\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["True", "m"]


@pytest.mark.slow
def test_full_export_records_parity_and_int8_verdicts(edge_export):  # noqa: F811
    folder, manifest = edge_export
    assert set(manifest.models) == {"whisper", "faces", "claims", "voice", "avatar", "vad"}
    for name, model in manifest.models.items():
        assert model.int8["status"] in ("accepted", "rejected", "not_attempted"), name
        assert model.int8.get("reason"), name
        for record in model.files:
            assert len(record.sha256) == 64 and (folder / record.path).stat().st_size == record.bytes
            if record.path.endswith(".onnx") and model.name != "avatar":
                assert record.opset and record.inputs and record.outputs, record.path
    whisper = manifest.models["whisper"]
    assert whisper.parity["greedy_transcripts_identical"] == {"jfk": True, "demo": True}
    graphs = {Path(f.path).name for f in whisper.files}
    assert {"encoder.onnx", "decoder.onnx", "alignment.onnx", "tokenizer.json", "vocab.tiktoken"} <= graphs
    decoder = next(f for f in whisper.files if f.path.endswith("whisper/decoder.onnx"))
    inputs = {i["name"]: i["shape"] for i in decoder.inputs}
    assert inputs["tokens"] == ["batch", "tokens"] and inputs["self_k_0"][3] == "past"
    if whisper.int8["status"] == "accepted":
        assert whisper.precision == "int8" and "encoder.int8.onnx" in graphs
        assert whisper.int8["int8"] <= whisper.int8["fp32"] + 0.01
    faces = manifest.models["faces"]
    assert faces.parity["same_face_count_share"] == 1.0 and faces.parity["box_max_diff_px"] < 1.0
    claims = manifest.models["claims"]
    assert claims.parity["ngram"]["correlation"] >= 0.999 and claims.parity["ngram"]["same_top1"] == 1.0
    voice = manifest.models["voice"]
    assert voice.parity["margin"]["max_rel"] < 1e-4 and voice.parity["same_verdict_share"] == 1.0


def _write_wav(path: Path, samples: np.ndarray) -> None:
    import wave

    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


@pytest.mark.slow
def test_aasist_int8_is_judged_by_eer_on_a_labelled_corpus(tmp_path):
    """With labelled speech (In-the-Wild layout: jfk real, the demo's espeak-ng voice synthetic),
    the export quantizes AASIST statically and records the EER budget's verdict; the int8 graph is
    kept and chosen exactly when it is accepted and faster. Without the corpus: not attempted."""
    from liveinspect.export.common import EvalData, ExportContext
    from liveinspect.export.voice import export_voice
    from liveinspect.media import load_audio

    root = Path(__file__).resolve().parents[1]
    real = load_audio(root / "tests" / "data" / "jfk.flac")
    synthetic = load_audio(root / "examples" / "demo" / "demo.mp4")[:16000 * 40]
    rows = ["file,speaker,label,generator,split"]
    for index in range(6):
        split = "train" if index < 3 else "test"
        for kind, audio, label in (("real", real, "bona-fide"), ("tts", synthetic, "spoof")):
            start = index * (len(audio) - 56000) // 6
            _write_wav(tmp_path / "corpus" / kind / f"{index}.wav", audio[start:start + 56000])
            rows.append(f"{kind}/{index}.wav,{kind},{label},{kind},{split}")
    (tmp_path / "corpus" / "meta.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    without = export_voice(ExportContext(out=tmp_path / "a", int8=True, eval_data=EvalData()))
    assert without.int8["status"] == "not_attempted" and "--voice-data" in without.int8["reason"]
    assert without.precision == "fp32"

    record = export_voice(ExportContext(out=tmp_path / "b", int8=True,
                                        eval_data=EvalData(voice=tmp_path / "corpus")))
    verdict = record.int8
    assert verdict["status"] in ("accepted", "rejected") and verdict["metric"] == "eer"
    assert 0.0 <= verdict["fp32"] <= 1.0 and 0.0 <= verdict["int8"] <= 1.0
    assert verdict["aasist_eer_fp32"] <= 0.34  # the packaged AASIST tells espeak-ng from jfk
    assert verdict["margin"]["max_abs"] > 0 and verdict["speedup"] > 0
    shipped = verdict["status"] == "accepted" and verdict["speedup"] > 1.05
    graphs = {Path(f.path).name for f in record.files if f.path.endswith(".onnx")}
    assert (record.precision == "int8") == shipped == ("aasist.int8.onnx" in graphs)
    assert (tmp_path / "b" / "voice" / "aasist.int8.onnx").is_file() == shipped
