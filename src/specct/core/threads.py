"""CPU threads for torch inference: speaker embedding, prediction and evaluation.

torch starts one intra-op thread per physical core. When other work shares the cores, each
parallel operation waits for its slowest thread, and a thread that shares a core with another
process makes every operation wait: speaker embedding fell from 85 files/s to 4.5-16 files/s on a
two-core host with other work running. The default here leaves headroom instead: half the cores
this process may use (its CPU affinity and cgroup quota), at least one, so that a free core absorbs
one busy core. ``OMP_NUM_THREADS``, when set, still wins, and ``--threads`` overrides both.
``benchmarks/bench_embedding.py`` measures both defaults idle (what fewer threads cost there) and
with one busy core.
"""
from __future__ import annotations

import math
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import InputError

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cgroup_cpu_limit(path: Path | None = None) -> int | None:
    """Cores allowed by a cgroup v2 CPU quota (``quota period`` in ``cpu.max``), or None without one."""
    try:
        quota, period = (path or CGROUP_CPU_MAX).read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def available_cores() -> int:
    """Cores this process may run on: its CPU affinity, capped by a cgroup quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):       # not on Linux
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    return max(1, min(cores, limit) if limit else cores)


def default_threads(cores: int | None = None) -> int:
    """torch threads for inference when none are asked for: half the available cores, at least one.

    A thread count the user set for the process (``OMP_NUM_THREADS``) is kept as it is."""
    asked = os.environ.get("OMP_NUM_THREADS", "").strip()
    if asked.isdigit() and int(asked) >= 1:
        return int(asked)
    cores = available_cores() if cores is None else cores
    return max(1, cores // 2)


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")


def thread_environment(threads: int) -> dict[str, str]:
    """The environment of a child process that may use ``threads`` threads: torch, OpenMP and the BLAS
    libraries read these when they start, so they must be set before the child imports them."""
    return {name: str(threads) for name in THREAD_VARIABLES}


@contextmanager
def torch_threads(threads: int | None = None) -> Iterator[int]:
    """Run the block with ``threads`` torch threads (None: ``default_threads()``), then restore torch's."""
    import torch

    if threads is not None and threads < 1:
        raise InputError(f"--threads must be at least 1, got {threads}")
    chosen = threads or default_threads()
    previous = torch.get_num_threads()
    torch.set_num_threads(chosen)
    try:
        yield chosen
    finally:
        torch.set_num_threads(previous)
