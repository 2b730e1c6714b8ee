"""MTCNN face detection with the weight files facenet-pytorch ships, in our own modules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from matplotlib import cbook
from PIL import Image

from liveinspect.errors import CheckpointError, LiveInspectError, WeightsNotFoundError
from liveinspect.models.faces import FaceDetector, crop_face, export_mtcnn_onnx, locate_mtcnn_weights
from liveinspect.models.faces.nets import ONet, PNet, RNet


@pytest.fixture(scope="module")
def grace_hopper() -> np.ndarray:
    with cbook.get_sample_data("grace_hopper.jpg") as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def test_weights_ship_with_facenet_pytorch_and_fit_our_modules():
    folder = locate_mtcnn_weights()
    assert folder is not None, "install the weights: pip install --no-deps facenet-pytorch==2.6.0"
    for module, name in ((PNet(), "pnet.pt"), (RNet(), "rnet.pt"), (ONet(), "onet.pt")):
        state = torch.load(folder / name, weights_only=True)
        assert set(state) == set(module.state_dict())


def test_finds_the_face_in_a_real_photo(detector, grace_hopper):
    faces = detector.detect(grace_hopper)
    assert len(faces) == 1
    face = faces[0]
    x0, y0, x1, y1 = face.box
    # Grace Hopper's face spans roughly x 175-350, y 110-330 in this 512x600 portrait.
    assert 140 < x0 < 210 and 80 < y0 < 150 and 320 < x1 < 380 and 290 < y1 < 360
    assert face.score > 0.95
    (left_eye, right_eye, nose, mouth_left, mouth_right) = face.landmarks
    assert left_eye[0] < nose[0] < right_eye[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_batches_of_different_sizes_and_no_false_faces(detector, grace_hopper):
    small = np.asarray(Image.fromarray(grace_hopper).resize((256, 300)))
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    found = detector.detect_batch([grace_hopper, np.zeros((200, 300, 3), np.uint8), noise, small])
    assert [len(f) for f in found] == [1, 0, 0, 1]
    big, half = found[0][0].box, found[3][0].box
    assert np.allclose(np.array(half) * 2, big, atol=25)


def test_large_frames_are_downsized_and_boxes_mapped_back(grace_hopper):
    wide = np.zeros((1080, 1920, 3), np.uint8)
    wide[200:800, 600:1112] = grace_hopper
    faces = FaceDetector(max_side=640).detect(wide)
    assert len(faces) == 1
    x0, y0, x1, y1 = faces[0].box
    assert 740 < x0 < 820 and 280 < y0 < 360 and 910 < x1 < 990 and 490 < y1 < 570


def test_onnx_runtime_nets_find_the_same_faces(grace_hopper, tmp_path):
    assert [p.name for p in export_mtcnn_onnx(tmp_path)] == ["pnet.onnx", "rnet.onnx", "onet.onnx"]
    edge = FaceDetector(backend="onnx", onnx_dir=tmp_path)
    assert {net.kind for net in edge.nets.values()} == {"onnx"}
    torch_nets = FaceDetector(backend="torch")
    assert {net.kind for net in torch_nets.nets.values()} == {"torch"}
    small = np.asarray(Image.fromarray(grace_hopper).resize((256, 300)))
    for on_torch, on_onnx in zip(torch_nets.detect_batch([grace_hopper, small]),
                                 edge.detect_batch([grace_hopper, small]), strict=True):
        assert len(on_torch) == len(on_onnx) == 1
        np.testing.assert_allclose(on_onnx[0].box, on_torch[0].box, atol=0.05)
        assert on_onnx[0].score == pytest.approx(on_torch[0].score, abs=1e-4)
    with pytest.raises(WeightsNotFoundError, match="onnx"):
        FaceDetector(backend="onnx", onnx_dir=tmp_path / "absent")


def test_face_crop(detector, grace_hopper):
    crop = crop_face(grace_hopper, detector.detect(grace_hopper)[0], size=112)
    assert crop.shape == (112, 112, 3) and crop.dtype == np.uint8


def test_the_default_runs_the_cached_export_of_the_packaged_weights(tmp_path, monkeypatch):
    """ONNX Runtime by default: the torch weights exported once into the cache folder (under their
    checksum), then read from there by every later detector."""
    monkeypatch.setenv("LIVEINSPECT_CACHE", str(tmp_path))
    first = FaceDetector()
    assert {net.kind for net in first.nets.values()} == {"onnx"}
    (folder,) = (tmp_path / "mtcnn-onnx").iterdir()
    assert sorted(p.name for p in folder.iterdir()) == ["onet.onnx", "pnet.onnx", "rnet.onnx"]
    written = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    FaceDetector()
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == written


def test_missing_or_broken_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("LIVEINSPECT_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "weights"
    weights.mkdir()
    for backend in ("onnx", "torch"):
        with pytest.raises(WeightsNotFoundError, match="facenet-pytorch"):
            FaceDetector(weights, backend=backend)
    for name in ("pnet.pt", "rnet.pt", "onet.pt"):
        torch.save({"conv1.weight": torch.zeros(1)}, weights / name)
    for backend in ("onnx", "torch"):
        with pytest.raises(CheckpointError):
            FaceDetector(weights, backend=backend)
    # a failed export leaves nothing half-written in the cache
    assert not any(p.is_file() for p in (tmp_path / "cache").rglob("*"))
    # a cache folder that cannot be written: a clear error, not a traceback from deep inside
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    monkeypatch.setenv("LIVEINSPECT_CACHE", str(tmp_path / "blocked"))
    with pytest.raises(LiveInspectError, match="LIVEINSPECT_CACHE"):
        FaceDetector(backend="onnx")


def test_rejects_bad_images(detector):
    with pytest.raises(LiveInspectError):
        detector.detect(np.zeros((10, 10), np.float32))


def _area_weights(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in): how much of each input pixel each output pixel's window covers."""
    edges = np.arange(size_out + 1) * size_in / size_out
    starts, ends = np.arange(size_in), np.arange(size_in) + 1
    covered = np.minimum(ends[None], edges[1:, None]) - np.maximum(starts[None], edges[:-1, None])
    overlap = np.clip(covered, 0, None)
    return overlap / (size_in / size_out)


def test_pyramid_and_crops_match_the_exact_area_mean_and_torchvisions_roi_align(grace_hopper):
    """The pyramid levels are exact area means (input pixels weighted by the share of them an
    output window covers, written out here as two matrices), and the crops reproduce torchvision's
    `roi_align(aligned=True, sampling_ratio=2)`, boxes partly outside the image included."""
    from torchvision.ops import roi_align

    from liveinspect.models.faces.detector import _area_resize, _normalise, _roi_align

    pixels = grace_hopper.astype(np.float32)
    for size in ((301, 257), (37, 29), (300, 256), (600, 512)):
        rows, columns = _area_weights(pixels.shape[0], size[0]), _area_weights(pixels.shape[1], size[1])
        expected = np.einsum("ih,hwc,jw->ijc", rows, pixels.astype(np.float64), columns, optimize=True)
        np.testing.assert_allclose(_area_resize(pixels, *size), expected, atol=1e-2)
    shifted = _normalise(pixels) + np.float32(1.0)
    boxes = np.array([[10.3, 20.7, 80.2, 90.1], [-15.0, -8.0, 40.0, 30.0], [480.0, 560.0, 530.0, 640.0],
                      [100.0, 100.0, 101.5, 101.5]])
    for size in (24, 48):
        expected = roi_align(torch.from_numpy(shifted).permute(2, 0, 1)[None].contiguous(),
                             [torch.from_numpy(boxes).float()], output_size=size, sampling_ratio=2,
                             aligned=True).numpy()
        np.testing.assert_allclose(_roi_align(shifted, boxes, size), expected, atol=1e-5)
