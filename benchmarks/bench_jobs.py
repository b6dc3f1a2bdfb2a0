"""Training throughput of one training with every core against N one-core trainings side by side:
what ``specct run ... --executor local --jobs N`` rests on. Measured in one run, after the machine's float32 matmul
peak, on the CPU; run it alone (other work on the cores changes every number).

    python benchmarks/bench_jobs.py --quick               # smoke run: a few steps
    python benchmarks/bench_jobs.py                       # speaker CCT at 64 px, batch 8 (benchmarks/studies')
    python benchmarks/bench_jobs.py --model cct_7_7x2_112 --size 112

Each path is a fresh process that trains the model on random inputs (forward, cross-entropy,
backward, AdamW step) for ``--steps`` timed steps after ``--warmup``. The side-by-side processes
start their timed steps together (a barrier), and their samples/s add up.
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import time


def train_steps(model_name: str, size: int, batch: int, threads: int, warmup: int, steps: int, barrier=None) -> float:
    """Samples/s of ``steps`` training steps with ``threads`` torch threads."""
    import torch

    import specct.models  # noqa: F401  (registers the models)
    from specct.models.throughput import make_inputs
    from specct.models.factory import create_model

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = create_model(model_name, pretrained=False, num_classes=3, img_size=size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    inputs, target = make_inputs(model, batch, torch.device("cpu")), torch.randint(0, 3, (batch,))

    def step():
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs), target).backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    if barrier is not None:
        barrier.wait()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - started)


def in_processes(count: int, threads: int, args) -> list[float]:
    """Samples/s of each of ``count`` processes training at once with ``threads`` threads each."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(count) if count > 1 else None
    with context.Pool(count) as pool:
        jobs = [pool.apply_async(train_steps, (args.model, args.size, args.batch, threads, args.warmup, args.steps,
                                               barrier)) for _ in range(count)]
        return [job.get() for job in jobs]


def main() -> None:
    import torch

    from specct.models.throughput import host_description, matmul_peak

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="speaker_vgg_cct_7_7x2_112")
    parser.add_argument("--size", type=int, default=64, help="image size in pixels")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="one-thread trainings side by side")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2 warm-up and 3 timed steps at 32 px")
    args = parser.parse_args()
    if args.quick:
        args.warmup, args.steps, args.size = 2, 3, 32
    cores = os.cpu_count() or 1
    print(host_description())
    print(f"float32 matmul peak {matmul_peak(torch.device('cpu'), size=1024 if args.quick else 2048):.0f} GFLOP/s on "
          f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f}"
          f"{'; QUICK smoke run: numbers are not measurements' if args.quick else ''}")
    print(f"{args.model}, {args.size} px, batch {args.batch}, {args.steps} timed training steps per process\n")
    one_all = in_processes(1, cores, args)[0]
    one_single = in_processes(1, 1, args)[0]
    side = in_processes(args.jobs, 1, args)
    print("| path | samples/s | vs one training on every core |")
    print("|---|---:|---:|")
    print(f"| one training, {cores} threads | {one_all:.1f} | 1.00x |")
    print(f"| one training, 1 thread | {one_single:.1f} | {one_single / one_all:.2f}x |")
    print(f"| {args.jobs} trainings side by side, 1 thread each (sum; each {' / '.join(f'{x:.1f}' for x in side)}) | "
          f"{sum(side):.1f} | {sum(side) / one_all:.2f}x |")


if __name__ == "__main__":
    main()
