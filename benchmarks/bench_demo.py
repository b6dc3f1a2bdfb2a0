"""What a newcomer waits for: ``make demo`` (``python -m specct.stages.pipeline``) timed stage by stage, alone
and beside one competing process, on this host, in one run (with the float32 matmul peak of the same
run, so that hosts can be compared).

    python benchmarks/bench_demo.py                  # alone, then under one busy process
    python benchmarks/bench_demo.py --arms alone     # only alone

The competing process is another program's steady work on one core (a one-thread float32 matmul
loop), as a user's editor, browser or second job would be; on two cores it leaves the demo one core.
Each arm runs the demo from nothing in a fresh folder. The README promises "a few minutes": the
line at the end says whether each arm kept it (at most 5 minutes).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMISE_SECONDS = 5 * 60   # "a few minutes" (README)
BUSY = ("import torch, time\ntorch.set_num_threads(1)\na = torch.randn(1024, 1024)\n"
        "while True:\n    a @ a\n")


def timed_demo(folder: Path, extra: list[str]) -> tuple[float, dict[str, float], str]:
    """Seconds of the whole demo, seconds of each stage (from its '=== n/7 stage' lines), its last lines."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "specct.stages.pipeline", "--workdir", str(folder), "--no_progress",
                                *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stages, current, since, lines = {}, None, started, []
    for line in process.stdout:
        lines.append(line.rstrip())
        if line.startswith("=== "):
            now = time.perf_counter()
            if current is not None:
                stages[current] = now - since
            current, since = line[4:].strip(), now
    process.wait()
    total = time.perf_counter() - started
    if current is not None:
        stages[current] = time.perf_counter() - since
    if process.returncode != 0:
        raise SystemExit("the demo failed:\n" + "\n".join(lines[-30:]))
    return total, stages, "\n".join(lines[-6:])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arms", nargs="+", choices=("alone", "busy"), default=["alone", "busy"])
    parser.add_argument("--json", help="also write the numbers to this file")
    parser.add_argument("demo_flags", nargs="*", help="flags passed to python -m specct.stages.pipeline (after --)")
    args = parser.parse_args(argv)

    import torch

    from specct.models.throughput import host_description, matmul_peak

    peak = matmul_peak(torch.device("cpu"))
    print(f"host: {host_description()}; float32 matmul peak {peak:.0f} GFLOP/s; {os.cpu_count()} cores")
    results = {}
    for arm in args.arms:
        busy = subprocess.Popen([sys.executable, "-c", BUSY]) if arm == "busy" else None
        try:
            with tempfile.TemporaryDirectory(prefix=f"bench_demo_{arm}_") as folder:
                total, stages, tail = timed_demo(Path(folder), args.demo_flags)
        finally:
            if busy is not None:
                busy.kill()
                busy.wait()
        results[arm] = {"total_s": total, "stages_s": stages}
        print(f"\n{arm}: {total:.0f} s\n{tail}")

    names = list(next(iter(results.values()))["stages_s"])
    print(f"\n| stage | {' | '.join(f'{arm} s' for arm in results)} |")
    print(f"|---|{'---:|' * len(results)}")
    for name in names:
        cells = [f"{r['stages_s'].get(name, float('nan')):.0f}" for r in results.values()]
        print(f"| {name} | {' | '.join(cells)} |")
    cells = [f"{r['total_s']:.0f}" for r in results.values()]
    print(f"| whole demo | {' | '.join(cells)} |")
    for arm, r in results.items():
        kept = "within" if r["total_s"] <= PROMISE_SECONDS else "OVER"
        print(f"{arm}: {r['total_s'] / 60:.1f} min, {kept} the README's 'a few minutes' ({PROMISE_SECONDS // 60} min)")
    if args.json:
        Path(args.json).write_text(json.dumps({"host": host_description(), "matmul_peak_gflops": peak,
                                               "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
