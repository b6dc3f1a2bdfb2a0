#!/usr/bin/env python
"""Import an emotional-speech corpus, as downloaded, into datasets/<CORPUS>/ with canonical names.

    python prepare_corpus.py CORPUS SOURCE_DIR [--datasets_dir datasets]
    python prepare_corpus.py --list

Exit status: 0 when files were imported (or were there already), 1 when nothing could be
imported, 2 for wrong arguments (unknown corpus, missing source folder).

The same as ``specct prepare`` (src/specct/commands/prepare.py).
"""
import sys

from specct.commands.prepare import main, parse_args, build_parser  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
