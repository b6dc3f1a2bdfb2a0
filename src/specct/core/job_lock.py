"""One process at a time per job: ``<job>/job.lock``, made with O_EXCL, holds ``<pid> <host>``.

Two run_loco.py runs on one experiment folder share its jobs: each takes the jobs nobody holds, skips
the ones another run holds and, at the end, waits for them (and runs one itself if its holder died
without finishing it). A lock whose pid is dead on this host is stale and taken over; a lock of
another host is trusted while it is younger than STALE_FOREIGN_SECONDS (its pid cannot be checked).
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Iterator

from .fileio import host_tag, pid_alive

LOCK_NAME = "job.lock"
STALE_FOREIGN_SECONDS = 7 * 24 * 3600
STALE_UNREADABLE_SECONDS = 60   # a lock file is written right after it is made: empty for longer is a crash


def lock_path(folder: Path) -> Path:
    return Path(folder) / LOCK_NAME


def read_holder(folder: Path) -> tuple[int, str] | None:
    """(pid, host) of the lock in ``folder``; None without a lock or with an unreadable one."""
    try:
        pid, host = lock_path(folder).read_text().split()[:2]
        return int(pid), host
    except (FileNotFoundError, ValueError):
        return None


def holder_text(folder: Path) -> str:
    holder = read_holder(folder)
    return f"pid {holder[0]} on {holder[1]}" if holder else "another process"


def lock_stale(folder: Path) -> bool:
    """Whether the lock in ``folder`` belongs to nobody running: a dead pid of this host (or this
    very process, left by an earlier call), an old lock of another host, an old unreadable one."""
    try:
        age = time.time() - lock_path(folder).stat().st_mtime
    except FileNotFoundError:
        return False
    holder = read_holder(folder)
    if holder is None:
        return age > STALE_UNREADABLE_SECONDS
    pid, host = holder
    if host != host_tag():
        return age > STALE_FOREIGN_SECONDS
    return pid == os.getpid() or not pid_alive(pid)


def try_lock(folder: Path) -> bool:
    """Take the job's lock; False when another running process holds it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(2):   # a stale lock is removed once, then made afresh
        try:
            fd = os.open(lock_path(folder), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not lock_stale(folder):
                return False
            lock_path(folder).unlink(missing_ok=True)
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()} {host_tag()}\n")
        return True
    return False


def unlock(folder: Path) -> None:
    """Remove the lock if this process holds it."""
    if read_holder(folder) == (os.getpid(), host_tag()):
        lock_path(folder).unlink(missing_ok=True)


def locked_by_other(folder: Path) -> bool:
    return lock_path(folder).exists() and not lock_stale(folder)


@contextlib.contextmanager
def job_lock(folder: Path) -> Iterator[bool]:
    """``with job_lock(folder) as held:`` held is False when another running process has the job."""
    held = try_lock(folder)
    try:
        yield held
    finally:
        if held:
            unlock(folder)
