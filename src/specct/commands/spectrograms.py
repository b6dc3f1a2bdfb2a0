"""Draw the plain and augmented mel-spectrogram images of every imported corpus.

    specct spectrograms --datasets_dir ./datasets --augmentations time_freq_aug
    (or: python preprocess_spectrograms.py ...)

Writes datasets/<C>/<C>_img/<stem>.png and datasets/<C>/<C>_augmented/<stem>_<aug>.png;
existing images are kept unless --overwrite, so a stopped run resumes.
"""
from __future__ import annotations

import argparse

from ..data.augment import AUGMENTATION_GROUPS, AUGMENTATIONS
from ..core.cli import ArgumentParser, RawDescriptionHelpFormatter, add_datasets_arguments, add_progress_argument
from ..figures.colormaps import CMAPS
from ..core.errors import run_script
from ..data.images import preprocess_corpora
from ..data.spectrogram import WINDOWS, SpectrogramConfig


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="preprocess_spectrograms.py", description=__doc__,
                            formatter_class=RawDescriptionHelpFormatter)
    add_datasets_arguments(parser, "corpora to process (default: all imported)")
    parser.add_argument("--augmentations", nargs="*", default=None,
                        help=f"the kinds of offline-augmented image to draw, names or groups (default: all): "
                             f"{' '.join(AUGMENTATIONS)} | {' '.join(AUGMENTATION_GROUPS)} | none "
                             f"(a split picks the group it trains on with --augmentation)")
    parser.add_argument("--size", nargs=2, type=int, default=(224, 224), metavar=("H", "W"),
                        help="image height and width in pixels (default: 224 224)")
    parser.add_argument("--n_mels", type=int, default=128, help="mel bands (default: 128)")
    parser.add_argument("--window", choices=sorted(WINDOWS), default="hamm", help="analysis window (default: hamm)")
    parser.add_argument("--cmap", choices=CMAPS, default="magma", help="colour map (default: magma)")
    parser.add_argument("--mean_norm", action="store_true",
                        help="subtract each mel band's mean over the utterance before drawing (per-utterance "
                             "mean normalisation of the log-mel; recorded in spectrogram.json, so predict.py "
                             "draws the same way; default off)")
    parser.add_argument("--min_seconds", type=float, default=None, metavar="S",
                        help="pad utterances shorter than S seconds with silence to S before drawing, so that "
                             "a second spans the same width in each of them (recorded in spectrogram.json; "
                             "default: every utterance stretched to the width)")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the augmentations (default: 0)")
    parser.add_argument("--overwrite", action="store_true", help="redraw images that already exist")
    parser.add_argument("--dry_run", action="store_true", help="list the work, write nothing")
    add_progress_argument(parser, "no progress bars and no summary")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def run(args: argparse.Namespace) -> None:
    config = SpectrogramConfig(window=args.window, n_mels=args.n_mels, cmap=args.cmap, size=tuple(args.size),
                               mean_norm=args.mean_norm, min_seconds=args.min_seconds)
    preprocess_corpora(args.datasets_dir, datasets=args.datasets,
                       augmentations=["none"] if args.augmentations == [] else args.augmentations,
                       workers=args.workers, seed=args.seed, overwrite=args.overwrite,
                       dry_run=args.dry_run, config=config, progress=not getattr(args, "no_progress", False))


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_script(parser.prog, lambda: run(args))
