"""The progress line of jobs run side by side: how many are done, running, failed and left, and the
time left as the jobs finished so far suggest (jobs finished before this run are not timed here).

Jobs of one study differ a hundredfold (an SVM in seconds, a network in half an hour, a fold with a
small training corpus in a fifth of that), so a job left is taken as long as the finished jobs most
like it: the same system on the same fold, else the same system, else any job."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from statistics import mean

# What a job is known by here: its system's name and its fold (held-out or training corpus).
JobKey = tuple[str, str]


def key_of(job) -> JobKey:
    """A loco.jobs.Job's key."""
    return (job.system.name, job.corpus)


def duration_text(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass
class Progress:
    done: int            # finished, here or earlier (another process's included)
    workers: int         # jobs at once
    left_of: Counter     # jobs not started, by JobKey
    running: int = 0
    failed: int = 0
    timed: dict = field(default_factory=dict)   # JobKey -> seconds of each job finished by this run

    @classmethod
    def of(cls, keys: list[JobKey], done: int, workers: int) -> "Progress":
        """The progress of the jobs known by ``keys``, none started; ``done`` finished before."""
        return cls(done=done, workers=workers, left_of=Counter(keys))

    @property
    def left(self) -> int:
        return sum(self.left_of.values())

    def start(self, key: JobKey) -> None:
        self.running += 1
        self.left_of[key] -= 1

    def end(self, seconds: float | None, key: JobKey, failed: bool = False) -> None:
        """A started job ended; ``seconds`` None: finished by another process, not timed here."""
        self.running -= 1
        if failed:
            self.failed += 1
            return
        self.done += 1
        if seconds is not None:
            self.timed.setdefault(key, []).append(seconds)

    def finished_elsewhere(self, key: JobKey) -> None:
        """A job not started here was found finished by another process."""
        self.done += 1
        self.left_of[key] -= 1

    def put_back(self, key: JobKey) -> None:
        """A started job that went back to wait (another process holds it)."""
        self.running -= 1
        self.left_of[key] += 1

    def expected(self, key: JobKey) -> float:
        """Seconds a job known by ``key`` is expected to take (call only once some job was timed)."""
        same_fold = self.timed.get(key)
        if same_fold:
            return mean(same_fold)
        same_system = [s for (system, _), seconds in self.timed.items() if system == key[0] for s in seconds]
        if same_system:
            return mean(same_system)
        return mean(s for seconds in self.timed.values() for s in seconds)

    def seconds_left(self, running_for: list[tuple[JobKey, float]]) -> float | None:
        """Work left (the jobs not started, and what the running ones have yet to do) shared by the
        workers; ``running_for``: (key, seconds so far) of each running job. None before any job
        finished here."""
        if not self.timed:
            return None
        work = (sum(n * self.expected(key) for key, n in self.left_of.items() if n > 0)
                + sum(max(0.0, self.expected(key) - elapsed) for key, elapsed in running_for))
        return work / max(1, min(self.workers, self.left + self.running))

    def line(self, running_for: list[tuple[JobKey, float]] = ()) -> str:
        text = f"jobs: {self.done} done, {self.running} running, {self.failed} failed, {self.left} left"
        seconds = self.seconds_left(list(running_for))
        if seconds is not None and (self.left or self.running):
            text += f"; about {duration_text(seconds)} left"
        return text
