"""Checkpoints that rebuild their model alone.

A checkpoint holds the weights (the speaker PCA included, as buffers), the timm model name and the
keyword arguments it was created with, whether the model takes a speaker vector (``takes_speaker``),
the class names, the input size and normalisation, and the spectrogram settings; so evaluation and
prediction need nothing but the file (``specct.models.factory.model_from_checkpoint`` rebuilds the
model). Training adds the
optimizer, scheduler, EMA and RNG states and the epoch, so that ``--resume`` continues exactly.
"""
from __future__ import annotations

import pickle
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

from .errors import SpecctError
from .fileio import atomic_path

FORMAT = "specct-checkpoint"
FORMAT_VERSION = 1
BEST_NAME = "model_best.pth.tar"
LAST_NAME = "last.pth.tar"


class CheckpointError(SpecctError, ValueError):
    """A checkpoint that cannot be used; the message names the file and the reason."""


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically: a killed run never leaves a half-written checkpoint."""
    import torch   # on use: eval.py and predict.py answer --help without it

    state = canonical({"format": FORMAT, "format_version": FORMAT_VERSION, **state})
    # saved through a file object: torch names the archive inside after a file name (here the
    # temporary's, with its writer's pid), which would make two identical trainings' files differ
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        torch.save(state, fh)


def canonical(value):
    """``value`` with equal strings made one object and no container shared, so that pickle's memo
    (and so the file's bytes) depends on the values alone: a resumed training, whose optimizer state
    was read back with strings of its own, then saves the bytes an uninterrupted one saves."""
    if type(value) is str:
        return sys.intern(value)
    if type(value) in (dict, OrderedDict):
        copy = type(value)((canonical(k), canonical(v)) for k, v in value.items())
        if hasattr(value, "_metadata"):   # a module's state_dict: the versions load_state_dict reads
            copy._metadata = canonical(value._metadata)
        return copy
    if type(value) in (list, tuple):
        return type(value)(canonical(v) for v in value)
    return value


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, with one-line errors for bad files."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CheckpointError(f"{path}: corrupt or unreadable checkpoint ({type(exc).__name__}: {first_line})") \
            from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a specct checkpoint (no model name, classes or input settings)")
    for key in ("state_dict", "model_name", "model_kwargs", "class_names", "data_config"):
        if key not in state:
            raise CheckpointError(f"{path}: checkpoint lacks {key!r}")
    return state
