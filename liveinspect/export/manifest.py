"""The export manifest: every model file an edge node runs, with its checksum, shapes and parity figures.

`manifest.json` sits at the root of an export folder (and of a bundle). Per
model it records the name, version, the source checkpoint and its hash, the
chosen precision (and, for int8, the accuracy budget it was held to and
the figures that decided it), the parity measured against PyTorch, and per
file its sha256, size and, for ONNX graphs, opset and input/output names
and shapes. Policy files and files copied from registry packages (the VAD,
the avatar tower) are listed the same way.

`verify_tree` is what the edge runtime runs on load: every listed file must
be there with its exact size and sha256, and no file under the tree may be
missing from the manifest; otherwise `BundleError` (exit code 2) names the
first file that differs. This module imports neither torch nor onnx.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from liveinspect.errors import LiveInspectError

MANIFEST_FILE = "manifest.json"
FORMAT = "liveinspect-edge-manifest/1"


class BundleError(LiveInspectError):
    """An export folder or bundle that fails its manifest: a missing, changed or unlisted file."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class FileRecord:
    """One file, by its path relative to the manifest."""

    path: str
    sha256: str
    bytes: int
    precision: str | None = None  # ONNX graphs: fp32 or int8
    opset: int | None = None
    inputs: list[dict[str, Any]] | None = None  # [{"name", "type", "shape"}], symbolic axes as names
    outputs: list[dict[str, Any]] | None = None


@dataclass
class ModelRecord:
    """One exported model (which may be several graphs) and what its export measured."""

    name: str  # the name `liveinspect export --models` takes: whisper, faces, claims, ...
    task: str  # what it does in a scan: "speech", "frames.faces", "text", ...
    version: str
    source: str  # where the weights came from (a package, a checkpoint path)
    source_sha256: str | None
    folder: str  # relative to the manifest
    precision: str  # what the edge runtime opens by default
    files: list[FileRecord] = field(default_factory=list)
    parity: dict[str, Any] = field(default_factory=dict)  # figures against PyTorch
    int8: dict[str, Any] = field(default_factory=dict)  # status, metric, fp32, int8, budget, reason
    notes: list[str] = field(default_factory=list)


@dataclass
class Manifest:
    liveinspect_version: str
    models: dict[str, ModelRecord] = field(default_factory=dict)
    policy: list[FileRecord] = field(default_factory=list)  # the policy files the bundle scans with
    packaged: list[FileRecord] = field(default_factory=list)  # files copied from registry packages
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, ensure_ascii=False)

    def write(self, root: str | Path) -> Path:
        path = Path(root) / MANIFEST_FILE
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, root: str | Path) -> Manifest:
        path = Path(root) / MANIFEST_FILE
        if not path.is_file():
            raise BundleError(f"{root} has no {MANIFEST_FILE}: not an export folder or bundle; make one "
                              "with `liveinspect export --models all --out DIR`")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise BundleError(f"{path}: not valid JSON ({error})") from error
        if data.get("format") != FORMAT:
            raise BundleError(f"{path}: format {data.get('format')!r}, this runtime reads {FORMAT!r}; "
                              "export again with this version of liveinspect")
        try:
            models = {name: ModelRecord(**{**record, "files": [FileRecord(**f) for f in record["files"]]})
                      for name, record in data["models"].items()}
            return cls(liveinspect_version=data["liveinspect_version"], models=models,
                       policy=[FileRecord(**f) for f in data.get("policy", [])],
                       packaged=[FileRecord(**f) for f in data.get("packaged", [])])
        except (KeyError, TypeError) as error:
            raise BundleError(f"{path}: malformed manifest ({type(error).__name__}: {error})") from error

    def all_files(self) -> list[FileRecord]:
        return [f for m in self.models.values() for f in m.files] + self.policy + self.packaged

    @property
    def digest(self) -> str:
        """A short identity of the whole export: the sha256 of the listed files' checksums."""
        listing = "\n".join(f"{f.path} {f.sha256}" for f in sorted(self.all_files(), key=lambda f: f.path))
        return hashlib.sha256(listing.encode("utf-8")).hexdigest()[:16]


def record_file(root: Path, path: Path, **extra: Any) -> FileRecord:
    return FileRecord(path=path.relative_to(root).as_posix(), sha256=file_sha256(path),
                      bytes=path.stat().st_size, **extra)


def verify_tree(root: str | Path, manifest: Manifest | None = None) -> Manifest:
    """Check every file under `root` against its manifest; returns the manifest."""
    root = Path(root)
    manifest = manifest or Manifest.read(root)
    listed = {}
    for record in manifest.all_files():
        if record.path in listed:
            raise BundleError(f"manifest lists {record.path} twice")
        listed[record.path] = record
    for relative, record in sorted(listed.items()):
        path = root / relative
        if ".." in Path(relative).parts or Path(relative).is_absolute():
            raise BundleError(f"manifest names a file outside the bundle: {relative}")
        if not path.is_file():
            raise BundleError(f"{relative} is listed in the manifest but missing from {root}; the bundle "
                              "is incomplete: export or copy it again")
        size = path.stat().st_size
        if size != record.bytes:
            raise BundleError(f"{relative}: {size} bytes, the manifest says {record.bytes}; the file was "
                              "changed or damaged after export (refusing to run it)")
        if file_sha256(path) != record.sha256:
            raise BundleError(f"{relative}: sha256 differs from the manifest; the file was changed after "
                              "export (refusing to run it)")
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        if path.is_file() and relative != MANIFEST_FILE and relative not in listed:
            raise BundleError(f"{relative} is in {root} but not in its manifest; a bundle holds exactly "
                              "what its export listed (refusing to run it)")
    return manifest
