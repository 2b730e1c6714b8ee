"""QR codes and barcodes in frames, and what their payloads lead to.

Detection and decoding are OpenCV's (`QRCodeDetectorAruco`, and the 1-D
`barcode.BarcodeDetector` where the build has it). What a payload means is
policy (`Policy.qr_rules`, from `policy/qr_rules.yaml`).
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

import numpy as np

from liveinspect.errors import LiveInspectError

# ---------------------------------------------------------------- detection


@dataclass(frozen=True)
class DecodedCode:
    payload: str
    symbology: str  # "QR_CODE", "EAN_13", ...
    box: tuple[float, float, float, float]  # x0, y0, x1, y1


def opencv_version() -> str:
    try:
        return importlib.metadata.version("opencv-python-headless")
    except importlib.metadata.PackageNotFoundError:
        import cv2

        return cv2.__version__


class CodeReader:
    """Finds and decodes QR codes (and 1-D barcodes when OpenCV has them) in RGB frames."""

    def __init__(self, *, barcodes: bool = True) -> None:
        import cv2

        self._cv2 = cv2
        self._qr = cv2.QRCodeDetectorAruco() if hasattr(cv2, "QRCodeDetectorAruco") \
            else cv2.QRCodeDetector()
        self._barcode = cv2.barcode.BarcodeDetector() \
            if barcodes and hasattr(cv2, "barcode") else None
        self.version = f"opencv-{opencv_version()}"

    def read(self, image: np.ndarray) -> list[DecodedCode]:
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.dtype != np.uint8:
            raise LiveInspectError(f"expected an RGB uint8 image, got {getattr(image, 'shape', image)}")
        grey = self._cv2.cvtColor(image, self._cv2.COLOR_RGB2GRAY)
        found: list[DecodedCode] = []
        ok, payloads, corners, _ = self._qr.detectAndDecodeMulti(grey)
        if ok and corners is not None:
            for payload, points in zip(payloads, corners, strict=True):
                if payload:  # detected but unreadable codes carry no evidence
                    found.append(DecodedCode(payload, "QR_CODE", _bounds(points)))
        if self._barcode is not None:
            ok, payloads, types, corners = self._barcode.detectAndDecodeWithType(grey)
            if ok and corners is not None:
                for payload, kind, points in zip(payloads, types, corners, strict=True):
                    if payload:
                        found.append(DecodedCode(payload, kind, _bounds(points)))
        return found


def _bounds(points: np.ndarray) -> tuple[float, float, float, float]:
    points = np.asarray(points, dtype=np.float32).reshape(-1, 2)
    return (float(points[:, 0].min()), float(points[:, 1].min()),
            float(points[:, 0].max()), float(points[:, 1].max()))
