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
import zipfile
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

    state = {"format": FORMAT, "format_version": FORMAT_VERSION, **state}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


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
