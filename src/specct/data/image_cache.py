"""A split's images decoded once: uint8 RGB arrays at the model's input size, read by every epoch.

Decoding a PNG and resizing it costs the same in every epoch and gives the same array each time.
Within a memory budget the arrays are held in memory; above it they go to a memory-mapped file next
to the split (``image_cache/``) with the size and modification time of every image they came from,
so that a later run reuses the file and a changed image makes it decode the file anew. Batches are
byte-identical to those of the PNG path: both go through :func:`specct.data.split_rows.decode_image`.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from ..core.fileio import atomic_path, remove_stale_temporaries, write_text_atomic

CACHE_MODES = ("auto", "memory", "disk", "off")
DEFAULT_BUDGET_MB = 1024
FOLDER = "image_cache"


def image_stamps(paths: Sequence[str]) -> list[list[int]]:
    """Size and modification time (ns) of each image: what says that an image changed."""
    stamps = []
    for path in paths:
        info = os.stat(path)
        stamps.append([info.st_size, info.st_mtime_ns])
    return stamps


class DecodedImages:
    """``len(paths)`` arrays of shape (height, width, 3), uint8, indexed like ``paths``."""

    def __init__(self, paths: Sequence[str], input_size: Sequence[int], interpolation: str = "bilinear",
                 mode: str = "auto", folder: str | Path | None = None, budget_mb: float = DEFAULT_BUDGET_MB,
                 progress: bool = False, desc: str = "decode images"):
        if mode not in CACHE_MODES or mode == "off":
            raise ValueError(f"image cache mode {mode!r}: one of {', '.join(m for m in CACHE_MODES if m != 'off')}")
        self.paths = [str(p) for p in paths]
        _, height, width = (int(v) for v in input_size)
        self.shape = (len(self.paths), height, width, 3)
        self.interpolation, self.progress, self.desc = interpolation, progress, desc
        nbytes = int(np.prod(self.shape))
        on_disk = mode == "disk" or (mode == "auto" and nbytes > budget_mb * 2**20 and folder is not None)
        if on_disk and folder is None:
            raise ValueError("an image cache on disk needs a folder")
        self.file = self._file_name(Path(folder)) if on_disk else None
        self.array = self._open_or_build() if on_disk else self._decode_all(np.empty(self.shape, np.uint8))

    @property
    def where(self) -> str:
        return str(self.file) if self.file is not None else "memory"

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> np.ndarray:
        return self.array[index]

    def _file_name(self, folder: Path) -> Path:
        # one file per list of images and size: the training and the validation rows have their own
        key = hashlib.sha1("\n".join([*self.paths, repr(self.shape), self.interpolation]).encode()).hexdigest()[:12]
        return folder / FOLDER / f"{self.shape[1]}x{self.shape[2]}-{key}.u8"

    def _decode_all(self, target: np.ndarray) -> np.ndarray:
        from .split_rows import decode_image_file

        for i, path in enumerate(tqdm(self.paths, desc=self.desc, leave=False, disable=not self.progress)):
            target[i] = decode_image_file(path, self.shape[1:3], self.interpolation)
        return target

    def _open_or_build(self) -> np.ndarray:
        index_file = self.file.with_suffix(".json")
        stamps = image_stamps(self.paths)
        try:
            recorded = json.loads(index_file.read_text())
            if recorded.get("shape") == list(self.shape) and recorded.get("stamps") == stamps \
                    and self.file.stat().st_size == int(np.prod(self.shape)):
                return np.memmap(self.file, dtype=np.uint8, mode="r", shape=self.shape)
        except (OSError, ValueError):
            pass    # no cache yet, or one that cannot be read: decode anew
        # Written under a temporary name and renamed: a run reading the old file keeps its own copy,
        # and two runs building the same cache at once each end with a complete file.
        if self.file.parent.is_dir():
            remove_stale_temporaries(self.file.parent)   # a killed build's (as large as the cache)
        with atomic_path(self.file) as tmp:
            built = np.memmap(tmp, dtype=np.uint8, mode="w+", shape=self.shape)
            self._decode_all(built)
            built.flush()
            del built
        write_text_atomic(index_file, json.dumps({"shape": list(self.shape), "paths": self.paths,
                                                  "stamps": stamps}))
        return np.memmap(self.file, dtype=np.uint8, mode="r", shape=self.shape)
