"""A reader for CTranslate2 `model.bin` files (the faster-whisper format).

Layout (little-endian, no padding):

    u32 binary_version
    version >= 2: string spec_name, u32 spec_revision
    u32 num_variables, then per variable:
        string name, u8 rank, u32 dims[rank],
        version >= 4: u8 dtype_id, u32 num_bytes    (older: u8 item_size, u32 num_items)
        raw C-order data
    version >= 3: u32 num_aliases, then (string alias, string target) pairs

A string is a u16 length that counts a trailing NUL, then the UTF-8 bytes and
the NUL. We read it ourselves rather than through `ctranslate2` so that the
weights can feed openai-whisper's PyTorch model and nothing native is needed.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from liveinspect.errors import CheckpointError

# dtype ids of version >= 4 files; bfloat16 has no numpy type and is widened on read.
DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
    5: np.dtype("<u2"),  # bfloat16 bits
}
BFLOAT16_ID = 5
# Version < 4 files give only the item size; these are the types the old writers used.
_OLD_ITEM_SIZES: dict[int, np.dtype] = {1: np.dtype("i1"), 2: np.dtype("<f2"), 4: np.dtype("<f4")}


@dataclass
class Ct2Model:
    """Variables of one CTranslate2 model, with aliases resolved on lookup."""

    version: int
    spec_name: str
    spec_revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)

    def resolve(self, name: str) -> str:
        seen = set()
        while name in self.aliases:
            if name in seen:
                raise CheckpointError(f"alias loop at {name!r}")
            seen.add(name)
            name = self.aliases[name]
        return name

    def __contains__(self, name: str) -> bool:
        return self.resolve(name) in self.variables

    def raw(self, name: str) -> np.ndarray:
        target = self.resolve(name)
        if target not in self.variables:
            raise CheckpointError(f"variable {name!r} is missing from the CTranslate2 model")
        return self.variables[target]

    def weight(self, name: str) -> np.ndarray:
        """A float32 tensor, dequantized when the file stores int8 with a per-row `_scale`."""
        target = self.resolve(name)
        value = self.raw(target)
        if value.dtype == np.int8:
            scale_name = f"{target}_scale"
            if scale_name not in self:
                raise CheckpointError(f"int8 variable {target!r} has no {scale_name!r}")
            scale = self.raw(scale_name).astype(np.float32)
            # CTranslate2 quantizes as q = round(w * scale), one scale per output row.
            shape = (-1,) + (1,) * (value.ndim - 1)
            return value.astype(np.float32) / scale.reshape(shape)
        return value.astype(np.float32)

    def flag(self, name: str, default: int | float | None = None) -> int | float | None:
        """A rank-0 configuration variable such as `encoder/num_heads`; older files lack some."""
        if name not in self:
            return default
        value = self.raw(name)
        if value.ndim != 0:
            raise CheckpointError(f"{name!r} is a tensor, not a configuration flag")
        return value.item()


def _read_exact(stream: BinaryIO, size: int, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise CheckpointError(f"truncated CTranslate2 file while reading {what}")
    return data


def _u8(stream: BinaryIO, what: str) -> int:
    return _read_exact(stream, 1, what)[0]


def _u16(stream: BinaryIO, what: str) -> int:
    return struct.unpack("<H", _read_exact(stream, 2, what))[0]


def _u32(stream: BinaryIO, what: str) -> int:
    return struct.unpack("<I", _read_exact(stream, 4, what))[0]


def _string(stream: BinaryIO, what: str) -> str:
    length = _u16(stream, what)
    raw = _read_exact(stream, length, what)
    if not raw or raw[-1] != 0:
        raise CheckpointError(f"malformed string in CTranslate2 file ({what})")
    return raw[:-1].decode("utf-8")


def _read_variable(stream: BinaryIO, version: int) -> tuple[str, np.ndarray]:
    name = _string(stream, "variable name")
    rank = _u8(stream, f"rank of {name}")
    shape = tuple(_u32(stream, f"shape of {name}") for _ in range(rank))
    if version >= 4:
        dtype_id = _u8(stream, f"dtype of {name}")
        if dtype_id not in DTYPES:
            raise CheckpointError(f"{name}: unknown CTranslate2 dtype id {dtype_id}")
        dtype = DTYPES[dtype_id]
        num_bytes = _u32(stream, f"size of {name}")
    else:
        item_size = _u8(stream, f"item size of {name}")
        if item_size not in _OLD_ITEM_SIZES:
            raise CheckpointError(f"{name}: unsupported item size {item_size}")
        dtype_id = -1
        dtype = _OLD_ITEM_SIZES[item_size]
        num_bytes = _u32(stream, f"size of {name}") * item_size
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if num_bytes != expected:
        raise CheckpointError(f"{name}: {num_bytes} bytes for shape {shape} of {dtype}")
    value = np.frombuffer(_read_exact(stream, num_bytes, name), dtype=dtype).reshape(shape)
    if dtype_id == BFLOAT16_ID:
        value = (value.astype(np.uint32) << 16).view(np.float32)
    return name, value


def read_ct2(path: str | Path | BinaryIO) -> Ct2Model:
    """Parse a CTranslate2 `model.bin` (a path, a model directory or an open binary stream)."""
    if isinstance(path, (str, Path)):
        path = Path(path)
        if path.is_dir():
            path = path / "model.bin"
        if not path.is_file():
            raise CheckpointError(f"no CTranslate2 model file at {path}")
        with open(path, "rb") as stream:
            return read_ct2(stream)
    stream = path
    version = _u32(stream, "binary version")
    if not 1 <= version <= 6:
        raise CheckpointError(f"unsupported CTranslate2 binary version {version}")
    spec_name, spec_revision = "", 1
    if version >= 2:
        spec_name = _string(stream, "spec name")
        spec_revision = _u32(stream, "spec revision")
    variables: dict[str, np.ndarray] = {}
    for _ in range(_u32(stream, "variable count")):
        name, value = _read_variable(stream, version)
        variables[name] = value
    aliases: dict[str, str] = {}
    if version >= 3:
        for _ in range(_u32(stream, "alias count")):
            alias = _string(stream, "alias")
            aliases[alias] = _string(stream, "alias target")
    if stream.read(1):
        raise CheckpointError("trailing bytes after the CTranslate2 model")
    return Ct2Model(version, spec_name, spec_revision, variables, aliases)
