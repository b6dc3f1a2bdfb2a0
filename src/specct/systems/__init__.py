"""Every kind of system behind one interface, and the one place that chooses among them.

``system_for_model(name)`` (a ``--model`` name) and ``system_for_output(path)`` (a run folder or a
saved model) are the only dispatch in specct: training, evaluation, prediction and the experiments
ask here and nowhere else which kind they hold. Kinds are tried in order; image networks come last
and take every name no other kind claims (any timm model). A new kind is one :class:`System`
subclass registered with :func:`register_system`.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .base import Scores, ScoreSettings, System, TrainedSystem
from .baseline import BaselineSystem, TrainedBaseline
from .ensemble import EnsembleSystem, TrainedEnsemble
from .network import NetworkSystem, SpeakerNormError, TrainedNetwork, checkpoint_path
from .whisper_finetune import WhisperFinetuneSystem
from .whisper_head import TrainedWhisperHead, WhisperHeadSystem

__all__ = ["System", "TrainedSystem", "Scores", "ScoreSettings", "SYSTEMS", "register_system",
           "unregister_system", "system_for_model", "check_model", "system_for_output", "load", "output_dir", "fit",
           "ensure_trained", "BaselineSystem", "EnsembleSystem", "NetworkSystem", "TrainedEnsemble", "TrainedBaseline", "TrainedNetwork",
           "SpeakerNormError", "checkpoint_path", "WhisperHeadSystem", "WhisperFinetuneSystem", "TrainedWhisperHead"]

SYSTEMS: list[System] = [BaselineSystem(), EnsembleSystem(), WhisperHeadSystem(), WhisperFinetuneSystem(),
                         NetworkSystem()]


def register_system(system: System) -> System:
    """Add a kind, tried before the image networks (which take any other name)."""
    SYSTEMS.insert(len(SYSTEMS) - 1, system)
    return system


def unregister_system(system: System) -> None:
    SYSTEMS.remove(system)


def system_for_model(model_name: str) -> System:
    return next(s for s in SYSTEMS if s.handles(str(model_name)))


def check_model(model_name: str) -> None:
    """One line (InputError) when no kind can build ``model_name``, with the nearest name any kind knows."""
    from ..core.errors import InputError

    try:
        system_for_model(model_name).check_model(model_name)
    except InputError as exc:
        import difflib

        known = [name for system in SYSTEMS for name in system.model_names()]
        close = difflib.get_close_matches(str(model_name), known, n=1)
        raise InputError(f"{exc}" + (f"; did you mean {close[0]!r}?" if close else "")) from None


def system_for_output(path: str | Path) -> System:
    """The kind of a run folder (by the model its args.yaml names) or of a saved model file."""
    path = Path(path)
    if path.is_dir() and (path / "args.yaml").is_file():
        from ..protocol.runs import read_args

        model = read_args(path).get("model")
        if model:
            return system_for_model(model)
    return next((s for s in SYSTEMS if s.recognises(path)), SYSTEMS[-1])


def load(path: str | Path, device: str = "cpu", checkpoint: str | None = None) -> TrainedSystem:
    return system_for_output(path).load(path, device, checkpoint)


def output_dir(args: argparse.Namespace) -> Path:
    """Where training with ``args`` writes: ``--experiment``, or ``<output>/<run name>/<split>``."""
    from ..protocol.runs import output_dir as run_folder, resolve_train_dir

    return run_folder(args, resolve_train_dir(args.data_dir), system_for_model(args.model).run_name(args))


def fit(args: argparse.Namespace, on_epoch_end=None) -> Path:
    """Train the system ``args.model`` names; returns its run folder."""
    remove_run_temporaries(output_dir(args))
    return system_for_model(args.model).fit(args, on_epoch_end)


def remove_run_temporaries(out_dir: Path) -> None:
    """The temporaries a killed training left in its run folder (a checkpoint can be tens of MB)."""
    from ..core.fileio import remove_stale_temporaries

    if out_dir.is_dir():
        remove_stale_temporaries(out_dir, recursive=True)


def ensure_trained(args: argparse.Namespace, log=print) -> Path:
    """Train unless the run folder holds a finished training; an unfinished one continues where
    its kind can (a network from last.pth.tar) and starts again where it cannot."""
    system = system_for_model(args.model)
    out_dir = output_dir(args)
    remove_run_temporaries(out_dir)
    if system.is_trained(out_dir, args):
        if log:
            log(f"already trained: {out_dir}")
        return out_dir
    system.prepare_resume(out_dir, args)
    return system.fit(args)
