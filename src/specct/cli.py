"""The command-line vocabulary every specct script shares.

One rule for flag names: the documented spelling uses underscores (``--datasets_dir``,
``--batch_size``), as the original preprocessing scripts did; the hyphen spelling of timm's
``train.py`` (``--batch-size``) is accepted everywhere too, without a second line in ``--help``.
Two rules for meaning: ``--datasets_dir`` is always the folder of imported corpora, ``--datasets``
always a space-separated list of corpus names; every list is space-separated.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence


class ArgumentParser(argparse.ArgumentParser):
    """An ``argparse.ArgumentParser`` that also accepts ``--a-b`` for a flag declared as ``--a_b``."""

    def parse_known_args(self, args: Sequence[str] | None = None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        return super().parse_known_args(self.underscore_spelling(args), namespace)

    def underscore_spelling(self, args: Sequence[str]) -> list[str]:
        """``--batch-size=8`` -> ``--batch_size=8`` where the underscore flag exists; the rest untouched."""
        out: list[str] = []
        for i, token in enumerate(args):
            if token == "--":  # everything after a bare -- is a positional value
                return out + list(args[i:])
            if token.startswith("--") and "-" in token[2:]:
                name, sep, value = token.partition("=")
                candidate = "--" + name[2:].replace("-", "_")
                if candidate in self._option_string_actions:
                    token = candidate + sep + value
            out.append(token)
        return out


def add_datasets_arguments(parser: argparse.ArgumentParser, datasets_help: str, default_dir: str = "./datasets"):
    """``--datasets_dir`` (the folder of imported corpora) and ``--datasets`` (corpus names), worded the same everywhere."""
    parser.add_argument("--datasets_dir", default=default_dir,
                        help=f"folder of imported corpora, <CORPUS>/<CORPUS>_wav (default {default_dir})")
    parser.add_argument("--datasets", nargs="+", default=None, metavar="CORPUS", help=datasets_help)
