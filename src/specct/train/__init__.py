"""Training: ``train(args)`` runs one training job; ``main()`` is train.py's entry point."""
from __future__ import annotations

from .loop import train
from .options import default_args, parse_args

__all__ = ["train", "parse_args", "default_args", "main"]


def main(argv=None) -> int:
    args = parse_args(argv)
    train(args)
    return 0
