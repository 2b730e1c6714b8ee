"""Files copied from registry packages into an export: what an edge node cannot install.

Some model files ship inside packages whose own dependencies an edge node
must not take: silero-vad's ONNX model sits in a package that requires
torch; the avatar's int8 CLIP tower in one that pins an old onnxruntime.
Their files are copied to `packaged/<distribution>/<path inside
site-packages>`, the layout `liveinspect.models.packaged` reads from an
added root, so on the edge `installed_file(distribution, path)` finds them
without the package.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from liveinspect.errors import WeightsNotFoundError
from liveinspect.export.common import ExportContext
from liveinspect.models.packaged import PACKAGED_DIR, installed_file


def copy_packaged(ctx: ExportContext, distribution: str, relative: str) -> Path:
    source = installed_file(distribution, relative)
    if source is None:
        raise WeightsNotFoundError(f"{distribution} is not installed (or lacks {relative}); the export "
                                   "runs where every model's package is installed (`make install`)")
    target = ctx.out / PACKAGED_DIR / distribution / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def copy_vad(ctx: ExportContext) -> Path:
    from liveinspect.models.silero import DISTRIBUTION, MODEL_FILE

    return copy_packaged(ctx, DISTRIBUTION, MODEL_FILE)
