"""MTCNN face detection: numpy pre/postprocessing (`detector`), the three nets (`nets`, torch only).

Importing this package loads no torch; the torch backend imports `nets` when chosen.
"""

from liveinspect.models.faces.detector import (
    FaceBox,
    FaceDetector,
    crop_face,
    export_mtcnn_onnx,
    locate_mtcnn_weights,
)

__all__ = ["FaceBox", "FaceDetector", "crop_face", "export_mtcnn_onnx", "locate_mtcnn_weights"]
