"""Speed of the seed-aware statistics: results.csv and comparison.csv of a large made-up experiment.

    python benchmarks/bench_stats.py                       # 10 systems x 20 corpora x 5 seeds x 1000 draws
    python benchmarks/bench_stats.py --systems 3 --corpora 4 --seeds 3 --draws 200   # a quick run

Each (system, held-out corpus) has ``--seeds`` runs on the same ~``--rows`` test rows of 4 classes
(made up, seeded), so every statistic takes the two-level bootstrap (seeds, then rows within each
corpus). It times ``results_table`` and ``comparison_table`` (every system against the first) and
prints the seconds of each, the CPU model and the core count. Target: under 10 s on 2 cores.
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import pandas as pd

CLASSES = np.array(["anger", "happy", "neutral", "sad"])


def cpu_model() -> str:
    """The CPU model from /proc/cpuinfo (the platform's processor string elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def made_up(systems: int, corpora: int, seeds: int, rows: int, seed: int = 0):
    """``{(system, corpus): [frame per seed]}``: each system right on about 45-65% of the rows, each
    seed redrawing which rows."""
    rng = np.random.default_rng(seed)
    predictions = {}
    names = [f"system{i}" for i in range(systems)]
    held_out = [f"CORPUS{j}" for j in range(corpora)]
    for corpus in held_out:
        n = int(rows + rng.integers(-rows // 10, rows // 10 + 1))
        truth = rng.integers(0, len(CLASSES), n)
        files = [f"{corpus}_{i}.wav" for i in range(n)]
        for i, system in enumerate(names):
            right = 0.45 + 0.2 * i / max(systems - 1, 1)
            runs = []
            for _ in range(seeds):
                predicted = np.where(rng.random(n) < right, truth, rng.integers(0, len(CLASSES), n))
                runs.append(pd.DataFrame({"file": files, "truth": CLASSES[truth], "prediction": CLASSES[predicted]}))
            predictions[(system, corpus)] = runs
    return predictions, names, held_out


def main(argv=None) -> int:
    from specct.stats.compare import comparison_table, results_table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", type=int, default=10)
    parser.add_argument("--corpora", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=300, help="test rows per corpus (about)")
    args = parser.parse_args(argv)

    predictions, systems, corpora = made_up(args.systems, args.corpora, args.seeds, args.rows)
    start = time.perf_counter()
    results = results_table(predictions, systems, corpora, args.draws, seed=0)
    middle = time.perf_counter()
    comparison = comparison_table(predictions, systems, corpora, systems[0], args.draws, seed=0)
    end = time.perf_counter()
    print(f"{args.systems} systems x {args.corpora} corpora x {args.seeds} seeds x {args.draws} draws, "
          f"~{args.rows} rows per corpus, 4 classes: {len(results)} results rows, {len(comparison)} comparison rows")
    print(f"results_table     {middle - start:7.2f} s")
    print(f"comparison_table  {end - middle:7.2f} s")
    print(f"total             {end - start:7.2f} s   (target: under 10 s on 2 cores)")
    load = ", load average %.1f" % os.getloadavg()[0] if hasattr(os, "getloadavg") else ""
    print(f"host: {cpu_model()}, {cores()} core(s) available ({os.cpu_count()} on the machine){load}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
