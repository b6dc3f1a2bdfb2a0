"""The split folders an experiment's jobs read, made once and shared (one process at a time)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd

from ..core import paths
from ..core.errors import InputError, MissingInputError
from ..core.labels import class_set_name
from .experiment import LocoOptions


@contextlib.contextmanager
def split_lock(folder: Path) -> Iterator[None]:
    """One process at a time makes the splits below ``folder`` (jobs of an array may start together)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".split.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def split_complete(split: Path) -> bool:
    """A split folder is complete once split_options.json, written last, is there."""
    return (split / "split_options.json").is_file()


def split_current(split: Path, opts: LocoOptions, say: bool = False) -> bool:
    """Complete, and made from the files its corpora hold now: a split made while a corpus had no
    images (or other wavs, vectors) is made again, said in one line, never reused silently. An
    experiment whose own record names other inputs stops before it gets here (its settings check)."""
    from ..data.splits import stale_inputs

    if not split_complete(split):
        return False
    changed = stale_inputs(split, opts.datasets_dir)
    if changed and say:
        print(f"{split}: made from other inputs ({'; '.join(changed)}); making it again")
    return not changed


def run_split(split_options) -> None:
    """The split stage; its plain errors (a corpus with too few speakers, a missing folder) become
    one-line InputError / MissingInputError, so that run_loco.py exits with their reason."""
    from ..core.errors import SpecctError
    from ..data.splits import run_split_stage

    try:
        run_split_stage(split_options)
    except SpecctError:
        raise
    except FileNotFoundError as exc:
        raise MissingInputError(str(exc)) from exc
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def split_options(opts: LocoOptions, **overrides):
    """The fold's SplitOptions: the experiment's split settings (both extend SplitSettings), its folders."""
    from dataclasses import asdict

    from ..data.splits import SplitOptions, split_settings_of

    return SplitOptions(**{**asdict(split_settings_of(opts)), "datasets_dir": opts.datasets_dir,
                           "output_dir": opts.data_dir, **overrides})


def ensure_split(opts: LocoOptions, held_out: str) -> Path:
    """The leave-one-corpus-out split of ``held_out`` (shared by every system), made if missing."""
    classes_name = class_set_name(opts.num_classes, opts.classes)
    split = paths.split_dir(opts.data_dir, held_out, classes_name, opts.augmentation, opts.balanced)
    if split_complete(split):   # never reuse a split made with another validation choice, seed or PCA width
        from ..data.splits import check_recorded_choices

        check_recorded_choices(split, split_options(opts, eval_dataset=held_out))
    if not split_current(split, opts):
        with split_lock(Path(opts.data_dir)):
            if not split_current(split, opts, say=True):
                run_split(split_options(opts, eval_dataset=held_out))
    return split


def ensure_cross_split(opts: LocoOptions, corpus: str, others: Sequence[str]) -> Path:
    """A split that trains and validates on ``corpus`` alone (its test rows are not used)."""
    output_dir = Path(opts.data_dir) / "pairwise" / f"train-{corpus}"
    classes_name = class_set_name(opts.num_classes, opts.classes)
    split = paths.split_dir(output_dir, others[0], classes_name, opts.augmentation, opts.balanced)
    if not split_current(split, opts):
        with split_lock(Path(opts.data_dir)):
            if not split_current(split, opts, say=True):
                run_split(split_options(opts, eval_dataset=others[0], train_datasets=[corpus],
                                        output_dir=str(output_dir)))
    return split


def make_fold_splits(opts: LocoOptions, corpus: str) -> Path:
    """Every within-corpus fold of ``corpus`` (the pairwise diagonal), made if missing; their base folder."""
    from ..data.splits import protocol_folder

    base = Path(opts.data_dir) / corpus / protocol_folder(opts.diagonal, opts.folds)
    if not (base / "folds.csv").is_file():
        with split_lock(Path(opts.data_dir)):
            if not (base / "folds.csv").is_file():   # folds.csv is written after every fold
                run_split(split_options(opts, eval_dataset=corpus, protocol=opts.diagonal, folds=opts.folds))
    return base


def fold_names(opts: LocoOptions, corpus: str) -> list[str]:
    """The diagonal's folds of a corpus: K of them with ``--folds K``; one per usable speaker
    otherwise, which only the split knows (it is made here if missing)."""
    if opts.folds:
        return [f"fold-{i:02d}" for i in range(1, opts.folds + 1)]
    return list(pd.read_csv(make_fold_splits(opts, corpus) / "folds.csv")["fold"])


def ensure_fold_split(opts: LocoOptions, corpus: str, fold: str) -> Path:
    """One within-corpus fold of the pairwise diagonal."""
    base = make_fold_splits(opts, corpus)
    split = base / fold / class_set_name(opts.num_classes, opts.classes) / opts.augmentation / opts.balanced
    if not split_complete(split):
        raise MissingInputError(f"{split}: no such fold of {corpus} (see {base / 'folds.csv'})")
    return split
