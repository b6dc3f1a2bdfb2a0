"""Named random streams: one generator per (seed, names), the one home of seeded randomness.

A stream depends only on the seed and its names, never on processing order, worker count or
which other streams were drawn, so adding a corpus, a fold or an augmentation never changes the
draws of another. Names are hashed with a stable hash (Python's ``hash()`` changes between
processes), each name into 32-bit words, and the seed and words go into one ``SeedSequence``.

Two word functions exist because the splits were first written with crc32 and stay byte-identical:
``sha256_words`` (four words per name, the default: augmentation, demo corpora) and
``crc32_words`` (one word per name: speaker splits).
"""
from __future__ import annotations

import hashlib
import zlib
from typing import Callable

import numpy as np

from .errors import InputError

__all__ = ["rng_for", "sha256_words", "crc32_words"]


def sha256_words(name: object) -> list[int]:
    """Four little-endian 32-bit words of the SHA-256 of ``str(name)``."""
    digest = hashlib.sha256(str(name).encode("utf-8")).digest()
    return [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]


def crc32_words(name: object) -> list[int]:
    """One 32-bit word: the crc32 of ``str(name)``."""
    return [zlib.crc32(str(name).encode("utf-8"))]


def rng_for(seed: int, *names: object, words: Callable[[object], list[int]] = sha256_words) -> np.random.Generator:
    """The generator of the stream named ``names`` under ``seed``: ``SeedSequence([seed, *words(n) ...])``."""
    if int(seed) < 0:
        raise InputError(f"seed must be non-negative, got {seed}")
    return np.random.default_rng(np.random.SeedSequence([int(seed), *(w for n in names for w in words(n))]))
