"""``--executor local --jobs N``: an experiment's jobs, N at a time on this machine.

Each job is its own process, the command ``--print_jobs`` prints (``python -m specct.loco
--from_record <experiment> --job ID``), started with 1/N of the cores: the thread variables are set
in its environment, since torch and the BLAS libraries read them once, when they load. Its output
goes to ``<job folder>/job.log`` (jobs side by side would mix their lines on one terminal). A job
that fails does not stop the others; the end lists each failure with its log. Jobs of a system made
of other systems (an ensemble) start once every other job has ended.

A job another process holds (the jobs of a killed run still going, a second run of the same
experiment) is left to it and counted done when it finishes, or run here if its holder stops
without finishing it: the job locks of :mod:`specct.core.job_lock`, as for the serial run.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from ..core.errors import PartialFailure
from ..core.threads import available_cores, thread_environment
from .experiment import LocoOptions, experiment_dir
from ..core.job_lock import locked_by_other
from .job_progress import Progress, key_of
from .jobs import Job, uses_other_systems

LOG_NAME = "job.log"
POLL_SECONDS = 0.5


@dataclass
class Running:
    job: Job
    process: subprocess.Popen
    since: float


@dataclass
class Failure:
    job: Job
    reason: str

    @property
    def log(self) -> Path:
        return job_log(self.job)


def job_log(job: Job) -> Path:
    return job.folder / LOG_NAME


def job_process(opts: LocoOptions, job: Job) -> list[str]:
    """The job's own command: its options read back from the experiment's record."""
    return [sys.executable, "-m", "specct.loco", "--from_record", str(experiment_dir(opts).resolve()),
            "--job", job.id] + ([] if opts.progress else ["--no_progress"])


def last_line(path: Path) -> str:
    """The log's last line (where a failing job says why), or "" without one."""
    try:
        with open(path, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 4096))
            lines = handle.read().decode(errors="replace").splitlines()
    except OSError:
        return ""
    return next((line.strip() for line in reversed(lines) if line.strip()), "")


class Pool:
    """The jobs of one experiment, ``workers`` processes at a time."""

    def __init__(self, opts: LocoOptions, workers: int, threads: int, progress: Progress):
        self.opts, self.workers, self.threads, self.progress = opts, workers, threads, progress
        self.running: list[Running] = []
        self.held: list[Job] = []          # held by another process: waited for
        self.failures: list[Failure] = []
        self.started = 0
        self.environment = {**os.environ, **thread_environment(threads)}

    def may_start(self) -> bool:
        return self.opts.max_jobs is None or self.started < self.opts.max_jobs

    def start(self, job: Job) -> None:
        job.folder.mkdir(parents=True, exist_ok=True)
        command = job_process(self.opts, job)
        with open(job_log(job), "a") as log:   # appended: a job run again keeps the story of its earlier tries
            log.write(f"=== {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC, {self.threads} thread(s): "
                      f"{' '.join(command)}\n")
            log.flush()
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       env=self.environment)
        self.running.append(Running(job, process, time.monotonic()))
        self.started += 1
        self.progress.start(key_of(job))
        print(f"job {job.id}: started (log {job_log(job)})", flush=True)

    def reap(self) -> list[Job]:
        """The processes that ended, each counted; the jobs found held by another process meanwhile."""
        back = []
        for entry in [r for r in self.running if r.process.poll() is not None]:
            self.running.remove(entry)
            job, status = entry.job, entry.process.returncode
            seconds = time.monotonic() - entry.since
            if status == 0 and job.finished:
                self.progress.end(seconds, key_of(job))
                print(f"job {job.id}: finished in {seconds:.0f} s", flush=True)
            elif status == 0 and locked_by_other(job.folder):   # another process took it first
                self.progress.put_back(key_of(job))
                back.append(job)
            else:
                reason = (f"exit status {status}" if status > 0 else f"killed by signal {-status}" if status < 0
                          else "ended without finishing it")
                self.failures.append(Failure(job, f"{reason}: {last_line(job_log(job))}"))
                self.progress.end(seconds, key_of(job), failed=True)
                print(f"job {job.id}: FAILED ({reason}), log {job_log(job)}", flush=True)
        return back

    def run(self, jobs: Sequence[Job]) -> bool:
        """Run ``jobs``; False when ``max_jobs`` stopped it with jobs left."""
        queue = [j for j in jobs if not j.finished]
        shown = None
        while queue or self.running or self.held:
            while queue and len(self.running) < self.workers and self.may_start():
                job = queue.pop(0)
                if job.finished:           # finished by another process while it waited here
                    self.progress.finished_elsewhere(key_of(job))
                elif locked_by_other(job.folder):
                    print(f"job {job.id}: running in another process, left to it", flush=True)
                    self.held.append(job)
                else:
                    self.start(job)
            self.held += self.reap()
            for job in list(self.held):
                if job.finished:
                    self.held.remove(job)
                    self.progress.finished_elsewhere(key_of(job))
                    print(f"job {job.id}: finished by another process", flush=True)
                elif not locked_by_other(job.folder):   # its holder stopped without finishing it
                    self.held.remove(job)
                    queue.insert(0, job)
            if queue and not self.running and not self.held and not self.may_start():
                return False
            line = self.progress.line([(key_of(r.job), time.monotonic() - r.since) for r in self.running])
            if line.split(";")[0] != shown:      # said when the counts change, not at every look
                print(line, flush=True)
                shown = line.split(";")[0]
            time.sleep(POLL_SECONDS if self.running or self.held else 0)
        return True

    def stop(self) -> None:
        """Interrupted: end the running jobs (their locks are freed, their work resumes on the next run)."""
        for entry in self.running:
            entry.process.terminate()
        for entry in self.running:
            try:
                entry.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                entry.process.kill()


def run_pool(opts: LocoOptions, jobs: Sequence[Job], workers: int) -> None:
    """Every unfinished job of ``jobs`` (at most ``max_jobs`` started), ``workers`` at once, each with
    1/workers of the cores; the jobs of systems made of others last. A failed job is raised as one
    :class:`PartialFailure` at the end, the others finished and kept."""
    todo = [j for j in jobs if not j.finished]
    threads = max(1, available_cores() // workers)
    print(f"{len(todo)} of {len(jobs)} job(s) to run, {workers} at once with {threads} thread(s) each; "
          f"each job's output in its folder's {LOG_NAME}", flush=True)
    progress = Progress.of([key_of(j) for j in todo], done=len(jobs) - len(todo), workers=workers)
    pool = Pool(opts, workers, threads, progress)
    waves = [[j for j in todo if not uses_other_systems(j)], [j for j in todo if uses_other_systems(j)]]
    try:
        for wave in waves:
            if not pool.run(wave):
                print(f"stopped after {pool.started} job(s) (--max_jobs {opts.max_jobs}); run again to continue")
                break
    except BaseException:
        pool.stop()
        raise
    if pool.failures:
        print(f"\n{len(pool.failures)} job(s) failed:")
        for failure in pool.failures:
            print(f"  {failure.job.id}: {failure.reason}\n    log: {failure.log}")
        raise PartialFailure(f"{len(pool.failures)} of {len(todo)} job(s) failed ({', '.join(f.job.id for f in pool.failures[:3])}"
                             f"{', ...' if len(pool.failures) > 3 else ''}; listed above with their logs); the "
                             f"others are finished and kept, and the same command runs the failed ones again")
