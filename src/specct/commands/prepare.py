"""Import an emotional-speech corpus, as downloaded, into datasets/<CORPUS>/ with canonical names.

    specct prepare CORPUS SOURCE_DIR [--datasets_dir datasets]     (or: python prepare_corpus.py ...)
    specct prepare --list

Exit status: 0 when files were imported (or were there already), 1 when nothing could be
imported, 2 for wrong arguments (unknown corpus, missing source folder).
"""
from __future__ import annotations

import argparse
import sys

from ..core.cli import ArgumentParser
from ..core.errors import run_script
from ..data.prepare import describe_corpora, import_corpus


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="prepare_corpus.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("corpus", nargs="?", help="corpus name, any case (see --list)")
    parser.add_argument("source_dir", nargs="?", help="the corpus folder as downloaded and unpacked")
    parser.add_argument("--datasets_dir", default="datasets", help="where datasets/<CORPUS>/ is written (default: datasets)")
    parser.add_argument("--sample_rate", type=int, default=16000, help="output sample rate in Hz (default: 16000)")
    parser.add_argument("--subtype", default="PCM_16",
                        help="output wav sample format, e.g. PCM_16, PCM_24, FLOAT (default: PCM_16)")
    parser.add_argument("--merge_excited", action="store_true",
                        help="IEMOCAP only: label 'exc' as happy (default: keep 'excited')")
    parser.add_argument("--merge_calm", action="store_true",
                        help="TUREVDB and RAVDESS only: label calm as neutral (default: keep 'calm')")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar and no summary")
    parser.add_argument("--list", action="store_true", help="list the supported corpora and the layout each expects")
    return parser


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.list and not (args.corpus and args.source_dir):
        parser.error("give CORPUS and SOURCE_DIR, or --list")
    args.error = parser.error
    args.prog = parser.prog
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list:
        print(describe_corpora())
        return 0
    options = {flag: True for flag in ("merge_excited", "merge_calm") if getattr(args, flag)}
    summaries = []
    run_script(args.prog, lambda: summaries.append(import_corpus(
        args.corpus, args.source_dir, args.datasets_dir, sample_rate=args.sample_rate,
        progress=not args.no_progress, subtype=args.subtype, **options)))
    summary = summaries[0]
    if summary.from_source == 0:
        print(f"error: nothing could be imported from {args.source_dir}; reasons in {summary.skip_list}", file=sys.stderr)
        return 1
    return 0
