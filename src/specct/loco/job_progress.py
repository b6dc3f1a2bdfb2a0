"""The progress line of jobs run side by side: how many are done, running, failed and left, and the
time left as the jobs finished so far suggest (jobs finished before this run are not timed here)."""
from __future__ import annotations

from dataclasses import dataclass, field


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
    left: int            # not started yet
    workers: int         # jobs at once
    running: int = 0
    failed: int = 0
    timed: list[float] = field(default_factory=list)   # seconds of each job finished by this run

    def start(self) -> None:
        self.left -= 1
        self.running += 1

    def end(self, seconds: float | None, failed: bool = False) -> None:
        """A started job ended; ``seconds`` None: finished by another process, not timed here."""
        self.running -= 1
        if failed:
            self.failed += 1
            return
        self.done += 1
        if seconds is not None:
            self.timed.append(seconds)

    def put_back(self) -> None:
        """A started job that went back to wait (another process holds it)."""
        self.running -= 1
        self.left += 1

    def seconds_left(self, running_for: list[float]) -> float | None:
        """Work left (the jobs not started, and what the running ones have yet to do, each taken as long
        as the mean finished job) shared by the workers; None before any job finished here."""
        if not self.timed:
            return None
        mean = sum(self.timed) / len(self.timed)
        work = self.left * mean + sum(max(0.0, mean - elapsed) for elapsed in running_for)
        return work / max(1, min(self.workers, self.left + self.running))

    def line(self, running_for: list[float] = ()) -> str:
        text = f"jobs: {self.done} done, {self.running} running, {self.failed} failed, {self.left} left"
        seconds = self.seconds_left(list(running_for))
        if seconds is not None and (self.left or self.running):
            text += f"; about {duration_text(seconds)} left"
        return text
