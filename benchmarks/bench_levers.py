"""The training-speed cost of each adaptation lever, side by side in one run: whole trainings of the
same model, split and seed with and without each lever (samples/s and the ratio to the plain run).

    python benchmarks/bench_levers.py                 # demo corpora, 64 px, validation speakers, CPU
    python benchmarks/bench_levers.py --epochs 3 --precision bfloat16

The split validates on speakers of both training corpora, so each fold trains on two corpora (the
domains of the inductive adversary). The transductive adversary also passes a batch of held-out rows
through the model beside every training batch; test-time batch-norm statistics cost nothing in the
training steps (their work is one extra pass over the validation rows per epoch and over the test rows
at evaluation). Run it alone: other work on the cores changes every figure.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from bench_epoch import demo_train_data, timed_training  # noqa: E402
from specct.models.throughput import host_description  # noqa: E402

LEVERS = {
    "none": {},
    "domain_adversarial (inductive)": {"domain_adversarial": 1.0},
    "domain_adversarial (transductive)": {"domain_adversarial": 1.0, "domain_adversarial_variant": "transductive"},
    "balance_corpora": {"balance_corpora": "corpora"},
    "input_norm corpus": {"input_norm": "corpus"},
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="speaker_vgg_cct_7_7x2_112")
    p.add_argument("--image_size", type=int, default=64)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precision", default="auto")
    p.add_argument("--levers", nargs="+", choices=list(LEVERS), default=list(LEVERS))
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train_data = demo_train_data(tmp, args.image_size, validation="speakers")
        print(f"torch {torch.__version__}, device {args.device}, {args.model} at {args.image_size} px, batch "
              f"{args.batch_size}, {args.epochs} epoch(s), precision {args.precision}, load average "
              f"{os.getloadavg()[0]:.1f}")
        print(host_description())
        timed_training(train_data, tmp / "warmup", argparse.Namespace(**{**vars(args), "epochs": 1}), "auto",
                       args.precision)   # untimed: first-call costs
        print("\n| lever | wall s | training samples/s | vs none |\n|---|---:|---:|---:|")
        base = None
        for name in ["none", *[n for n in args.levers if n != "none"]]:
            seconds, samples = timed_training(train_data, tmp / name.replace(" ", "_"), args, "auto", args.precision,
                                              **LEVERS[name])
            speed = samples / seconds
            base = base or speed
            print(f"| {name} | {seconds:.1f} | {speed:.1f} | {speed / base:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
