"""Which torch device a run uses: ``auto`` (a GPU where torch sees one, else the CPU), ``cpu``,
``cuda`` or ``cuda:N``. One home for the choice, so that a GPU asked for on a machine without one
is the same one line for training, evaluation and prediction, before any work starts."""
from __future__ import annotations

from .errors import InputError


def torch_device(name: str | None = "auto"):
    import torch

    name = str(name or "auto")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"--device {name!r}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {name} asked for, but torch sees no CUDA device here (use --device cpu or auto)")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise InputError(f"--device {name}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return device
