"""Colour lookup tables: 256 RGB rows per colour map, so colouring an image is one numpy index.

magma is what the original's images looked like (librosa's default for dB spectrograms),
jet its "colored" option, gray a plain ramp. The tables come from matplotlib's colour maps,
built once per process; no figure is ever drawn.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..core.errors import InputError

CMAPS = ("magma", "jet", "gray")


@lru_cache(maxsize=None)
def lookup_table(name: str) -> np.ndarray:
    """A read-only ``(256, 3)`` uint8 table: row ``i`` is the colour of level ``i`` (0 = dark/low)."""
    if name not in CMAPS:
        raise InputError(f"unknown colour map {name!r}; choose one of {', '.join(CMAPS)}")
    if name == "gray":
        ramp = np.arange(256, dtype=np.uint8)
        table = np.stack([ramp, ramp, ramp], axis=1)
    else:
        from matplotlib import colormaps  # the registry only; pyplot is never imported

        rgba = colormaps[name](np.linspace(0.0, 1.0, 256))
        table = np.round(rgba[:, :3] * 255).astype(np.uint8)
    table.setflags(write=False)
    return table
