"""Reading a CTranslate2 ``model.bin`` into named numpy arrays, without the ctranslate2 package.

The file (binary versions 4 to 6, little-endian) is: a uint32 version; the spec name (a string) and
a uint32 spec revision; a uint32 count of variables, each a name, a uint8 rank, rank uint32
dimensions, a uint8 type id, a uint32 byte count and the raw data; then a uint32 count of aliases,
each a pair of strings (alias, name of the variable it repeats). A string is a uint16 length
(counting a trailing NUL), the UTF-8 bytes and the NUL. Names are scopes joined by ``/``
(``encoder/layer_0/self_attention/linear_0/weight``). An int8-quantized weight has a float32
``<name>_scale`` beside it, one scale per output row: the float value is ``int8 / scale``.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import InputError

SUPPORTED_VERSIONS = (4, 5, 6)
# The type ids, in the order of CTranslate2's DataType enum; bfloat16 is read as uint16 and widened.
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}


class CT2FileError(InputError):
    """A model.bin that cannot be read; the message names the file and the reason."""


@dataclass
class CT2Model:
    spec: str                       # e.g. WhisperSpec
    revision: int
    variables: dict[str, np.ndarray]   # aliases resolved: an alias maps to the array it repeats
    aliases: dict[str, str]            # alias -> the variable stored once for both

    def float_weight(self, name: str) -> np.ndarray:
        """The variable as float32, dequantized when it is int8/int16 with a ``<name>_scale`` beside it."""
        value = self.variables[name]
        if value.dtype in (np.int8, np.int16) and f"{name}_scale" in self.variables:
            scale = self.variables[f"{name}_scale"].astype(np.float32)
            shape = (-1,) + (1,) * (value.ndim - 1) if scale.ndim == 1 else ()
            return value.astype(np.float32) / scale.reshape(shape)
        return value.astype(np.float32)


class _Reader:
    def __init__(self, path: Path, data: bytes):
        self.path, self.data, self.pos = path, data, 0

    def take(self, size: int, what: str) -> bytes:
        if self.pos + size > len(self.data):
            raise CT2FileError(f"{self.path}: truncated ({what} needs {size} bytes at offset {self.pos}, "
                               f"{len(self.data) - self.pos} left); fetch the file again")
        chunk = self.data[self.pos:self.pos + size]
        self.pos += size
        return chunk

    def uint(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        size = self.uint("H", what)
        raw = self.take(size, what)
        if size == 0 or raw[-1:] != b"\0":
            raise CT2FileError(f"{self.path}: damaged ({what} is not a NUL-terminated string at offset {self.pos})")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise CT2FileError(f"{self.path}: damaged ({what} is not UTF-8 at offset {self.pos})") from None


def _array(raw: bytes, type_id: int, shape: tuple[int, ...]) -> np.ndarray:
    if DTYPES[type_id] == "bfloat16":   # the upper half of a float32
        return (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
    return np.frombuffer(raw, dtype=np.dtype(DTYPES[type_id]).newbyteorder("<")).reshape(shape)


def read_ct2_model(path: str | Path) -> CT2Model:
    """Every variable of a CTranslate2 model.bin; a damaged or truncated file is a one-line CT2FileError."""
    path = Path(path)
    if not path.is_file():
        raise CT2FileError(f"{path}: no such file")
    r = _Reader(path, path.read_bytes())
    version = r.uint("I", "the binary version")
    if version not in SUPPORTED_VERSIONS:
        raise CT2FileError(f"{path}: not a CTranslate2 model of a known binary version "
                           f"(read {version}, known {', '.join(map(str, SUPPORTED_VERSIONS))})")
    spec = r.string("the spec name")
    revision = r.uint("I", "the spec revision")
    variables: dict[str, np.ndarray] = {}
    aliases: dict[str, str] = {}
    for _ in range(r.uint("I", "the variable count")):
        name = r.string("a variable name")
        rank = r.uint("B", f"the rank of {name}")
        shape = tuple(r.uint("I", f"the shape of {name}") for _ in range(rank))
        type_id = r.uint("B", f"the type of {name}")
        if type_id not in DTYPES:
            raise CT2FileError(f"{path}: damaged ({name} has unknown type id {type_id})")
        size = r.uint("I", f"the size of {name}")
        width = 2 if DTYPES[type_id] == "bfloat16" else np.dtype(DTYPES[type_id]).itemsize
        if size != width * int(np.prod(shape, dtype=np.int64)):
            raise CT2FileError(f"{path}: damaged ({name} of shape {list(shape)} says {size} bytes)")
        variables[name] = _array(r.take(size, f"the data of {name}"), type_id, shape)
    for _ in range(r.uint("I", "the alias count")):
        alias, target = r.string("an alias"), r.string("an alias target")
        if target not in variables:
            raise CT2FileError(f"{path}: damaged (alias {alias} names a missing variable {target})")
        variables[alias], aliases[alias] = variables[target], target
    return CT2Model(spec, revision, variables, aliases)
