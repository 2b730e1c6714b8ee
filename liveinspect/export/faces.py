"""Export of the face detector: MTCNN's three nets, with box parity on the demo's frames.

The nets come from facenet-pytorch's weight files (`export_mtcnn_onnx`,
dynamic image size for P-Net, dynamic crop count for R-Net and O-Net). The
numpy pipeline around them is the same on both runtimes, so parity is
measured on what a scan uses: the face count per frame must agree with the
torch nets on every demo frame, and the boxes within a pixel. int8 is
static (convolutions, the fully connected layers and pooling in QDQ form),
calibrated on the inputs each net receives over other demo frames (the
seconds between the measured ones): dynamic int8 runs these small
convolutions as ConvInteger at about half the fp32 speed. It is judged by
the share of frames whose face count agrees with torch ("top1", budget -1
point), and shipped only if faster.
"""

from __future__ import annotations

from typing import Any

from liveinspect.export.budget import judge_int8, not_attempted, ships
from liveinspect.export.common import ExportContext, demo_frames, graph_record, median_seconds, rounded
from liveinspect.export.manifest import ModelRecord
from liveinspect.export.quantize import quantize_static_int8, recorded_inputs

NETS = ("pnet", "rnet", "onet")


def _agreement(reference: list, candidate: list) -> tuple[float, float]:
    """(share of frames with the same face count, worst box corner difference in pixels there)."""
    same, worst = 0, 0.0
    for faces_a, faces_b in zip(reference, candidate, strict=True):
        if len(faces_a) != len(faces_b):
            continue
        same += 1
        for a, b in zip(faces_a, faces_b, strict=True):
            worst = max(worst, max(abs(x - y) for x, y in zip(a.box, b.box, strict=True)))
    return same / max(len(reference), 1), worst


def export_faces(ctx: ExportContext, weights_dir: str | None = None) -> ModelRecord:
    from liveinspect.backends.base import BackendOptions
    from liveinspect.models.faces import FaceDetector, export_mtcnn_onnx
    from liveinspect.models.faces.detector import _weights_folder
    from liveinspect.models.checkpoint import file_sha256

    source = _weights_folder(weights_dir)
    folder = ctx.folder("faces")
    ctx.progress("faces: exporting MTCNN's P-, R- and O-Net")
    export_mtcnn_onnx(folder, source)
    source_sha = file_sha256(source / "onet.pt")
    frames = demo_frames(ctx.eval_data)
    settings: dict[str, Any] = {"min_face_size": 40, "max_side": 640}  # what the frame stage runs
    parity: dict[str, Any] = {"frames": len(frames)}
    int8: dict[str, Any]
    precision = "fp32"
    if frames:
        torch_detector = FaceDetector(source, backend="torch", **settings)
        onnx_detector = FaceDetector(backend=BackendOptions(kind="onnx"), onnx_dir=folder, **settings)
        reference = torch_detector.detect_batch(frames)
        exported = onnx_detector.detect_batch(frames)
        share, worst = _agreement(reference, exported)
        parity.update({"same_face_count_share": share, "box_max_diff_px": worst,
                       "faces_torch": sum(map(len, reference)), "faces_onnx": sum(map(len, exported))})
    if not ctx.int8:
        int8 = not_attempted("export without --int8")
    elif not frames:
        int8 = not_attempted("no demo frames to check the face-count budget; pass --eval-data CHECKOUT")
    else:
        calibration = demo_frames(ctx.eval_data, every=1, limit=10_000)[1::4]
        feeds = recorded_inputs(onnx_detector.nets, lambda: onnx_detector.detect_batch(calibration))
        for net in NETS:
            quantize_static_int8(folder / f"{net}.onnx", folder / f"{net}.int8.onnx", feeds[net],
                                 op_types=("Conv", "Gemm", "MaxPool"))
        quantized = FaceDetector(backend=BackendOptions(kind="onnx", precision="int8"), onnx_dir=folder,
                                 **settings)
        fp32_seconds = median_seconds(lambda: onnx_detector.detect_batch(frames[:4]))
        int8_seconds = median_seconds(lambda: quantized.detect_batch(frames[:4]))
        share_int8, worst_int8 = _agreement(reference, quantized.detect_batch(frames))
        int8 = judge_int8("top1", parity["same_face_count_share"], share_int8,
                          evidence=f"face count per frame on {len(frames)} demo frames, against torch "
                                   f"(calibrated on {len(calibration)} others)",
                          box_max_diff_px=round(worst_int8, 3),
                          speedup=round(fp32_seconds / max(int8_seconds, 1e-9), 3))
        if ships(int8):
            precision = "int8"
        else:
            for net in NETS:
                (folder / f"{net}.int8.onnx").unlink(missing_ok=True)
    files = [graph_record(ctx.out, path, "int8" if ".int8." in path.name else "fp32")
             for path in sorted(folder.glob("*.onnx"))]
    return ModelRecord(name="faces", task="frames.faces", version="mtcnn-facenet-pytorch-2.6.0",
                       source=str(source), source_sha256=source_sha,
                       folder=folder.relative_to(ctx.out).as_posix(), precision=precision, files=files,
                       parity=rounded(parity), int8=int8)
