"""Reusing a finished training: a job whose training options and inputs equal those of a job finished in
another experiment under the same output root takes that training (hard links, a copy across file
systems) instead of training again, and is evaluated on its own test rows.

The key is a hash of what shapes a training: the resolved train.py options (output folders left out,
the config and pretrained files by content), the rows of the split it trains on (file names, not
paths), the split's PCA and classes, and the fingerprints of every corpus's inputs and of the feature
caches the system reads (:mod:`specct.core.input_fingerprints`). A flag, a row or an input that differs
is another key, so another training. ``<root>/reuse/<key>.yaml`` names the job folder that trained it
(relative to the root).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from ..core import paths
from ..core.fileio import write_text_atomic
from ..core.input_fingerprints import file_fingerprint, inputs_fingerprint, reads_augmented_images

INDEX_DIR = "reuse"
# options that name where a run goes or how it shows progress, not what it learns
LEFT_OUT = ("data_dir", "experiment", "output", "resume", "no_progress")
PATH_OPTIONS = ("config", "pretrained_path")   # compared by the content of the file they name
SPLIT_FILES = ("train.csv", "validation.csv")
PATH_COLUMNS = ("image", "wav")


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def split_fingerprint(train_data: Path) -> dict:
    """The rows a training reads (each path as its file name, so two experiments' splits of the same
    corpora compare equal), the classes and the arrays of the split's PCA."""
    found = {}
    for name in SPLIT_FILES:
        path = train_data / name
        if path.is_file():
            frame = pd.read_csv(path, keep_default_na=False)
            for column in PATH_COLUMNS:
                if column in frame:
                    frame[column] = frame[column].map(lambda p: Path(str(p)).name)
            found[name] = _digest(frame.to_csv(index=False))
    classes = train_data / "classes.txt"
    found["classes"] = classes.read_text() if classes.is_file() else None
    pca = train_data / "pca.npz"
    if pca.is_file():   # the arrays, not the file: an archive's bytes hold the time it was written
        with np.load(pca, allow_pickle=False) as arrays:
            found["pca"] = {k: f"{arrays[k].dtype} {arrays[k].shape} {hashlib.sha1(arrays[k].tobytes()).hexdigest()}"
                            for k in sorted(arrays.files)}
    return found


def training_key(args, train_data: Path, datasets_dir: str | Path, feature_caches, augmentation: str,
                 balanced: str) -> str | None:
    """The key of a training with options ``args`` on the split in ``train_data``; None where a training
    names other runs (an ensemble's members), which are not compared here."""
    if getattr(args, "members", None):
        return None
    options = {k: v for k, v in vars(args).items() if k not in LEFT_OUT}
    for key in PATH_OPTIONS:
        if options.get(key):
            options[key] = file_fingerprint(Path(options[key]))
    content = {"options": options, "split": split_fingerprint(Path(train_data)),
               "inputs": inputs_fingerprint(datasets_dir, paths.list_corpora(datasets_dir), feature_caches,
                                            augmented=reads_augmented_images(augmentation, balanced))}
    return _digest(json.dumps(content, sort_keys=True, default=str))[:24]


def index_path(root: str | Path, key: str) -> Path:
    return Path(root) / INDEX_DIR / f"{key}.yaml"


def finished_training(root: str | Path | None, key: str | None, own: Path) -> Path | None:
    """The job folder the index names for ``key`` (not ``own``), or None."""
    if root is None or key is None:
        return None
    path = index_path(root, key)
    if not path.is_file():
        return None
    try:
        named = str((yaml.safe_load(path.read_text()) or {}).get("job") or "")
    except (yaml.YAMLError, AttributeError, OSError):
        return None   # a damaged entry: trained again, and the entry written anew
    folder = Path(root) / named
    if not named or Path(named).is_absolute() or ".." in Path(named).parts or folder.resolve() == own.resolve():
        return None
    return folder


def remember(root: str | Path | None, key: str | None, job_folder: Path) -> None:
    """Name ``job_folder`` as the training of ``key`` (an entry naming a training still there is kept)."""
    named = finished_training(root, key, job_folder)
    if root is None or key is None or (named is not None and (named / "train").is_dir()):
        return
    # relative to the root, so that an output folder moved or copied whole names its own jobs
    job = os.path.relpath(job_folder.resolve(), Path(root).resolve())
    write_text_atomic(index_path(root, key), yaml.safe_dump({"job": job}))


def link_training(source: Path, target: Path) -> None:
    """``source`` (a finished training folder) into ``target``: each file hard-linked, or copied where a
    link cannot be made (another file system)."""
    for item in sorted(source.rglob("*")):
        destination = target / item.relative_to(source)
        if item.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.exists():
            destination.unlink()
        try:
            os.link(item, destination)
        except OSError:
            shutil.copy2(item, destination)
