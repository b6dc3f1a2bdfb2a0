"""``--refit`` for the image networks: choose on validation, then train again on every labelled row.

Layout of a refit run folder::

    <run folder>/before_refit/   the first training, on train.csv with validation on validation.csv:
                                 args.yaml, summary.csv, curves.png, last.pth.tar, model_best.pth.tar
                                 (the chosen epoch is its best_epoch)
    <run folder>/                the refit: the same flags and seed (so the same initial weights and
                                 schedule), on train.csv + validation.csv, no validation, stopped after
                                 the chosen epoch count; model_best.pth.tar is its last epoch and is the
                                 model eval.py and predict.py use. args.yaml says ``refit: true`` with
                                 ``refit_epochs`` and ``refit_rows``; the checkpoints carry ``refit``.

Finished: the run folder's last.pth.tar is written from the refit's start on (epoch 0) and reads as
finished (its epoch reaches its ``num_epochs``, the chosen count) only after the refit's last epoch,
so ``systems.ensure_trained`` never takes a half-done refit for a finished one. Resuming
(``--resume``, as ``ensure_trained`` asks once the refit has begun): the first training continues
from before_refit/last.pth.tar (nothing to do when it had finished), then the refit from the run
folder's last.pth.tar when that is this refit's (same chosen epoch count; otherwise it starts again). A run killed during the first training, before the refit began, has no
last.pth.tar in the run folder: ``ensure_trained`` restarts it from the start; ``train.py --refit
--resume`` continues it.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..protocol import runs
from ..core.checkpoint import BEST_NAME, LAST_NAME
from ..core.errors import InputError
from . import distributed, loop

FIRST_DIR = "before_refit"


@dataclass
class RefitPlan:
    """The refit of a finished first training: its chosen epoch count and where it was chosen."""
    epochs: int
    chosen_in: str          # the first training's model_best.pth.tar
    train_rows: int
    validation_rows: int

    def speaker_pca(self, pca, frame, vectors, train_dir: Path):
        """The loop asks the plan (it does not import this module, which runs it): :func:`union_pca`."""
        return union_pca(pca, frame, vectors, train_dir)

    def details(self) -> dict:
        """What the refit's checkpoints carry as ``refit``."""
        return {"epochs": self.epochs, "chosen_in": self.chosen_in, "train_rows": self.train_rows,
                "validation_rows": self.validation_rows, "rows": self.train_rows + self.validation_rows}

    def record(self) -> dict:
        """args.yaml's fields."""
        return {"refit_epochs": self.epochs, "refit_rows": self.train_rows + self.validation_rows,
                "refit_chosen_in": self.chosen_in}


def union_pca(pca, frame, vectors, train_dir: Path):
    """The split's PCA (fitted on the training rows' wavs) fitted again on the vectors of ``frame``
    (training + validation rows, each wav once), with the same number of components so the model
    keeps its shape. A PCA the split was given (``--pca_file``) is kept as it is."""
    from ..core.paths import split_info_file
    from ..data.speaker import fit_pca

    info = split_info_file(Path(train_dir).parent)
    if info.is_file() and json.loads(info.read_text()).get("pca_file"):
        return pca
    _, first = np.unique(frame["wav"].to_numpy(), return_index=True)
    return fit_pca(vectors[first], pca.n_components, sorted(set(frame["corpus"])))


def train(args: argparse.Namespace, on_epoch_end=None) -> Path:
    """An image network's training as the flags say: once, or with ``--refit`` the first training and
    then the refit; returns the run folder."""
    args.refit = bool(args.refit)   # None (the flag's default) is off for the networks
    if not args.refit:
        return loop.train(args, on_epoch_end)
    info = distributed.setup(args.device)
    try:
        return train_with_refit(args, info, on_epoch_end)
    finally:
        distributed.cleanup()


def train_with_refit(args: argparse.Namespace, info, on_epoch_end) -> Path:
    """The first training into ``before_refit/``, then the refit into the run folder; returns it."""
    from ..data import split_rows as split_data
    from .loop import _train, run_name

    if args.sched == "plateau":
        raise InputError("--refit with --sched plateau: the refit has no validation metric to step the schedule on")
    train_dir = runs.resolve_train_dir(args.data_dir)
    out_dir = runs.output_dir(args, train_dir, run_name(args))
    first_dir = out_dir / FIRST_DIR
    log = print if info.is_main else (lambda *a, **k: None)
    class_names = split_data.read_class_names(train_dir)
    rows = [len(split_data.read_split(train_dir / name, class_names)) for name in split_data.TRAIN_FILES]
    if rows[1] == 0:   # nothing is chosen on validation, and the one training already sees every row
        log("--refit: no validation rows, so there is nothing to refit; training once on the training rows")
        return _train(args, info, on_epoch_end).out_dir
    # --resume (any value) continues each part from its own last.pth.tar where there is one
    first = argparse.Namespace(**{**vars(args), "experiment": str(first_dir),
                                  "resume": "auto" if args.resume and (first_dir / LAST_NAME).is_file() else None})
    done = _train(first, info, on_epoch_end)
    if done.best_epoch < 1:
        raise InputError(f"{first_dir}: no epoch had a finite validation {args.eval_metric}; nothing to refit")
    plan = RefitPlan(done.best_epoch, str(first_dir / BEST_NAME), *rows)
    log(f"refit: epoch {plan.epochs} was chosen on validation; training again from the same seed on "
        f"{plan.train_rows} train + {plan.validation_rows} validation rows for {plan.epochs} epochs")
    second = argparse.Namespace(**{**vars(args), "resume": "auto" if args.resume and begun(out_dir, plan) else None})
    return _train(second, info, on_epoch_end, refit=plan).out_dir


def begun(out_dir: Path, plan: RefitPlan) -> bool:
    """Whether the run folder's last.pth.tar is this refit's (a training without --refit there, or a
    refit of another chosen epoch count, is not continued but started again)."""
    from ..core.checkpoint import load_checkpoint

    last = Path(out_dir) / LAST_NAME
    return last.is_file() and (load_checkpoint(last).get("refit") or {}).get("epochs") == plan.epochs
