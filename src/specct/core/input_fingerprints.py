"""What a corpus held when a split or an experiment was made: its inputs' fingerprints.

A folder of files (wavs, images, augmented images) is fingerprinted by how many files it holds and
a hash of their names and sizes; a vector cache (speaker vectors, each features set) by its size and
a hash of its bytes. Two fingerprints that differ name what changed ("DEMOC images: 0 files, now
24"), so a split made while a corpus had no images is not reused once its images exist, and an
experiment rerun on other inputs says so instead of mixing results.
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Collection, Sequence

from . import paths

AUGMENTED = "augmented images"
FOLDERS = {"wavs": paths.wav_dir, "images": paths.img_dir, AUGMENTED: paths.augmented_dir}
FEATURES_PREFIX = "features "
HASH_BLOCK = 1 << 20


def reads_augmented_images(augmentation: str, balanced: str) -> bool:
    """Whether a split with these options reads augmented images: with an augmentation group, or
    ``balanced_aug`` (which tops classes up with them); otherwise images made later cannot change it."""
    return augmentation != "no_aug" or balanced == "balanced_aug"


def folder_fingerprint(folder: Path) -> str:
    """``"<n> files <hash>"`` of the visible files in ``folder`` (names and sizes); ``"0 files"`` without it."""
    try:
        entries = sorted((e.name, e.stat().st_size) for e in os.scandir(folder)
                         if not e.name.startswith(".") and e.is_file())
    except (FileNotFoundError, NotADirectoryError):
        return "0 files"
    if not entries:
        return "0 files"
    digest = hashlib.sha1("\n".join(f"{name}\t{size}" for name, size in entries).encode()).hexdigest()[:12]
    return f"{len(entries)} files {digest}"


def file_fingerprint(path: Path) -> str:
    """``"<bytes> bytes <hash>"`` of one file's content; ``"absent"`` without it."""
    try:
        with open(path, "rb") as handle:
            digest = hashlib.sha1()
            for block in iter(lambda: handle.read(HASH_BLOCK), b""):
                digest.update(block)
            size = handle.tell()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return "absent"
    return f"{size} bytes {digest.hexdigest()[:12]}"


def corpus_fingerprint(datasets_dir: str | Path, corpus: str, features: bool | Collection[str] = True,
                       augmented: bool = True) -> dict[str, str]:
    """Every input of one corpus a split or a training reads; ``features``: every feature cache too
    (True), none (False), or the caches of those names (``egemaps``: ``<C>_features/egemaps.npz``,
    ``absent`` where missing); ``augmented`` False: not the augmented images (a split that reads none)."""
    found = {what: folder_fingerprint(folder(datasets_dir, corpus)) for what, folder in FOLDERS.items()
             if augmented or what != AUGMENTED}
    speaker = paths.speaker_dir(datasets_dir, corpus)
    found["speaker vectors"] = file_fingerprint(speaker / "embeddings.npz")
    caches = paths.features_dir(datasets_dir, corpus)
    if features is True:
        names = [cache.stem for cache in sorted(caches.glob("[!.]*.npz"))]
    else:
        names = sorted(features or ())
    for name in names:
        found[f"{FEATURES_PREFIX}{name}"] = file_fingerprint(caches / f"{name}.npz")
    return found


def inputs_fingerprint(datasets_dir: str | Path, corpora: Sequence[str], features: bool | Collection[str] = True,
                       augmented: bool = True) -> dict:
    """``{corpus: {input: fingerprint}}`` of ``corpora``."""
    return {corpus: corpus_fingerprint(datasets_dir, corpus, features, augmented) for corpus in sorted(corpora)}


def read_now(recorded: dict, current: dict) -> dict:
    """``recorded`` without the optional inputs ``current`` does not fingerprint: a feature cache no system
    reads now (made for another experiment, or recorded when every cache was), or augmented images a
    split without augmentation does not read (made later for another split), cannot change its results."""
    def optional(what: str) -> bool:
        return what.startswith(FEATURES_PREFIX) or what == AUGMENTED

    return {corpus: {what: value for what, value in (inputs or {}).items()
                     if not optional(what) or what in (current.get(corpus) or {})}
            for corpus, inputs in recorded.items()}


def short(fingerprint: str) -> str:
    """The readable part of a fingerprint: its count, without the hash."""
    parts = fingerprint.split()
    return " ".join(parts[:2]) if len(parts) > 2 else fingerprint


def fingerprint_differences(recorded: dict, current: dict) -> list[str]:
    """What changed from ``recorded`` to ``current``: ``"DEMOC images: 0 files, now 24 files"``."""
    changes = []
    for corpus in sorted(set(recorded) | set(current)):
        if corpus not in current:
            changes.append(f"{corpus}: gone")
            continue
        if corpus not in recorded:
            changes.append(f"{corpus}: new corpus")
            continue
        then, now = recorded[corpus] or {}, current[corpus]
        for what in sorted(set(then) | set(now)):
            before, after = then.get(what, "absent"), now.get(what, "absent")
            if before == after:
                continue
            if short(before) == short(after):
                changes.append(f"{corpus} {what}: changed ({short(after)})")
            else:
                changes.append(f"{corpus} {what}: {short(before)}, now {short(after)}")
    return changes
