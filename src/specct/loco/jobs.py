"""An experiment's jobs: each (system, corpus[, fold]) trains once and is tested on one or more
corpora, through the System interface (:mod:`specct.systems`), and resumes where it stopped."""
from __future__ import annotations

import contextlib
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import yaml

from ..core import paths
from .. import systems
from ..core.errors import InputError
from ..protocol.evaluation import PERFORMANCE_NAME, evaluation_problem
from ..core.fileio import write_text_atomic
from ..core.path_names import check_path_name
from .experiment import (DIAGONALS, PROTOCOLS, EXPERIMENT_FILE, LocoOptions, SystemSpec, check_systems,
                         experiment_dir, load_experiment, recorded_differences, reference_system, system_options,
                         system_record, training_seeds, versions, write_experiment_record)
from ..core.job_lock import LOCK_NAME, holder_text, job_lock, locked_by_other
from .reuse import finished_training, link_training, remember, training_key
from .split_folders import ensure_cross_split, ensure_fold_split, ensure_split, fold_names
from .sweeps import variant_systems

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
    variant_of: str | None = None   # a sweep variant's system (the study's name for it); None: not a variant

    @property
    def system_name(self) -> str:
        """The experiment's system this job belongs to (a sweep variant's: the swept system)."""
        return self.variant_of or self.system.name

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

    @property
    def started(self) -> bool:
        """Whether the job ran, even partly (its record or a training folder is there)."""
        return (self.folder / JOB_RECORD).is_file() or self.train_dir.exists()


def held_out_corpora(opts: LocoOptions) -> list[str]:
    corpora = paths.select_corpora(opts.datasets_dir, opts.corpora)
    for corpus in paths.list_corpora(opts.datasets_dir):
        check_path_name(corpus, f"{opts.datasets_dir}: corpus name")
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
            for declared in opts.systems:
                for system in variant_systems(declared):   # a swept system: each variant its own jobs
                    group = declared.name if declared.sweep else None
                    job_id = f"loco/{system.name}/{corpus}"
                    if len(seeds) == 1:     # one seed: the layout of every experiment before seeds
                        jobs.append(Job(job_id, "loco", system, corpus, None, root / job_id, (corpus,), seeds[0],
                                        group))
                        continue
                    for seed in seeds if is_seeded(system, opts) else seeds[:1]:
                        seed_id = f"{job_id}/seed-{seed}"
                        jobs.append(Job(seed_id, "loco", system, corpus, None, root / seed_id, (corpus,), seed,
                                        group))
    if "pairwise" in opts.protocols:
        if len(corpora) < 2:
            raise InputError("--protocol pairwise needs at least two corpora in --datasets")
        swept = [s.name for s in opts.systems if s.sweep]
        if swept:   # a sweep is chosen per held-out corpus, which the one-to-one matrix has not
            raise InputError(f"system {swept[0]}: a sweep is chosen per held-out corpus (protocol loco); "
                             f"protocol pairwise does not take it")
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


def uses_other_systems(job: Job) -> bool:
    """Whether the job's system is made of other systems' runs (an ensemble): run after the others."""
    return systems.system_for_model(job.system.model).uses_other_systems(job.system.model)


def split_options_for_seed(opts: LocoOptions, seed: int | None) -> LocoOptions:
    """With ``vary_split`` each training seed draws its own splits (seeded by it, under data_dir/seed-<n>);
    otherwise every seed reads the experiment's one split."""
    if not opts.vary_split or seed is None:
        return opts
    return replace(opts, seed=seed, data_dir=str(Path(opts.data_dir) / f"seed-{seed}"))


def job_splits(opts: LocoOptions, job: Job) -> tuple[Path, dict[str, Path]]:
    """The job's train_data folder and the test CSV of each test corpus (its system's own splits and
    images where it sets them)."""
    opts = system_options(opts, job.system)
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


BUSY = None   # run_job's answer for a job another running process holds


def run_job(opts: LocoOptions, job: Job, command: str | None = None) -> bool | None:
    """Split, train (or resume) and evaluate one job; False when it had finished earlier, BUSY (None)
    when another running process holds its lock (it is left to that process)."""
    if job.finished:
        print(f"job {job.id}: finished earlier, skipped")
        return False
    with job_lock(job.folder) as held:
        if not held:
            print(f"job {job.id}: running in another process ({holder_text(job.folder)}), left to it")
            return BUSY
        if job.finished:   # the other process finished it between our look and our lock
            print(f"job {job.id}: finished by another process")
            return False
        _run_locked_job(opts, job, command)
    return True


def _run_locked_job(opts: LocoOptions, job: Job, command: str | None) -> None:
    from ..stages.evaluate import evaluate

    train_data, test_csvs = job_splits(opts, job)
    args = job_training_options(opts, job, train_data)
    key, source = reusable_training(opts, job, args, train_data)
    record = {"job": job.id, "system": system_record(job.system), "train_data": str(train_data.resolve()),
              "tests": {c: str(p.resolve()) for c, p in test_csvs.items()}, "command": command, "cwd": os.getcwd(),
              "train_command": job_train_command(opts, job, train_data), "versions": versions()}
    if source is not None:
        record["reused_from"] = str(source.resolve())
    write_text_atomic(job.folder / JOB_RECORD, yaml.safe_dump(record, sort_keys=False))
    if source is not None:
        if job.train_dir.exists():   # an unfinished training of its own gives way to the finished one
            shutil.rmtree(job.train_dir)
        link_training(source / "train", job.train_dir)
        print(f"job {job.id}: training reused from {source} (same options and inputs)")
    systems.ensure_trained(args, log=None)
    for corpus in job.tests:
        test_dir = job.test_dir(corpus)
        problem = job.test_problem(corpus)
        if problem is not None:
            if (test_dir / PERFORMANCE_NAME).is_file():   # finished once, damaged since: said, then redone
                print(f"job {job.id}: {problem}; evaluating again")
            evaluate(job.train_dir, data_test_path=test_csvs[corpus], output=test_dir, bootstrap=opts.bootstrap,
                     seed=opts.seed, progress=opts.progress)
    remember(opts.reuse_root, key, job.folder)


def reusable_training(opts: LocoOptions, job: Job, args, train_data: Path) -> tuple[str | None, Path | None]:
    """The job's reuse key and a finished job folder elsewhere under ``opts.reuse_root`` trained with the
    same options and inputs (None, None where reuse is off)."""
    if opts.reuse_root is None or job.protocol != "loco":
        return None, None
    system = systems.system_for_model(job.system.model)
    caches = system.feature_caches(job.system.model, {**opts.train_flags, **job.system.flags})
    own = system_options(opts, job.system)   # the images and offline group its split reads
    key = training_key(args, train_data, own.datasets_dir, caches, own.augmentation, own.balanced)
    source = finished_training(opts.reuse_root, key, job.folder)
    if source is None or not system.is_trained(source / "train", args):
        return key, None
    return key, source


WAIT_SECONDS = 2.0   # how often a run looks again at the jobs other processes hold


def wait_for_jobs(opts: LocoOptions, busy: Sequence[Job], job_command=None) -> None:
    """The jobs another process held when their turn came: wait until each is finished (collected as
    it is) or its lock is free again (its holder died or failed: run here)."""
    waiting = list(busy)
    if waiting:
        print(f"waiting for {len(waiting)} job(s) run by other processes: {', '.join(j.id for j in waiting)}",
              flush=True)
    while waiting:
        for job in list(waiting):
            if job.finished:
                print(f"job {job.id}: finished by another process")
                waiting.remove(job)
            elif not locked_by_other(job.folder):
                print(f"=== job {job.id}: its other process stopped without finishing it; running it here")
                if run_job(opts, job, job_command(job) if job_command else None) is not BUSY:
                    waiting.remove(job)
        if waiting:
            time.sleep(WAIT_SECONDS)


def redo_patterns(opts: LocoOptions, redo: Sequence[str]) -> list[tuple[str, str, str]]:
    """``--redo SYSTEM[/CORPUS] ...`` as ``(pattern, system, corpus)`` (corpus "": all), each system
    checked to be one of the experiment's (before anything runs)."""
    names = {s.name for s in opts.systems}
    patterns = []
    for pattern in redo:
        system, _, corpus = pattern.partition("/")
        if system not in names:
            raise InputError(f"--redo {pattern}: {system} is not a system of the experiment ({', '.join(sorted(names))})")
        patterns.append((pattern, system, corpus))
    return patterns


def redo_selection(opts: LocoOptions, jobs: Sequence[Job], redo: Sequence[str]) -> list[Job]:
    """The jobs ``--redo SYSTEM[/CORPUS] ...`` names (every protocol, fold and seed of them)."""
    chosen: list[Job] = []
    for pattern, system, corpus in redo_patterns(opts, redo):
        matched = [j for j in jobs if j.system_name == system and (not corpus or j.corpus == corpus.upper())]
        if not matched:
            raise InputError(f"--redo {pattern}: no job of the experiment (see --print_jobs)")
        chosen += [j for j in matched if j not in chosen]
    return chosen


def clear_job(job: Job) -> None:
    """Remove what a job made (its training, tests, record and log), under its lock."""
    with job_lock(job.folder) as held:
        if not held:
            raise InputError(f"--redo: job {job.id} is running in another process ({holder_text(job.folder)}); "
                             f"redo it once that ends")
        for item in job.folder.iterdir():
            if item.name == LOCK_NAME:
                continue
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            else:
                item.unlink()


def record_experiment(opts: LocoOptions, jobs: Sequence[Job], command: str | None, redo: Sequence[str] = ()) -> None:
    """Write experiment.yaml. With ``redo``, the named jobs are cleared first, and settings that differ
    from the record are accepted if every job that ran with the recorded ones is among them."""
    if not redo:
        write_experiment_record(opts, command)
        return
    chosen = redo_selection(opts, jobs, redo)
    folder = experiment_dir(opts)
    if (folder / EXPERIMENT_FILE).is_file():
        every_job, per_system = recorded_differences(opts, load_experiment(folder))
        touched = [j for j in jobs if j.started and (every_job or j.system_name in per_system)]
        left = [j.id for j in touched if j not in chosen]
        if left:
            raise InputError(f"--redo: the changed settings touch job(s) it does not name: {', '.join(left[:4])}"
                             + (f" and {len(left) - 4} more" if len(left) > 4 else "")
                             + " (name them too, or --force_new for a new experiment)")
    for job in chosen:
        if job.folder.exists():
            print(f"job {job.id}: cleared, to be done again (--redo)")
            clear_job(job)
    write_experiment_record(opts, command, accept_changes=True)


def select_job(jobs: Sequence[Job], job_id: str) -> Job:
    for job in jobs:
        if job.id == job_id:
            return job
    raise InputError(f"--job {job_id}: not a job of this experiment (see --print_jobs)")


def start_jobs(opts: LocoOptions, command: str | None = None, redo: Sequence[str] = ()) -> list[Job]:
    """The experiment's jobs, once it is recorded (and ``redo``'s jobs cleared): what any way of running
    them does first (:func:`run_jobs`, :mod:`specct.loco.pool`)."""
    jobs = list_jobs(opts)
    record_experiment(opts, jobs, command, redo)
    seeds = training_seeds(opts)
    for system in opts.systems if len(seeds) > 1 else []:
        if not is_seeded(system, opts):
            print(f"{system.name}: no random choice in its training, so it runs once (seed {seeds[0]}) and "
                  f"that run stands for every seed of {seeds}")
    return jobs


def run_jobs(opts: LocoOptions, command: str | None = None, job_command=None, redo: Sequence[str] = ()) -> None:
    """Every unfinished job in turn (at most ``max_jobs``). ``command`` (the experiment's shell
    command) is recorded, and ``job_command(job)`` gives each job's own; ``redo`` names jobs to do
    again (:func:`record_experiment`). Jobs another process holds are waited for at the end."""
    jobs = start_jobs(opts, command, redo)
    ran, busy = 0, []
    for i, job in enumerate(jobs, start=1):
        if opts.max_jobs is not None and ran >= opts.max_jobs and not job.finished:
            print(f"stopped after {ran} job(s) (--max_jobs {opts.max_jobs}); run again to continue")
            return
        if not job.finished and not locked_by_other(job.folder):
            print(f"=== job {i}/{len(jobs)}: {job.id}")
        outcome = run_job(opts, job, job_command(job) if job_command else None)
        if outcome is BUSY:
            busy.append(job)
        ran += bool(outcome)
    wait_for_jobs(opts, busy, job_command)


def _run_job_in_worker(opts: LocoOptions, job: Job, threads: int, log_name: str) -> bool | None:
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

    from ..core.threads import available_cores

    for opts in experiments:
        write_experiment_record(opts, command)
    pending = [(opts, job) for opts in experiments for job in list_jobs(opts) if not job.finished]
    threads, started = max(1, available_cores() // workers), time.perf_counter()
    print(f"{len(pending)} job(s), {workers} at once with {threads} thread(s) each; each one's output in "
          f"<job>/{log_name}", flush=True)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [(job, pool.submit(_run_job_in_worker, opts, job, threads, log_name)) for opts, job in pending]
        busy = []
        for (opts, job), (_, future) in zip(pending, futures):
            if future.result() is BUSY:
                busy.append((opts, job))
            elif on_finished is not None:
                on_finished(job, time.perf_counter() - started)
    for opts, job in busy:   # held by another run of the same experiments: its result is collected here
        wait_for_jobs(opts, [job])
