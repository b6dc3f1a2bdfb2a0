"""Whole training epochs end to end, side by side in one run: the images decoded once (``--image_cache
auto``) against every PNG read in every epoch (``off``), in float32 and in bfloat16 autocast, with
the fraction of this device's float32 matmul peak (measured in the same run) each reaches.

    python benchmarks/bench_epoch.py                        # demo corpora at 64 px, CPU
    python benchmarks/bench_epoch.py --train_data DIR       # a split's train_data folder
    python benchmarks/bench_epoch.py --device cuda --image_size 112 --batch_size 256

Each configuration trains ``--epochs`` epochs from the same seed (validation included, as train.py
runs them); samples/s counts the training images of all epochs over the wall time of the whole run,
the decoding of a cache included. A second figure isolates the data path: one pass over the
training loader, no model. Run it alone: other work on the cores changes every figure.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "src"))

from specct.models.throughput import count_gmacs, host_description, matmul_peak  # noqa: E402
from specct.core.precision import resolve as resolve_precision  # noqa: E402

TRAIN_PASSES = 3    # a training step is about three forward passes of work


def demo_train_data(root: Path, size: int, validation: str = "auto") -> Path:
    """Demo corpora -> images at ``size`` px -> speaker vectors -> a split holding out DEMOC."""
    from specct.data.demo import CORE_EMOTIONS, generate_demo
    from specct.data.images import preprocess_corpora
    from specct.data.speaker import embed_corpora
    from specct.data.splits import SplitOptions, run_split_stage

    datasets = root / "datasets"
    generate_demo(datasets, seed=0, speakers=6, sentences=4, emotions=CORE_EMOTIONS, progress=False)
    preprocess_corpora(datasets, augmentations=[], size=(size, size), workers=1, progress=False)
    embed_corpora(datasets, progress=False)
    split = run_split_stage(SplitOptions(eval_dataset="DEMOC", num_classes="4", seed=0, datasets_dir=str(datasets),
                                         output_dir=str(root / "data"), validation=validation))[0]
    return Path(split.out_dir) / "train_data"


def loader_pass(train_data: Path, size: int, cache: str) -> float:
    """Images/s of one pass over the training rows, data path only (decoding, resize, normalisation)."""
    from specct.data import split_rows as split_data
    from specct.data.image_cache import DecodedImages

    classes = split_data.read_class_names(train_data)
    frame = split_data.read_split(train_data / "train.csv", classes)
    started = time.perf_counter()
    decoded = DecodedImages(list(frame["image"]), (3, size, size)) if cache != "off" else None
    dataset = split_data.SplitDataset(frame, (3, size, size), (0.5,) * 3, (0.5,) * 3, decoded=decoded)
    for epoch in range(2):                  # two epochs: the cache pays its decoding once
        for i in range(len(dataset)):
            dataset[i]
    return 2 * len(dataset) / (time.perf_counter() - started)


def timed_training(train_data: Path, out: Path, args, cache: str, precision: str,
                   **flags) -> tuple[float, int]:
    """Wall seconds of a whole training (``flags``: more train.py flags) and the training samples it saw."""
    from specct.train import default_args, train

    options = default_args(train_data, model=args.model, experiment=str(out), epochs=args.epochs, seed=0,
                           input_size=[3, args.image_size, args.image_size], batch_size=args.batch_size,
                           no_progress=True, image_cache=cache, precision=precision, device=args.device,
                           workers=args.workers, **flags)
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):     # train.py's per-epoch lines
        train(options)
    seconds = time.perf_counter() - started
    import pandas as pd

    rows = len(pd.read_csv(train_data / "train.csv"))
    return seconds, rows * args.epochs


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train_data", type=Path, default=None, help="a split's train_data (default: demo corpora)")
    p.add_argument("--model", default="speaker_vgg_cct_7_7x2_112")
    p.add_argument("--image_size", type=int, default=64)
    p.add_argument("--batch_size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--workers", type=int, default=0, help="data loading processes of train.py")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--precisions", nargs="+", default=["float32", "bfloat16"])
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train_data = args.train_data or demo_train_data(tmp, args.image_size)
        device = torch.device(args.device)
        peak = matmul_peak(device)
        import specct.models  # noqa: F401  (registers the models)
        from timm import create_model

        gmacs = count_gmacs(create_model(args.model, num_classes=4, img_size=args.image_size))
        load = os.getloadavg()[0]
        print(f"torch {torch.__version__}, device {device}, {args.model} at {args.image_size} px, batch "
              f"{args.batch_size}, {args.epochs} epoch(s), load average {load:.1f}")
        print(host_description())
        print(f"float32 matmul peak of this run: {peak:.0f} GFLOP/s; {gmacs:.3f} GMACs per image forward")
        data = {cache: loader_pass(train_data, args.image_size, cache) for cache in ("off", "auto")}
        print(f"\ndata path alone, two passes over {train_data}: PNG every epoch {data['off']:.0f} images/s, "
              f"decoded once {data['auto']:.0f} images/s ({data['auto'] / data['off']:.1f}x)\n")
        # an untimed run first: imports, kernel selection and first-touch allocations are paid once
        timed_training(train_data, tmp / "warmup", argparse.Namespace(**{**vars(args), "epochs": 1}), "off",
                       args.precisions[0])
        print("| precision | image cache | wall s | training samples/s | % of fp32 matmul peak | vs PNG path |")
        print("|---|---|---:|---:|---:|---:|")
        for precision in args.precisions:
            used = resolve_precision(precision, device.type)
            speeds = {}
            for cache in ("off", "auto"):
                seconds, samples = timed_training(train_data, tmp / f"{precision}-{cache}", args, cache, precision)
                speeds[cache] = samples / seconds
                fraction = TRAIN_PASSES * 2 * gmacs * speeds[cache] / peak
                ratio = "-" if cache == "off" else f"{speeds['auto'] / speeds['off']:.2f}x"
                print(f"| {used} | {cache} | {seconds:.1f} | {speeds[cache]:.1f} | {100 * fraction:.0f} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
