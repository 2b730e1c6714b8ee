"""Edge bundles: one tar of an export folder (manifest, models, policy), checked file by file on open.

`pack_bundle` writes the manifest first and every listed file after it,
uncompressed (ONNX weights barely compress, and an uncompressed tar can be
read without unpacking it twice). `open_bundle` unpacks a tar once into a
folder beside it named by the tar's checksum (later opens reuse it), then
`verify_tree` checks every file against the manifest; a tar holding
anything but plain files under relative paths is refused before unpacking.
A folder is verified in place. Either way a changed, missing or unlisted
file raises `BundleError` (exit code 2) and nothing runs.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from liveinspect.export.manifest import MANIFEST_FILE, BundleError, Manifest, file_sha256, verify_tree


def chosen_only(manifest: Manifest) -> Manifest:
    """The manifest without the fp32 graphs that have an int8 twin in a model whose default is int8
    (Whisper's, the e5 encoder's): a bundle a third of the size that runs only what is chosen. A
    graph without a twin (the n-gram model beside the e5 encoder) stays."""
    import copy

    lean = copy.deepcopy(manifest)
    for model in lean.models.values():
        if model.precision != "int8":
            continue
        paths = {f.path for f in model.files}
        model.files = [f for f in model.files
                       if not (f.path.endswith(".onnx") and ".int8." not in f.path
                               and f.path[: -len(".onnx")] + ".int8.onnx" in paths)]
    return lean


def pack_bundle(root: str | Path, tar_path: str | Path, *, chosen_precision_only: bool = False) -> Path:
    """Pack the export in `root` (verified first) into the tar `tar_path`; with
    `chosen_precision_only`, each model's default precision only (see `chosen_only`)."""
    import io

    root, tar_path = Path(root), Path(tar_path)
    manifest = verify_tree(root)
    if chosen_precision_only:
        manifest = chosen_only(manifest)
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    partial = tar_path.with_name(f"{tar_path.name}.{os.getpid()}.tmp")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        listing = (manifest.to_json() + "\n").encode("utf-8")
        info = tarfile.TarInfo(MANIFEST_FILE)
        info.size, info.mtime, info.mode = len(listing), int((root / MANIFEST_FILE).stat().st_mtime), 0o644
        tar.addfile(info, io.BytesIO(listing))
        for record in sorted(manifest.all_files(), key=lambda r: r.path):
            tar.add(root / record.path, arcname=record.path)
    os.replace(partial, tar_path)
    return tar_path


def _check_members(tar: tarfile.TarFile, source: Path) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for member in members:
        parts = PurePosixPath(member.name).parts
        if member.name.startswith("/") or ".." in parts or not parts:
            raise BundleError(f"{source}: member {member.name!r} points outside the bundle (refusing it)")
        if not (member.isfile() or member.isdir()):
            raise BundleError(f"{source}: member {member.name!r} is not a plain file (refusing it)")
    if MANIFEST_FILE not in {m.name for m in members}:
        raise BundleError(f"{source} has no {MANIFEST_FILE}: not an edge bundle; make one with "
                          "`liveinspect export --models all --out DIR --bundle edge.tar`")
    return members


def open_bundle(path: str | Path, *, unpack_dir: str | Path | None = None) -> tuple[Path, Manifest]:
    """(folder, manifest) of an export folder or bundle tar, every file verified."""
    path = Path(path)
    if path.is_dir():
        return path, verify_tree(path)
    if not path.is_file():
        raise BundleError(f"no export folder or bundle at {path}")
    if not tarfile.is_tarfile(path):
        raise BundleError(f"{path} is neither an export folder nor a tar bundle")
    digest = file_sha256(path)[:16]
    target = Path(unpack_dir) if unpack_dir else path.with_name(f".{path.name}.{digest}")
    if not (target / MANIFEST_FILE).is_file():
        partial = target.with_name(f"{target.name}.{os.getpid()}.tmp")
        shutil.rmtree(partial, ignore_errors=True)
        with tarfile.open(path) as tar:
            members = _check_members(tar, path)
            tar.extractall(partial, members=members, filter="data")
        shutil.rmtree(target, ignore_errors=True)
        os.replace(partial, target)
    return target, verify_tree(target)
