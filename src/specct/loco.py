"""Experiments over corpora: K systems x N held-out corpora, each an independent, resumable job.

Two protocols, one experiment folder ``output/loco/<experiment>/``:

- ``loco`` (leave-one-corpus-out): every system is trained on all other imported corpora and tested
  on the held-out one. All systems on one held-out corpus share one split (same seed, same train,
  validation and test rows): the split folder ``data/<HELD>/...`` is made once and reused.
- ``pairwise`` (one-to-one): every system is trained on one corpus (validation speakers drawn from
  it) and tested on each other corpus's whole set of rows (the loco test set of that corpus), which
  fills the off-diagonal of an N x N matrix; the diagonal is a speaker-independent split inside the
  corpus (k-fold or leave-one-speaker-out, :mod:`specct.splits`), its folds' predictions pooled.

Each (system, corpus[, fold]) pair is a job: split if missing, train, evaluate, through
:func:`specct.train.train` and :func:`specct.evaluate.evaluate`, so any system those entry points
run works here. A job whose every ``performance.yaml`` exists is finished and skipped; an interrupted
neural training resumes from its ``last.pth.tar``. ``--print_jobs`` prints one self-contained shell
command per job (for a Slurm array or GNU parallel); ``--collect`` gathers the finished jobs into
``results.csv``, ``comparison.csv`` (paired bootstrap, :mod:`specct.compare`), ``heatmap.png`` and
the pairwise matrices, and lists what is missing. The layout::

    output/loco/<experiment>/
        experiment.yaml                  options, systems, command, versions
        jobs.csv                         job, protocol, system, corpus, fold, finished
        results.csv  comparison.csv  heatmap.png  results.md
        pairwise.csv  pairwise_summary.csv  pairwise_matrix_<system>.csv  pairwise_<system>.png
        jobs/loco/<system>/<HELD>/{train,test}/
        jobs/pairwise/<system>/<TRAIN>/train/ and test-<OTHER>/
        jobs/pairwise/<system>/<TRAIN>/<fold-NN>/{train,test}/
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd
import yaml

from . import paths
from .checkpoint import LAST_NAME, load_checkpoint
from .cli import ArgumentParser, add_datasets_arguments
from .errors import InputError, MissingInputError, run_script
from .evaluate import PERFORMANCE_NAME, PREDICTIONS_NAME, evaluate
from .fileio import write_csv_atomic, write_text_atomic
from .labels import class_set_name
from .splits import LOCO_ARGUMENTS, add_split_arguments

EXPERIMENT_FILE = "experiment.yaml"
JOBS_CSV = "jobs.csv"
RESULTS_CSV = "results.csv"
COMPARISON_CSV = "comparison.csv"
RESULTS_MD = "results.md"
HEATMAP = "heatmap.png"
PAIRWISE_CSV = "pairwise.csv"
PAIRWISE_SUMMARY_CSV = "pairwise_summary.csv"
JOB_RECORD = "job.yaml"
PROTOCOLS = ("loco", "pairwise")
DIAGONALS = ("kfold", "loso")
DEFAULT_MODEL = "speaker_vgg_cct_7_7x2_112"
SELF = "self"


@dataclass
class System:
    """One system of an experiment: a name (its folder), a model, a train.py config and extra flags."""
    name: str
    model: str
    config: str | None = None
    train_args: list[str] = field(default_factory=list)


@dataclass
class LocoOptions:
    datasets_dir: str = str(paths.DATASETS_DIR)
    corpora: list[str] | None = None          # --datasets: corpora held out in turn (default: every imported one)
    systems: list[System] = field(default_factory=lambda: [System(DEFAULT_MODEL, DEFAULT_MODEL)])
    num_classes: str = "4"
    classes: str | None = None
    augmentation: str = "no_aug"
    balanced: str = "no_balanced"
    percent_subject_validation: float = 0.25
    validation: str = "auto"                  # auto | speakers | corpus | none (docs/splits.md)
    validation_corpus: str | None = None
    n_components: int = 256
    seed: int = 0
    data_dir: str = str(paths.DATA_DIR)
    output: str = "output"
    train_args: list[str] = field(default_factory=list)   # train.py flags for every system
    bootstrap: int = 1000
    progress: bool = True
    experiment: str | None = None             # folder name under <output>/loco; default: the systems' names
    reference: str | None = None              # system the others are compared with; default: the first
    protocols: list[str] = field(default_factory=lambda: ["loco"])
    diagonal: str = "kfold"                   # within-corpus split of the pairwise diagonal
    folds: int | None = 5                     # its folds (kfold, or speaker groups with loso); None: one per speaker
    max_jobs: int | None = None               # stop after running this many jobs (a finished job does not count)


# --------------------------------------------------------------------------- systems and experiments

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def system_name(model: str, config: str | None) -> str:
    return f"{model}-{Path(config).stem}" if config else model


def check_systems(systems: Sequence[System], source: str) -> None:
    if not systems:
        raise InputError(f"{source}: no system to run")
    names = [s.name for s in systems]
    for name in names:
        if not NAME_PATTERN.match(name):
            raise InputError(f"{source}: system name {name!r} must be a plain folder name "
                             f"(letters, digits, . _ + -)")
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"{source}: system {', '.join(twice)} listed twice; give each a distinct name "
                         f"(an --experiment file names them)")


def read_experiment_file(path: str | Path) -> tuple[list[System], dict]:
    """Systems (and optional ``name``, ``reference``) of an experiment YAML file::

        name: cct-vs-speaker          # optional: the folder under output/loco
        reference: cct                # optional: default the first system
        systems:
          - name: cct
            model: cct_7_7x2_112
            config: configs/cct.yml   # optional train.py config
            flags: [--epochs, "20"]   # optional extra train.py flags (a list, or a mapping flag: value)
    """
    path = Path(path)
    if not path.is_file():
        raise MissingInputError(f"{path}: experiment file not found")
    try:
        content = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    unknown = sorted(set(content) - {"name", "reference", "systems"}) if isinstance(content, dict) else []
    if not isinstance(content, dict) or not isinstance(content.get("systems"), list) or unknown:
        raise InputError(f"{path}: expected keys name, reference and a list 'systems'"
                         + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    systems = []
    for i, entry in enumerate(content["systems"], start=1):
        if not isinstance(entry, dict) or "model" not in entry:
            raise InputError(f"{path}: system {i} needs at least a 'model'")
        extra = sorted(set(entry) - {"name", "model", "config", "flags"})
        if extra:
            raise InputError(f"{path}: system {i} has unknown key(s) {', '.join(extra)} "
                             f"(name, model, config, flags)")
        flags = entry.get("flags") or []
        if isinstance(flags, dict):
            flags = [token for key, value in flags.items()
                     for token in ([f"--{key}"] + ([] if value is True else [str(v) for v in
                                                   (value if isinstance(value, list) else [value])]))]
        systems.append(System(str(entry.get("name") or system_name(entry["model"], entry.get("config"))),
                              str(entry["model"]), entry.get("config"), [str(f) for f in flags]))
    check_systems(systems, str(path))
    return systems, {k: content[k] for k in ("name", "reference") if content.get(k)}


def experiment_name(opts: LocoOptions) -> str:
    return opts.experiment or "+".join(s.name for s in opts.systems)


def experiment_dir(opts: LocoOptions) -> Path:
    return Path(opts.output) / "loco" / experiment_name(opts)


def reference_system(opts: LocoOptions) -> str:
    names = [s.name for s in opts.systems]
    if opts.reference and opts.reference not in names:
        raise InputError(f"--reference {opts.reference} is not a system of the experiment ({', '.join(names)})")
    return opts.reference or names[0]


SPLIT_FIELDS = ("datasets_dir", "num_classes", "classes", "augmentation", "balanced",
                "percent_subject_validation", "validation", "validation_corpus", "n_components", "seed", "data_dir")


def options_record(opts: LocoOptions) -> dict:
    record = asdict(opts)
    record.pop("progress")
    record.pop("max_jobs")
    return record


def options_from_record(record: dict) -> LocoOptions:
    record = dict(record)
    record["systems"] = [System(**s) for s in record.get("systems", [])]
    known = set(LocoOptions.__dataclass_fields__)
    return LocoOptions(**{k: v for k, v in record.items() if k in known})


def load_experiment(folder: str | Path) -> dict:
    path = Path(folder) / EXPERIMENT_FILE
    if not path.is_file():
        raise MissingInputError(f"{path}: not an experiment folder of run_loco.py (no {EXPERIMENT_FILE})")
    return yaml.safe_load(path.read_text()) or {}


def versions() -> dict:
    """specct, torch, timm, numpy and python versions and the git commit of the specct source."""
    import platform
    import subprocess

    import numpy
    import timm
    import torch

    from . import __version__

    source = Path(__file__).resolve().parent
    commit = "unknown"
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or "unknown"
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        if dirty and commit != "unknown":
            commit += " (with uncommitted changes)"
    except (OSError, subprocess.SubprocessError):
        pass
    found = {"specct": __version__, "torch": torch.__version__, "timm": timm.__version__,
             "numpy": numpy.__version__, "python": platform.python_version(), "git_commit": commit}
    return {k: str(v) for k, v in found.items()}   # torch's version is a str subclass yaml cannot write


def write_experiment_record(opts: LocoOptions, command: str | None) -> Path:
    """``experiment.yaml``; an existing one with other split options is an error (pick another name)."""
    folder = experiment_dir(opts)
    path = folder / EXPERIMENT_FILE
    record = {"experiment": experiment_name(opts), "options": options_record(opts)}
    if path.is_file():
        old = yaml.safe_load(path.read_text()) or {}
        old_options = old.get("options", {})
        changed = [k for k in SPLIT_FIELDS if k in old_options and old_options[k] != record["options"][k]]
        if changed:
            raise InputError(f"{path}: experiment {experiment_name(opts)} was run with other split options "
                             f"({', '.join(changed)}); choose another --name or another --output")
        if command is None:
            return path
        for key in ("versions",):
            record.setdefault(key, old.get(key))
    record["command"] = command
    record["cwd"] = os.getcwd()
    record["versions"] = versions()
    write_text_atomic(path, yaml.safe_dump(record, sort_keys=False))
    return path


# --------------------------------------------------------------------------- jobs

@dataclass(frozen=True)
class Job:
    """One independent unit: train one system on one split, evaluate it on one or more test sets."""
    id: str                 # path below jobs/: loco/<system>/<HELD>, pairwise/<system>/<TRAIN>[/<fold>]
    protocol: str           # loco, pairwise
    system: System
    corpus: str             # held-out corpus (loco) or training corpus (pairwise)
    fold: str | None        # pairwise diagonal: the within-corpus fold; None otherwise
    folder: Path
    tests: tuple[str, ...]  # test corpora, in the order of the test folders

    @property
    def train_dir(self) -> Path:
        return self.folder / "train"

    def test_dir(self, test_corpus: str) -> Path:
        if self.protocol == "pairwise" and self.fold is None:
            return self.folder / f"test-{test_corpus}"
        return self.folder / "test"

    @property
    def finished(self) -> bool:
        return all((self.test_dir(c) / PERFORMANCE_NAME).is_file() for c in self.tests)


def held_out_corpora(opts: LocoOptions) -> list[str]:
    corpora = paths.select_corpora(opts.datasets_dir, opts.corpora)
    if len(paths.list_corpora(opts.datasets_dir)) < 2:
        raise InputError(f"{opts.datasets_dir}: leave-one-corpus-out needs at least two corpora")
    return corpora


def fold_names(opts: LocoOptions, corpus: str) -> list[str]:
    """The diagonal's folds of a corpus: K of them with ``--folds K``; one per usable speaker
    otherwise, which only the split knows (it is made here if missing)."""
    from .splits import protocol_folder

    if opts.folds:
        return [f"fold-{i:02d}" for i in range(1, opts.folds + 1)]
    folds_csv = Path(opts.data_dir) / corpus / protocol_folder(opts.diagonal, opts.folds) / "folds.csv"
    if not folds_csv.is_file():
        make_fold_splits(opts, corpus)
    return list(pd.read_csv(folds_csv)["fold"])


def list_jobs(opts: LocoOptions) -> list[Job]:
    """Every job of the experiment, in the order a single process runs them."""
    for protocol in opts.protocols:
        if protocol not in PROTOCOLS:
            raise InputError(f"unknown --protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    if opts.diagonal not in DIAGONALS:
        raise InputError(f"unknown --diagonal {opts.diagonal!r}; choose from {', '.join(DIAGONALS)}")
    check_systems(opts.systems, "run_loco.py")
    reference_system(opts)
    corpora = held_out_corpora(opts)
    root = experiment_dir(opts) / "jobs"
    jobs = []
    if "loco" in opts.protocols:
        for corpus in corpora:
            for system in opts.systems:
                job_id = f"loco/{system.name}/{corpus}"
                jobs.append(Job(job_id, "loco", system, corpus, None, root / job_id, (corpus,)))
    if "pairwise" in opts.protocols:
        if len(corpora) < 2:
            raise InputError("--protocol pairwise needs at least two corpora in --datasets")
        for corpus in corpora:
            for system in opts.systems:
                job_id = f"pairwise/{system.name}/{corpus}"
                others = tuple(c for c in corpora if c != corpus)
                jobs.append(Job(job_id, "pairwise", system, corpus, None, root / job_id, others))
                for fold in fold_names(opts, corpus):
                    fold_id = f"{job_id}/{fold}"
                    jobs.append(Job(fold_id, "pairwise", system, corpus, fold, root / fold_id, (corpus,)))
    return jobs


# --------------------------------------------------------------------------- splits

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


def run_split(split_options) -> None:
    """The split stage; its plain errors (a corpus with too few speakers, a missing folder) become
    one-line InputError / MissingInputError, so that run_loco.py exits with their reason."""
    from .errors import SpecctError
    from .splits import run_split_stage

    try:
        run_split_stage(split_options)
    except SpecctError:
        raise
    except FileNotFoundError as exc:
        raise MissingInputError(str(exc)) from exc
    except ValueError as exc:
        raise InputError(str(exc)) from exc


def _split_options(opts: LocoOptions, **overrides):
    """The fold's SplitOptions, built from the split options of the experiment (declared once, in
    specct.splits: LOCO_ARGUMENTS)."""
    from .splits import SplitOptions

    return SplitOptions(**{**{name: getattr(opts, name) for name in LOCO_ARGUMENTS},
                           "datasets_dir": opts.datasets_dir, "output_dir": opts.data_dir, **overrides})


def ensure_split(opts: LocoOptions, held_out: str) -> Path:
    """The leave-one-corpus-out split of ``held_out`` (shared by every system), made if missing."""
    classes_name = class_set_name(opts.num_classes, opts.classes)
    split = paths.split_dir(opts.data_dir, held_out, classes_name, opts.augmentation, opts.balanced)
    if not split_complete(split):
        with split_lock(Path(opts.data_dir)):
            if not split_complete(split):
                run_split(_split_options(opts, eval_dataset=held_out))
    else:   # never reuse a split made with another validation choice, seed or PCA width
        from .splits import check_recorded_choices

        check_recorded_choices(split, _split_options(opts, eval_dataset=held_out))
    return split


def ensure_cross_split(opts: LocoOptions, corpus: str, others: Sequence[str]) -> Path:
    """A split that trains and validates on ``corpus`` alone (its test rows are not used)."""
    output_dir = Path(opts.data_dir) / "pairwise" / f"train-{corpus}"
    classes_name = class_set_name(opts.num_classes, opts.classes)
    split = paths.split_dir(output_dir, others[0], classes_name, opts.augmentation, opts.balanced)
    if not split_complete(split):
        with split_lock(Path(opts.data_dir)):
            if not split_complete(split):
                run_split(_split_options(opts, eval_dataset=others[0], train_datasets=[corpus],
                                               output_dir=str(output_dir)))
    return split


def make_fold_splits(opts: LocoOptions, corpus: str) -> Path:
    """Every within-corpus fold of ``corpus`` (the pairwise diagonal), made if missing; their base folder."""
    from .splits import protocol_folder

    base = Path(opts.data_dir) / corpus / protocol_folder(opts.diagonal, opts.folds)
    if not (base / "folds.csv").is_file():
        with split_lock(Path(opts.data_dir)):
            if not (base / "folds.csv").is_file():   # folds.csv is written after every fold
                run_split(_split_options(opts, eval_dataset=corpus, protocol=opts.diagonal,
                                               folds=opts.folds))
    return base


def ensure_fold_split(opts: LocoOptions, corpus: str, fold: str) -> Path:
    """One within-corpus fold of the pairwise diagonal."""
    base = make_fold_splits(opts, corpus)
    split = base / fold / class_set_name(opts.num_classes, opts.classes) / opts.augmentation / opts.balanced
    if not split_complete(split):
        raise MissingInputError(f"{split}: no such fold of {corpus} (see {base / 'folds.csv'})")
    return split


def job_splits(opts: LocoOptions, job: Job) -> tuple[Path, dict[str, Path]]:
    """The job's train_data folder and the test CSV of each test corpus."""
    if job.protocol == "loco":
        split = ensure_split(opts, job.corpus)
        return split / "train_data", {job.corpus: split / "eval_data" / "test.csv"}
    if job.fold is not None:
        split = ensure_fold_split(opts, job.corpus, job.fold)
        return split / "train_data", {job.corpus: split / "eval_data" / "test.csv"}
    split = ensure_cross_split(opts, job.corpus, job.tests)
    # every other corpus is tested on all its rows: the test set of its own loco split
    return split / "train_data", {c: ensure_split(opts, c) / "eval_data" / "test.csv" for c in job.tests}


# --------------------------------------------------------------------------- running

def job_train_argv(opts: LocoOptions, job: Job, train_dir: Path) -> list[str]:
    argv = [str(train_dir), "--model", job.system.model, "--experiment", str(job.train_dir),
            "--seed", str(opts.seed)]
    if job.system.config:
        argv += ["-c", job.system.config]
    return argv + list(opts.train_args) + list(job.system.train_args)


def training_finished(out_dir: Path, args) -> bool:
    """True when last.pth.tar holds the final epoch or an early stop."""
    last = out_dir / LAST_NAME
    if not last.is_file():
        return False
    state = load_checkpoint(last)
    stopped_early = bool(args.patience) and int(state.get("stale_epochs", 0)) >= args.patience
    same_schedule = int(state.get("args", {}).get("epochs", args.epochs)) == args.epochs
    return same_schedule and (int(state["epoch"]) >= int(state.get("num_epochs", args.epochs)) or stopped_early)


def parse_train_args(argv: list[str]):
    """train.py's parser on a job's flags; its usage errors become one InputError."""
    import io

    from .train import parse_args

    stderr, sys.stderr = sys.stderr, io.StringIO()
    try:
        return parse_args(argv)
    except SystemExit:
        message = sys.stderr.getvalue().strip().splitlines()
        raise InputError(f"train.py flags {' '.join(argv[1:])}: {message[-1] if message else 'invalid'}") from None
    finally:
        sys.stderr = stderr


def run_job(opts: LocoOptions, job: Job, command: str | None = None) -> bool:
    """Split, train (or resume) and evaluate one job; False when it had finished earlier."""
    from .train import train

    if job.finished:
        print(f"job {job.id}: finished earlier, skipped")
        return False
    train_data, test_csvs = job_splits(opts, job)
    args = parse_train_args(job_train_argv(opts, job, train_data))
    args.no_progress = args.no_progress or not opts.progress
    write_text_atomic(job.folder / JOB_RECORD, yaml.safe_dump(
        {"job": job.id, "system": asdict(job.system), "train_data": str(train_data.resolve()),
         "tests": {c: str(p.resolve()) for c, p in test_csvs.items()}, "command": command, "cwd": os.getcwd(),
         "train_argv": job_train_argv(opts, job, train_data), "versions": versions()}, sort_keys=False))
    if not training_finished(job.train_dir, args):
        if (job.train_dir / LAST_NAME).is_file():
            args.resume = "auto"
        train(args)
    for corpus in job.tests:
        test_dir = job.test_dir(corpus)
        if not (test_dir / PERFORMANCE_NAME).is_file():
            evaluate(job.train_dir, data_test_path=test_csvs[corpus], output=test_dir, bootstrap=opts.bootstrap,
                     seed=opts.seed, progress=opts.progress)
    return True


def select_job(jobs: Sequence[Job], job_id: str) -> Job:
    for job in jobs:
        if job.id == job_id:
            return job
    raise InputError(f"--job {job_id}: not a job of this experiment (see --print_jobs)")


def run_experiment(opts: LocoOptions, argv: Sequence[str] | None = None) -> "Collected":
    """Every unfinished job in turn (at most ``max_jobs``), then collect what has finished.

    ``argv`` (run_loco.py's flags) is recorded: the experiment's command, and each job's own command.
    """
    jobs = list_jobs(opts)
    write_experiment_record(opts, experiment_command(argv) if argv is not None else None)
    ran = 0
    for i, job in enumerate(jobs, start=1):
        if opts.max_jobs is not None and ran >= opts.max_jobs and not job.finished:
            print(f"stopped after {ran} job(s) (--max_jobs {opts.max_jobs}); run again to continue")
            break
        if not job.finished:
            print(f"=== job {i}/{len(jobs)}: {job.id}")
        ran += run_job(opts, job, job_command(argv, job.id) if argv is not None else None)
    return collect(opts)


# --------------------------------------------------------------------------- collecting

@dataclass
class Collected:
    folder: Path
    jobs: pd.DataFrame
    results: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    pairwise: pd.DataFrame | None = None
    pairwise_summary: pd.DataFrame | None = None

    @property
    def missing(self) -> list[str]:
        return list(self.jobs.loc[~self.jobs["finished"], "job"])


def read_predictions(test_dir: Path) -> pd.DataFrame:
    return pd.read_csv(test_dir / PREDICTIONS_NAME)


def collect(opts: LocoOptions) -> Collected:
    """Gather the finished jobs into the experiment's tables and figures; say which jobs are missing."""
    from .compare import comparison_table, results_table

    folder = experiment_dir(opts)
    jobs = list_jobs(opts)
    table = pd.DataFrame([{"job": j.id, "protocol": j.protocol, "system": j.system.name, "corpus": j.corpus,
                           "fold": j.fold or "", "finished": j.finished} for j in jobs],
                         columns=["job", "protocol", "system", "corpus", "fold", "finished"])
    write_csv_atomic(folder / JOBS_CSV, table)
    collected = Collected(folder, table)
    systems = [s.name for s in opts.systems]
    corpora = held_out_corpora(opts)
    loco = {(j.system.name, j.corpus): read_predictions(j.test_dir(j.corpus))
            for j in jobs if j.protocol == "loco" and j.finished}
    if loco:
        collected.results = results_table(loco, systems, corpora, opts.bootstrap, opts.seed)
        collected.comparison = comparison_table(loco, systems, corpora, reference_system(opts),
                                                opts.bootstrap, opts.seed)
        write_csv_atomic(folder / RESULTS_CSV, collected.results)
        write_csv_atomic(folder / COMPARISON_CSV, collected.comparison)
        write_text_atomic(folder / RESULTS_MD, markdown_results(collected.results, collected.comparison))
        plot_results_heatmap(collected.results, systems, corpora, folder / HEATMAP)
    if "pairwise" in opts.protocols:
        collect_pairwise(opts, jobs, collected)
    done = int(table["finished"].sum())
    print(f"{folder}: {done} of {len(table)} job(s) finished")
    if collected.missing:
        print("missing: " + " ".join(collected.missing))
    return collected


def collect_pairwise(opts: LocoOptions, jobs: Sequence[Job], collected: Collected) -> None:
    """pairwise.csv (system, train, test, n, uar, CI), the matrix and heatmap of each system, and the
    mean self (diagonal) and cross (off-diagonal) UAR of each system."""
    from .compare import bootstrap_uar
    from .plots import plot_heatmap

    corpora = held_out_corpora(opts)
    cells: dict[tuple[str, str, str], list[pd.DataFrame]] = {}
    incomplete: set[tuple[str, str, str]] = set()
    for job in jobs:
        if job.protocol != "pairwise":
            continue
        for test in job.tests:
            key = (job.system.name, job.corpus, test)
            if job.finished:
                cells.setdefault(key, []).append(read_predictions(job.test_dir(test)))
            else:
                incomplete.add(key)   # a diagonal cell needs every fold
    rows = []
    for (system, train_corpus, test_corpus), frames in cells.items():
        if (system, train_corpus, test_corpus) in incomplete:
            continue
        pooled = pd.concat(frames, ignore_index=True)
        ci = bootstrap_uar(pooled["truth"].astype(str), pooled["prediction"].astype(str), opts.bootstrap, opts.seed)
        rows.append({"system": system, "train": train_corpus, "test": test_corpus, "n": len(pooled),
                     "uar": ci.value, "uar_ci_low": ci.low, "uar_ci_high": ci.high,
                     "kind": SELF if train_corpus == test_corpus else "cross"})
    if not rows:
        return
    corpus_rank = {c: i for i, c in enumerate(corpora)}
    system_rank = {x.name: i for i, x in enumerate(opts.systems)}
    table = pd.DataFrame(rows).sort_values(["system", "train", "test"], key=lambda column: column.map(
        system_rank if column.name == "system" else corpus_rank))
    table = table.reset_index(drop=True)
    summary = []
    for system in [s.name for s in opts.systems]:
        mine = table[table["system"] == system]
        if mine.empty:
            continue
        matrix = mine.pivot(index="train", columns="test", values="uar").reindex(index=corpora, columns=corpora)
        write_csv_atomic(collected.folder / f"pairwise_matrix_{system}.csv", matrix.reset_index())
        plot_heatmap(matrix, collected.folder / f"pairwise_{system}.png",
                     title=f"{system}: train on one corpus, test on each (UAR)", xlabel="test corpus",
                     ylabel="training corpus")
        summary.append({"system": system, "self_uar": mine.loc[mine["kind"] == SELF, "uar"].mean(),
                        "cross_uar": mine.loc[mine["kind"] == "cross", "uar"].mean(),
                        "self_cells": int((mine["kind"] == SELF).sum()),
                        "cross_cells": int((mine["kind"] == "cross").sum())})
    collected.pairwise = table
    collected.pairwise_summary = pd.DataFrame(summary)
    write_csv_atomic(collected.folder / PAIRWISE_CSV, table)
    write_csv_atomic(collected.folder / PAIRWISE_SUMMARY_CSV, collected.pairwise_summary)


def plot_results_heatmap(results: pd.DataFrame, systems: Sequence[str], corpora: Sequence[str], path: Path) -> None:
    from .compare import MEAN_ROW
    from .plots import plot_heatmap

    columns = list(corpora) + ([MEAN_ROW] if (results["held_out"] == MEAN_ROW).any() else [])
    matrix = results.pivot(index="system", columns="held_out", values="uar").reindex(index=list(systems),
                                                                                     columns=columns)
    plot_heatmap(matrix, path, title="UAR per system and held-out corpus (leave-one-corpus-out)",
                 xlabel="held-out corpus", ylabel="system")


# --------------------------------------------------------------------------- Markdown tables

def _fmt(value, digits: int = 3) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def markdown_results(results: pd.DataFrame, comparison: pd.DataFrame | None) -> str:
    """The results table (UAR with its 95% CI) and the significance table, as Markdown."""
    lines = ["| system | held-out corpus | n | UAR (95% CI) | accuracy | macro-F1 |",
             "|---|---|---:|---:|---:|---:|"]
    for row in results.itertuples():
        lines.append(f"| {row.system} | {row.held_out} | {row.n} | {_fmt(row.uar)} "
                     f"({_fmt(row.uar_ci_low)}-{_fmt(row.uar_ci_high)}) | {_fmt(row.accuracy)} | "
                     f"{_fmt(row.macro_f1)} |")
    if comparison is not None and len(comparison):
        lines += ["", "| system | vs reference | held-out corpus | UAR difference (95% CI) | p | verdict |",
                  "|---|---|---|---:|---:|---|"]
        for row in comparison.itertuples():
            verdict = ("**better**" if row.difference > 0 else "**worse**") if row.significant else "tie"
            lines.append(f"| {row.system} | {row.reference} | {row.held_out} | {row.difference:+.3f} "
                         f"({row.ci_low:+.3f} to {row.ci_high:+.3f}) | {row.p_value:.4f} | {verdict} |")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- command line

class ModelAction(argparse.Action):
    """``--model NAME`` starts a new system; a following ``-c CONFIG`` belongs to it."""

    def __call__(self, parser, namespace, values, option_string=None):
        systems = list(getattr(namespace, "systems", None) or [])
        systems.append({"model": values, "config": None})
        namespace.systems = systems


class ConfigAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        systems = getattr(namespace, "systems", None)
        if not systems:
            parser.error(f"{option_string} {values}: a config belongs to the --model before it")
        if systems[-1]["config"] is not None:
            parser.error(f"{option_string} {values}: --model {systems[-1]['model']} has a config already")
        systems[-1]["config"] = values


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="run_loco.py",
        description="Several systems, each corpus held out in turn (and, with --protocol pairwise, the "
                    "one-to-one matrix): split, train and evaluate as independent, resumable jobs, then "
                    "results.csv, comparison.csv and heatmaps. Flags not listed here go to train.py.")
    add_datasets_arguments(p, "corpora to hold out in turn (default: every imported corpus)",
                           default_dir=str(paths.DATASETS_DIR))
    g = p.add_argument_group("systems")
    g.add_argument("--model", action=ModelAction, dest="systems", metavar="NAME",
                   help=f"a system (repeat for several); default {DEFAULT_MODEL}")
    g.add_argument("-c", "--config", action=ConfigAction, dest="systems", metavar="CONFIG",
                   help="train.py config of the --model before it")
    g.add_argument("--experiment", default=None, metavar="FILE.yml",
                   help="YAML file listing the systems (name, model, config, flags) instead of --model")
    g.add_argument("--reference", default=None, help="system the others are compared with (default: the first)")
    g.add_argument("--name", default=None,
                   help="experiment name, its folder under <output>/loco (default: the systems' names)")
    g = p.add_argument_group("protocol and split")
    g.add_argument("--protocol", nargs="+", choices=PROTOCOLS, default=["loco"],
                   help="loco: each corpus held out; pairwise: train on one corpus, test on each")
    g.add_argument("--diagonal", choices=DIAGONALS, default="kfold",
                   help="within-corpus split of the pairwise diagonal")
    g.add_argument("--folds", type=int, default=5, help="folds of the diagonal (0 with loso: one per speaker)")
    add_split_arguments(g, LOCO_ARGUMENTS)  # the split options, declared once in specct.splits
    g.add_argument("--data_dir", default=str(paths.DATA_DIR), help="where the split folders go")
    g.add_argument("--output", default="output", help="experiments go to <output>/loco/<name>")
    g.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the CIs and tests")
    g = p.add_argument_group("jobs")
    g.add_argument("--print_jobs", action="store_true",
                   help="print one self-contained shell command per job and exit")
    g.add_argument("--job", default=None, metavar="ID", help="run this job only (as --print_jobs prints it)")
    g.add_argument("--collect", action="store_true",
                   help="only gather the finished jobs into the tables and list what is missing")
    g.add_argument("--max_jobs", type=int, default=None,
                   help="stop after running this many jobs (finished ones are skipped, not counted)")
    g.add_argument("--report", action="store_true", help="also write report.html and report.md")
    g.add_argument("--no_progress", action="store_true", help="no progress bars")
    return p


JOB_CONTROL_FLAGS = {"--print-jobs": 0, "--print_jobs": 0, "--collect": 0, "--report": 0,
                     "--max_jobs": 1, "--max-jobs": 1, "--job": 1}


def job_command(argv: Sequence[str], job_id: str) -> str:
    """The shell command that runs one job: same interpreter, folder and flags, plus ``--job``."""
    kept, skip = [], 0
    for token in argv:
        if skip:
            skip -= 1
            continue
        name = token.split("=", 1)[0]
        if name in JOB_CONTROL_FLAGS:
            skip = JOB_CONTROL_FLAGS[name] if "=" not in token else 0
            continue
        kept.append(token)
    return f"cd {shlex.quote(os.getcwd())} && {shlex.join(launcher() + kept + ['--job', job_id])}"


def launcher() -> list[str]:
    """This interpreter and run_loco.py (or ``-m specct.loco`` when called from Python)."""
    script = Path(sys.argv[0]).resolve() if Path(sys.argv[0]).name == "run_loco.py" else None
    return [sys.executable, str(script)] if script else [sys.executable, "-m", "specct.loco"]


def experiment_command(argv: Sequence[str]) -> str:
    return f"cd {shlex.quote(os.getcwd())} && {shlex.join([*launcher(), *argv])}"


def options_from_args(args: argparse.Namespace, train_args: list[str]) -> LocoOptions:
    systems = [System(system_name(s["model"], s["config"]), s["model"], s["config"]) for s in args.systems or []]
    name = args.name
    reference = args.reference
    if args.experiment:
        if systems:
            raise InputError("give the systems either with --model or in --experiment, not both")
        systems, extra = read_experiment_file(args.experiment)
        name = name or extra.get("name") or Path(args.experiment).stem
        reference = reference or extra.get("reference")
    systems = systems or [System(DEFAULT_MODEL, DEFAULT_MODEL)]
    check_systems(systems, "run_loco.py")
    folds = args.folds or None
    return LocoOptions(datasets_dir=args.datasets_dir, corpora=args.datasets, systems=systems,
                       **{name: getattr(args, name) for name in LOCO_ARGUMENTS}, data_dir=args.data_dir,
                       output=args.output, train_args=train_args, bootstrap=args.bootstrap,
                       progress=not args.no_progress, experiment=name, reference=reference,
                       protocols=list(dict.fromkeys(args.protocol)), diagonal=args.diagonal, folds=folds,
                       max_jobs=args.max_jobs)


def run_command(argv: Sequence[str]) -> None:
    args, train_args = build_parser().parse_known_args(argv)
    opts = options_from_args(args, train_args)
    if args.print_jobs:
        for job in list_jobs(opts):
            print(job_command(argv, job.id))
        return
    if args.job:
        job = select_job(list_jobs(opts), args.job)
        write_experiment_record(opts, None)
        run_job(opts, job, job_command(argv, job.id))
        return
    if args.collect:
        write_experiment_record(opts, None)
        collected = collect(opts)
    else:
        collected = run_experiment(opts, argv)
    if collected.results is not None:
        print("\n" + markdown_results(collected.results, collected.comparison))
    if args.report:
        from .report import write_report

        write_report(collected.folder)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    return run_script("run_loco.py", lambda: run_command(argv))


if __name__ == "__main__":
    sys.exit(main())
