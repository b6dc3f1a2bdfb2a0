"""One study's jobs run serially (one process, every thread) against ``--executor local --jobs N``
(N processes, cores/N threads each): wall time of ``specct run`` and the ratio. Run it alone: other
work on the cores changes every number.

    python benchmarks/bench_executor.py                          # the quick baselines study, N = 2
    python benchmarks/bench_executor.py --study examples/demo.yml --jobs 2
    python benchmarks/bench_executor.py --slurm                  # and --executor slurm (a running cluster)

With ``--slurm`` it also says the Slurm path's overhead per job, from Slurm's own times of each array
task (``scontrol show job``): submitted to started, and the last task's end to the tables collected.

The corpora, images, speaker vectors and features are made once, before any timing (every arm reads
them through ``datasets_dir``); each arm then runs the whole study in a fresh output folder, so it
times the jobs (splits, trainings, evaluations), the tables and the report. It says whether the arms
wrote the same results.csv: the baselines do, byte for byte; a network trained with another number of
threads sums its floats in another order, so its digits can differ from the serial arm's (the serial
run with OMP_NUM_THREADS=1 gives the local arm's bytes: docs/performance.md).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICK = REPO_ROOT / "src" / "specct" / "examples" / "quick_baselines.yml"


def study_file(source: Path, folder: Path, datasets: Path) -> Path:
    content = yaml.safe_load(source.read_text())
    content.update(output=str(folder / "out"), datasets_dir=str(datasets))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.yml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def timed_run(path: Path, flags: list[str], env: dict) -> float:
    started = time.perf_counter()
    completed = subprocess.run([sys.executable, "-m", "specct", "run", str(path), "--no_progress", *flags],
                               cwd=path.parent, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if completed.returncode != 0:
        raise SystemExit(f"specct run {' '.join(flags)} failed:\n{completed.stdout[-2000:]}{completed.stderr[-2000:]}")
    return seconds


def experiment_of(path: Path) -> Path:
    name = yaml.safe_load(path.read_text())["name"]
    return path.parent / "out" / name / "loco" / name


def slurm_times(experiment: Path) -> list[tuple[float, float, float]]:
    """(submitted, started, ended) of each array task, as Slurm recorded them (seconds since the epoch)."""
    from datetime import datetime

    submitted = yaml.safe_load((experiment / "slurm" / "submitted.yaml").read_text())
    times = []
    for task in submitted.values():
        out = subprocess.run(["scontrol", "show", "job", "-o", str(task)], capture_output=True, text=True).stdout
        fields = dict(item.split("=", 1) for item in out.split() if "=" in item)
        times.append(tuple(datetime.fromisoformat(fields[k]).timestamp() for k in ("SubmitTime", "StartTime", "EndTime")))
    return times


def main() -> None:
    from specct.study import engine as study_module
    from specct.models.throughput import host_description
    from specct.core.threads import available_cores

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--study", type=Path, default=QUICK, help="the study file (its corpora: demo or folders)")
    parser.add_argument("--jobs", type=int, default=2, help="jobs at once of --executor local")
    parser.add_argument("--slurm", action="store_true", help="also --executor slurm (needs a running cluster)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the arms write (default: a temporary folder)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_executor-"))
    datasets = workdir / "datasets"
    cores = available_cores()
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}   # the serial arm: every thread

    print(host_description())
    print(f"{cores} core(s) for this process; load average before {os.getloadavg()[0]:.1f}")
    study_module.run_study(study_file(args.study, workdir / "prepare", datasets), until="features", progress=False)
    arms = [("serial, one process, every thread", []),
            (f"--executor local --jobs {args.jobs}, {max(1, cores // args.jobs)} thread(s) each",
             ["--executor", "local", "--jobs", str(args.jobs)])]
    if args.slurm:
        arms.append(("--executor slurm (one-node cluster, 1 CPU per job)", ["--executor", "slurm"]))
    timings, results, jobs, overhead = [], [], 0, None
    for i, (label, flags) in enumerate(arms):
        path = study_file(args.study, workdir / f"arm{i}", datasets)
        timings.append(timed_run(path, flags, env))
        ended = time.time()
        results.append((experiment_of(path) / "results.csv").read_bytes())
        jobs = len(list((experiment_of(path) / "jobs").rglob("performance.yaml")))
        if "slurm" in flags:
            times = slurm_times(experiment_of(path))
            overhead = (sum(start - submit for submit, start, _ in times) / len(times), ended - max(t[2] for t in times))
    same = all(r == results[0] for r in results)
    print(f"\n{args.study.name}: {jobs} jobs; results.csv {'the same' if same else 'DIFFERENT'} in every arm; "
          f"load average after {os.getloadavg()[0]:.1f}\n")
    print("| arm | wall s | vs serial |")
    print("|---|---:|---:|")
    for (label, _), seconds in zip(arms, timings):
        print(f"| {label} | {seconds:.1f} | {timings[0] / seconds:.2f}x |")
    if overhead is not None:
        print(f"\nSlurm, per array task: {overhead[0]:.1f} s from submitted to started (mean; Slurm's times, "
              f"1 s resolution); {overhead[1]:.1f} s from the last task's end to the tables and report written")
    if not same:
        print("\nresults.csv differs between arms: expected only where a network trains with another number "
              "of threads than the serial arm's")


if __name__ == "__main__":
    main()
