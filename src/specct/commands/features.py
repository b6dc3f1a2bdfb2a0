"""Utterance features of the baselines, cached per corpus in datasets/<C>/<C>_features/<set>.npz.

    specct features --features egemaps                     # openSMILE eGeMAPSv02 (88 values)
    specct features --features compare --datasets EMODB    # openSMILE ComParE_2016 (6373 values)
    specct features --features ssl:facebook/wav2vec2-base --layer 8
    specct features --features ssl:/models/wavlm-base-plus --layer all   # offline: a local directory
    specct features --features resemblyzer                  # the speaker vectors (<C>_speaker/embeddings.npz)
    specct features --features whisper                      # Whisper base of `make weights`, every layer
    specct features --features whisper:openai/whisper-base --whisper_input padded

(or: python preprocess_features.py ...). Resumes where it stopped; bad audio is listed with a
reason in <C>_features/skipped_<set>.csv. See docs/baselines.md.
"""
from __future__ import annotations

import argparse

from ..core.cli import ArgumentParser, RawDescriptionHelpFormatter, add_datasets_arguments, add_progress_argument
from ..core.errors import run_script


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="preprocess_features.py", description=__doc__, formatter_class=RawDescriptionHelpFormatter)
    add_datasets_arguments(p, "corpora to process (default: all imported)")
    p.add_argument("--features", default="egemaps",
                   help="egemaps, compare, resemblyzer (the speaker vectors) or "
                        "ssl:<hub name or local model directory> or whisper[:<hub name or folder>] (default: egemaps)")
    p.add_argument("--layer", default="all",
                   help="SSL only: hidden layer to pool (0 = feature encoder output), or all (default: all)")
    p.add_argument("--whisper_input", choices=("real", "padded"), default="real",
                   help="whisper only: real (the log-mel cut to the audio's length) or padded (the 30-s window) "
                        "(default: real)")
    p.add_argument("--whisper_precision", choices=("float32", "bfloat16"), default="float32",
                   help="whisper only: float32, or bfloat16 autocast, about 2x faster where the CPU has native "
                        "bfloat16 (a cache of its own) (default: float32)")
    p.add_argument("--device", default="cpu", help="SSL only: cpu or cuda (default: cpu)")
    p.add_argument("--offline", action="store_true",
                   help="SSL only: never contact the hub (also set by HF_HUB_OFFLINE=1)")
    p.add_argument("--overwrite", action="store_true", help="extract every file again, not only the missing ones")
    add_progress_argument(p)
    return p


def run(args: argparse.Namespace) -> None:
    from ..stages.features import run_features_stage

    run_features_stage(args.datasets_dir, args.datasets, args.features, args.layer, device=args.device,
                       progress=not args.no_progress, overwrite=args.overwrite,
                       offline=True if args.offline else None, whisper_input=args.whisper_input,
                       whisper_precision=args.whisper_precision)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_script(parser.prog, lambda: run(args))
