"""An experiment's jobs: each (system, corpus[, fold]) trains once and is tested on one or more
corpora, through the System interface (:mod:`specct.systems`), and resumes where it stopped."""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import yaml

from .. import paths, systems
from ..errors import InputError
from ..evaluation import PERFORMANCE_NAME, evaluation_problem
from ..fileio import write_text_atomic
from .experiment import (DIAGONALS, PROTOCOLS, LocoOptions, SystemSpec, check_systems, experiment_dir,
                         reference_system, training_seeds, versions, write_experiment_record)
from .split_folders import ensure_cross_split, ensure_fold_split, ensure_split, fold_names

JOB_RECORD = "job.yaml"


@dataclass(frozen=True)
class Job:
    """One independent unit: train one system on one split, evaluate it on one or more test sets."""
    id: str                 # path below jobs/: loco/<system>/<HELD>, pairwise/<system>/<TRAIN>[/<fold>]
    protocol: str           # loco, pairwise
    system: SystemSpec
    corpus: str             # held-out corpus (loco) or training corpus (pairwise)
    fold: str | None        # pairwise diagonal: the within-corpus fold; None otherwise
    folder: Path
    tests: tuple[str, ...]  # test corpora, in the order of the test folders
    seed: int | None = None  # training seed; None: the experiment's seed

    @property
    def train_dir(self) -> Path:
        return self.folder / "train"

    def test_dir(self, test_corpus: str) -> Path:
        if self.protocol == "pairwise" and self.fold is None:
            return self.folder / f"test-{test_corpus}"
        return self.folder / "test"

    @property
    def finished(self) -> bool:
        """Every test evaluated, its predictions and performance readable (a damaged one: not finished)."""
        return all(self.test_problem(c) is None for c in self.tests)

    def test_problem(self, test_corpus: str) -> str | None:
        return evaluation_problem(self.test_dir(test_corpus))


def held_out_corpora(opts: LocoOptions) -> list[str]:
    corpora = paths.select_corpora(opts.datasets_dir, opts.corpora)
    if len(paths.list_corpora(opts.datasets_dir)) < 2:
        raise InputError(f"{opts.datasets_dir}: leave-one-corpus-out needs at least two corpora")
    return corpora


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
    seeds = training_seeds(opts)
    if "loco" in opts.protocols:
        for corpus in corpora:
            for system in opts.systems:
                job_id = f"loco/{system.name}/{corpus}"
                if len(seeds) == 1:     # one seed: the layout of every experiment before seeds
                    jobs.append(Job(job_id, "loco", system, corpus, None, root / job_id, (corpus,), seeds[0]))
                    continue
                for seed in seeds if is_seeded(system, opts) else seeds[:1]:
                    seed_id = f"{job_id}/seed-{seed}"
                    jobs.append(Job(seed_id, "loco", system, corpus, None, root / seed_id, (corpus,), seed))
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


def is_seeded(system: SystemSpec, opts: LocoOptions) -> bool:
    """Whether another training seed can change the system (a scikit-learn baseline cannot: it runs once)."""
    return systems.system_for_model(system.model).is_seeded(system.model, {**opts.train_flags, **system.flags})


def split_options_for_seed(opts: LocoOptions, seed: int | None) -> LocoOptions:
    """With ``vary_split`` each training seed draws its own splits (seeded by it, under data_dir/seed-<n>);
    otherwise every seed reads the experiment's one split."""
    if not opts.vary_split or seed is None:
        return opts
    return replace(opts, seed=seed, data_dir=str(Path(opts.data_dir) / f"seed-{seed}"))


def job_splits(opts: LocoOptions, job: Job) -> tuple[Path, dict[str, Path]]:
    """The job's train_data folder and the test CSV of each test corpus."""
    if job.protocol == "loco":
        split = ensure_split(split_options_for_seed(opts, job.seed), job.corpus)
        return split / "train_data", {job.corpus: split / "eval_data" / "test.csv"}
    if job.fold is not None:
        split = ensure_fold_split(opts, job.corpus, job.fold)
        return split / "train_data", {job.corpus: split / "eval_data" / "test.csv"}
    split = ensure_cross_split(opts, job.corpus, job.tests)
    # every other corpus is tested on all its rows: the test set of its own loco split
    return split / "train_data", {c: ensure_split(opts, c) / "eval_data" / "test.csv" for c in job.tests}


def job_flags(opts: LocoOptions, job: Job) -> dict:
    """The train.py values of a job beyond its config: the experiment's, then the system's own."""
    seed = opts.seed if job.seed is None else job.seed
    return {"model": job.system.model, "experiment": str(job.train_dir), "seed": seed,
            **opts.train_flags, **job.system.flags}


def job_training_options(opts: LocoOptions, job: Job, train_data: Path):
    from ..train.options import training_options

    args = training_options(train_data, job.system.config, **job_flags(opts, job))
    args.no_progress = args.no_progress or not opts.progress
    return args


def job_train_command(opts: LocoOptions, job: Job, train_data: Path) -> list[str]:
    """The job's training as a train.py command line (recorded, for reading and rerunning by hand)."""
    from ..train.options import flag_tokens

    return ([str(train_data)] + (["-c", job.system.config] if job.system.config else [])
            + flag_tokens(job_flags(opts, job)))


def run_job(opts: LocoOptions, job: Job, command: str | None = None) -> bool:
    """Split, train (or resume) and evaluate one job; False when it had finished earlier."""
    from ..evaluate import evaluate

    if job.finished:
        print(f"job {job.id}: finished earlier, skipped")
        return False
    train_data, test_csvs = job_splits(opts, job)
    args = job_training_options(opts, job, train_data)
    write_text_atomic(job.folder / JOB_RECORD, yaml.safe_dump(
        {"job": job.id, "system": asdict(job.system), "train_data": str(train_data.resolve()),
         "tests": {c: str(p.resolve()) for c, p in test_csvs.items()}, "command": command, "cwd": os.getcwd(),
         "train_command": job_train_command(opts, job, train_data), "versions": versions()}, sort_keys=False))
    systems.ensure_trained(args, log=None)
    for corpus in job.tests:
        test_dir = job.test_dir(corpus)
        problem = job.test_problem(corpus)
        if problem is not None:
            if (test_dir / PERFORMANCE_NAME).is_file():   # finished once, damaged since: said, then redone
                print(f"job {job.id}: {problem}; evaluating again")
            evaluate(job.train_dir, data_test_path=test_csvs[corpus], output=test_dir, bootstrap=opts.bootstrap,
                     seed=opts.seed, progress=opts.progress)
    return True


def select_job(jobs: Sequence[Job], job_id: str) -> Job:
    for job in jobs:
        if job.id == job_id:
            return job
    raise InputError(f"--job {job_id}: not a job of this experiment (see --print_jobs)")


def run_jobs(opts: LocoOptions, command: str | None = None, job_command=None) -> None:
    """Every unfinished job in turn (at most ``max_jobs``). ``command`` (the experiment's shell
    command) is recorded, and ``job_command(job)`` gives each job's own."""
    jobs = list_jobs(opts)
    write_experiment_record(opts, command)
    seeds = training_seeds(opts)
    for system in opts.systems if len(seeds) > 1 else []:
        if not is_seeded(system, opts):
            print(f"{system.name}: no random choice in its training, so it runs once (seed {seeds[0]}) and "
                  f"that run stands for every seed of {seeds}")
    ran = 0
    for i, job in enumerate(jobs, start=1):
        if opts.max_jobs is not None and ran >= opts.max_jobs and not job.finished:
            print(f"stopped after {ran} job(s) (--max_jobs {opts.max_jobs}); run again to continue")
            break
        if not job.finished:
            print(f"=== job {i}/{len(jobs)}: {job.id}")
        ran += run_job(opts, job, job_command(job) if job_command else None)


def _run_job_in_worker(opts: LocoOptions, job: Job, threads: int, log_name: str) -> bool:
    """One job in a worker process, with its share of the cores and its output in ``<job>/<log_name>``
    (jobs running side by side would interleave their output on one terminal)."""
    import torch

    os.environ["OMP_NUM_THREADS"] = str(threads)    # evaluation's thread default reads it
    torch.set_num_threads(threads)
    job.folder.mkdir(parents=True, exist_ok=True)
    with open(job.folder / log_name, "a", buffering=1) as out, contextlib.redirect_stdout(out), \
            contextlib.redirect_stderr(out):
        return run_job(opts, job)


def run_experiments(experiments: Sequence[LocoOptions], command: str | None = None, workers: int = 1,
                    log_name: str = "job.log", on_finished=None) -> None:
    """Every unfinished job of ``experiments``: in turn (:func:`run_jobs`), or with ``workers`` > 1 that
    many at once, each in its own process with 1/workers of the cores (two one-thread trainings did
    1.23-1.29x the samples/s of one two-thread training on a 2-core host, benchmarks/bench_jobs.py).
    Jobs are independent and seeded and shared splits are locked, so the results do not depend on
    ``workers``. ``on_finished(job, seconds)`` is called as each job of the pool ends."""
    if workers <= 1:
        for opts in experiments:
            run_jobs(opts, command)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ..threads import available_cores

    for opts in experiments:
        write_experiment_record(opts, command)
    pending = [(opts, job) for opts in experiments for job in list_jobs(opts) if not job.finished]
    threads, started = max(1, available_cores() // workers), time.perf_counter()
    print(f"{len(pending)} job(s), {workers} at once with {threads} thread(s) each; each one's output in "
          f"<job>/{log_name}", flush=True)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [(job, pool.submit(_run_job_in_worker, opts, job, threads, log_name)) for opts, job in pending]
        for job, future in futures:
            future.result()
            if on_finished is not None:
                on_finished(job, time.perf_counter() - started)
