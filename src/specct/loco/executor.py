"""Where an experiment's jobs run (``--executor``, ``--jobs``, ``--detach``; the flags are declared in
:func:`specct.core.cli.add_executor_arguments`): one after another in this process (``serial``, the
default), N at a time on this machine, each in its own process (``local``, :mod:`.pool`), or as
Slurm job arrays through submitit (``slurm``, :mod:`.slurm`, resources from a study's ``cluster:``).

Where a job runs never changes what it writes: jobs are independent and seeded, a split is made once
under its lock, and each job holds its own lock, so results.csv is the same byte for byte.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Sequence

from ..core.errors import InputError
from .experiment import LocoOptions
from .jobs import run_jobs, start_jobs
from .pool import run_pool
from .slurm import run_slurm, sbatch_missing

DEFAULT_LOCAL_JOBS = 2


@dataclass(frozen=True)
class Executor:
    kind: str = "serial"     # serial, local, slurm
    jobs: int = 1            # local: jobs at once
    detach: bool = False     # slurm: submit and return
    cluster: dict = field(default_factory=dict)   # slurm: a study's cluster: section (slurm.cluster_settings)


def executor_from_args(args: argparse.Namespace) -> Executor:
    """The executor the flags ask for, checked (a flag that does not go with it is one line)."""
    kind, jobs = args.executor, args.jobs
    if jobs is not None and jobs < 1:
        raise InputError(f"--jobs {jobs}: expected at least 1")
    if kind == "serial" and jobs not in (None, 1):
        raise InputError(f"--jobs {jobs}: jobs run side by side with --executor local (add it), or one "
                         f"after another without it")
    if kind == "slurm" and jobs is not None:
        raise InputError(f"--jobs {jobs}: with --executor slurm, at most array_parallelism jobs run at once "
                         f"(the study file's cluster: section)")
    if args.detach and kind != "slurm":
        raise InputError(f"--detach: submits to a cluster and returns; --executor {kind} runs the jobs here, "
                         f"so it waits for them")
    if kind == "slurm" and sbatch_missing():
        raise InputError(f"--executor slurm: {sbatch_missing()}")
    return Executor(kind, jobs or (DEFAULT_LOCAL_JOBS if kind == "local" else 1), args.detach)


def run_experiment_jobs(opts: LocoOptions, command: str | None = None, job_command=None,
                        redo: Sequence[str] = ()) -> None:
    """Every unfinished job, as ``opts.executor`` says (None: serial, :func:`.jobs.run_jobs`); with
    ``detach`` (slurm) the jobs are submitted and left running."""
    executor = opts.executor or Executor()
    if executor.kind == "serial":
        run_jobs(opts, command, job_command, redo)
    elif executor.kind == "local":
        run_pool(opts, start_jobs(opts, command, redo), executor.jobs)
    else:
        run_slurm(opts, start_jobs(opts, command, redo), executor.cluster, executor.detach)
