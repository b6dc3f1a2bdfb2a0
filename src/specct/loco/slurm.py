"""``--executor slurm``: an experiment's jobs as Slurm job arrays, submitted through submitit.

One array for the training jobs, then one for the jobs of systems made of others (ensembles), once
the first has ended. Each array task runs one job from the experiment's record (as ``--print_jobs``'s
commands do) with the resources of the study's ``cluster:`` section; submitit's files and each job's
log are under ``<experiment>/slurm/<array id>_<task>/``. The command waits with the progress line of
the local executor and then collects the tables; ``--detach`` submits and returns. What was submitted
is kept in ``<experiment>/slurm/submitted.yaml``: the same command run later waits for the tasks
still queued or running instead of submitting them again, and submits only the unfinished jobs that
no task holds.

A task stopped by its time limit or by preemption is requeued once (submitit's checkpoint) and the
job resumes from its last checkpoint (an unfinished training resumes from last.pth.tar); a job that
fails, or is stopped a second time, is reported with its log, not retried.
"""
from __future__ import annotations

import difflib
import os
import subprocess
import time
from pathlib import Path
from typing import Sequence

import yaml

from ..core.errors import InputError, PartialFailure
from ..core.fileio import write_text_atomic
from .experiment import LocoOptions, experiment_dir, recorded_options
from ..core.job_lock import unlock
from .job_progress import Progress, key_of
from .jobs import BUSY, Job, list_jobs, run_job, select_job, uses_other_systems, wait_for_jobs

CLUSTER_KEYS = ("partition", "gpus_per_job", "cpus_per_job", "mem_gb", "time_min", "array_parallelism", "sbatch")
DEFAULTS = {"cpus_per_job": 1, "mem_gb": 4, "time_min": 240, "array_parallelism": 64}
SUBMITTED = "submitted.yaml"
REQUEUES = 1            # a task stopped by its time limit is requeued this often, then reported
POLL_SECONDS = 2.0


def cluster_settings(value, where: str = "cluster") -> dict:
    """A study file's ``cluster:`` section, checked: a wrong key or value is one line."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping of {', '.join(CLUSTER_KEYS)}")
    for key, given in value.items():
        if key not in CLUSTER_KEYS:
            close = difflib.get_close_matches(str(key), CLUSTER_KEYS, n=1)
            raise InputError(f"{where}: unknown key {key!r}{f' (did you mean {close[0]!r}?)' if close else ''}; "
                             f"allowed: {', '.join(CLUSTER_KEYS)}")
        if key == "partition" and not isinstance(given, str):
            raise InputError(f"{where}.partition: expected a partition name, got {given!r}")
        if key == "sbatch" and not isinstance(given, dict):
            raise InputError(f"{where}.sbatch: expected a mapping of sbatch options (without --), got {given!r}")
        if key not in ("partition", "sbatch"):
            smallest = 0 if key == "gpus_per_job" else 1
            if isinstance(given, bool) or not isinstance(given, int) or given < smallest:
                raise InputError(f"{where}.{key}: expected an integer of at least {smallest}, got {given!r}")
    return dict(value)


def slurm_folder(opts: LocoOptions) -> Path:
    return experiment_dir(opts) / "slurm"


class RecordedJob:
    """What one array task runs: the job ``job_id`` of the experiment recorded in ``folder``.

    submitit calls :meth:`checkpoint` when the task is about to be stopped (time limit, preemption);
    the job's lock is let go there, so that the requeued task, on whichever node, takes it again."""

    def __call__(self, folder: str, job_id: str) -> str:
        opts = recorded_options(folder)
        opts.progress = False
        job = select_job(list_jobs(opts), job_id)
        self.folder = job.folder
        if run_job(opts, job) is BUSY:   # another process has it (a run of the same experiment elsewhere)
            wait_for_jobs(opts, [job])
        if not job.finished:
            raise RuntimeError(f"job {job_id}: ended without its evaluation")
        return job_id

    def checkpoint(self, folder: str, job_id: str):
        from submitit.helpers import DelayedSubmission

        if getattr(self, "folder", None) is not None:
            unlock(self.folder)
        return DelayedSubmission(RecordedJob(), folder, job_id)


def make_executor(opts: LocoOptions, cluster: dict):
    import submitit

    settings = {**DEFAULTS, **cluster}
    executor = submitit.SlurmExecutor(folder=slurm_folder(opts) / "%j", max_num_timeout=REQUEUES)
    threads = settings["cpus_per_job"]
    executor.update_parameters(
        job_name=f"specct-{opts.experiment or 'loco'}", cpus_per_task=threads, mem=f"{settings['mem_gb']}GB",
        time=settings["time_min"], array_parallelism=settings["array_parallelism"],
        # torch reads the thread count once, when it loads: set before the task's Python starts
        setup=[f"export {name}={threads}" for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")],
        **({"partition": settings["partition"]} if settings.get("partition") else {}),
        **({"gpus_per_node": settings["gpus_per_job"]} if settings.get("gpus_per_job") else {}),
        **({"additional_parameters": dict(settings["sbatch"])} if settings.get("sbatch") else {}))
    return executor


def read_submitted(opts: LocoOptions) -> dict[str, str]:
    path = slurm_folder(opts) / SUBMITTED
    if not path.is_file():
        return {}
    content = yaml.safe_load(path.read_text()) or {}
    return {str(k): str(v) for k, v in content.items()} if isinstance(content, dict) else {}


def write_submitted(opts: LocoOptions, submitted: dict[str, str]) -> None:
    write_text_atomic(slurm_folder(opts) / SUBMITTED, yaml.safe_dump(submitted, sort_keys=True))


def queued(task_ids: Sequence[str]) -> dict[str, str]:
    """State (PENDING, RUNNING, ...) of each task Slurm still holds; the ended ones are absent."""
    if not task_ids:
        return {}
    arrays = sorted({t.split("_")[0] for t in task_ids})
    completed = subprocess.run(["squeue", "-h", "-r", "-o", "%i %T", "-j", ",".join(arrays)],
                               capture_output=True, text=True, timeout=60)
    if completed.returncode != 0 and "Invalid job id" not in completed.stderr:   # ended arrays: not an error
        raise InputError(f"squeue: {(completed.stderr.strip().splitlines() or ['failed'])[-1]}")
    states = dict(line.split()[:2] for line in completed.stdout.splitlines() if len(line.split()) >= 2)
    return {t: states[t] for t in task_ids if t in states}


def task_outcome(opts: LocoOptions, task_id: str) -> tuple[str, str | None]:
    """submitit's result of an ended task: ("success", None) or ("error", the last line of its traceback)."""
    from submitit.core.utils import pickle_load

    result = slurm_folder(opts) / task_id / f"{task_id}_0_result.pkl"   # task 0: one task per array element
    if not result.is_file():
        return "error", "ended without a result (killed, or its node failed)"
    outcome, value = pickle_load(result)
    if outcome == "success":
        return "success", None
    lines = [line for line in str(value).strip().splitlines() if line.strip()]
    return "error", lines[-1].strip() if lines else "failed"


def task_log(opts: LocoOptions, task_id: str) -> Path:
    return slurm_folder(opts) / task_id / f"{task_id}_0_log.out"


def submit(opts: LocoOptions, jobs: Sequence[Job], cluster: dict, submitted: dict[str, str]) -> None:
    """One array of ``jobs``; their task ids added to ``submitted`` (and its file)."""
    if not jobs:
        return
    executor = make_executor(opts, cluster)
    folder = str(experiment_dir(opts).resolve())
    tasks = executor.map_array(RecordedJob(), [folder] * len(jobs), [job.id for job in jobs])
    for job, task in zip(jobs, tasks):
        submitted[job.id] = str(task.job_id)
    write_submitted(opts, submitted)
    print(f"submitted {len(jobs)} job(s) as Slurm array {str(tasks[0].job_id).split('_')[0]}; logs under "
          f"{slurm_folder(opts)}", flush=True)


def run_slurm(opts: LocoOptions, jobs: Sequence[Job], cluster: dict, detach: bool = False) -> bool:
    """Submit the unfinished jobs no task holds (ensembles after the others), wait, report failures.
    Returns False when ``detach`` left the jobs running."""
    submitted = read_submitted(opts)
    todo = [j for j in jobs if not j.finished]
    active = queued([submitted[j.id] for j in todo if j.id in submitted])
    waiting = [j for j in todo if submitted.get(j.id) in active]
    if waiting:
        print(f"{len(waiting)} job(s) already queued or running in Slurm: waiting for them, not submitting again")
    fresh = [j for j in todo if j not in waiting]
    first = [j for j in fresh if not uses_other_systems(j)]
    second = [j for j in fresh if uses_other_systems(j)]
    submit(opts, first, cluster, submitted)
    if detach:
        if second:   # they read their members' runs: an array that starts once the first one has ended
            print(f"{len(second)} job(s) of systems made of others are submitted by the same command once the "
                  f"others have ended")
        print("detached: the same command without --detach waits for the jobs and collects the tables")
        return False
    at_once = {**DEFAULTS, **cluster}["array_parallelism"]
    progress = Progress.of([key_of(j) for j in todo], done=len(jobs) - len(todo),
                           workers=max(1, min(len(todo), at_once)))
    failures = watch(opts, [j for j in todo if j not in second], submitted, progress)
    if second:
        submit(opts, second, cluster, submitted)
        failures += watch(opts, second, submitted, progress)
    if failures:
        print(f"\n{len(failures)} job(s) failed:")
        for job, reason, log in failures:
            print(f"  {job.id}: {reason}\n    log: {log}")
        raise PartialFailure(f"{len(failures)} of {len(todo)} job(s) failed ({', '.join(f[0].id for f in failures[:3])}"
                             f"{', ...' if len(failures) > 3 else ''}; listed above with their logs); the others "
                             f"are finished and kept, and the same command submits the failed ones again")
    return True


def watch(opts: LocoOptions, jobs: Sequence[Job], submitted: dict[str, str], progress: Progress) -> list:
    """Wait for the tasks of ``jobs``, the progress line said as the counts change; the failures."""
    pending = list(jobs)
    running_since: dict[str, float] = {}
    failures, shown = [], None
    while pending:
        states = queued([submitted[j.id] for j in pending])
        for job in list(pending):
            task = submitted[job.id]
            if task in states:
                if states[task] == "RUNNING" and job.id not in running_since:
                    running_since[job.id] = time.monotonic()
                    progress.start(key_of(job))
                continue
            if job.id not in running_since:   # ended between two looks
                running_since[job.id] = time.monotonic()
                progress.start(key_of(job))
            pending.remove(job)
            seconds = time.monotonic() - running_since[job.id]
            outcome, reason = task_outcome(opts, task)
            if outcome == "success" and job.finished:
                progress.end(seconds, key_of(job))
            else:
                failures.append((job, reason or "ended without finishing", task_log(opts, task)))
                progress.end(seconds, key_of(job), failed=True)
        line = progress.line([(key_of(j), time.monotonic() - running_since[j.id]) for j in pending
                              if j.id in running_since])
        if line.split(";")[0] != shown:
            print(line, flush=True)
            shown = line.split(";")[0]
        if pending:
            time.sleep(POLL_SECONDS)
    return failures


def sbatch_missing() -> str | None:
    """Why Slurm cannot be used here, or None."""
    for tool in ("sbatch", "squeue"):
        if not any((Path(p) / tool).is_file() for p in os.environ.get("PATH", "").split(os.pathsep)):
            return f"{tool} not found (Slurm's client commands are not installed here)"
    return None
