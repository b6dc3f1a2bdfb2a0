"""Training: ``train(args)`` runs one training job; ``main()`` is train.py's entry point."""
from __future__ import annotations

from urllib.error import URLError

from .loop import train
from .options import default_args, parse_args

__all__ = ["train", "parse_args", "default_args", "main"]


def main(argv=None) -> int:
    args = parse_args(argv)
    try:  # missing split or weights, mismatched classes, offline download: one line, not a traceback
        train(args)
    except URLError as exc:
        raise SystemExit(f"train.py: error: could not download the pretrained weights ({exc.reason}); "
                         f"offline, give the file with --pretrained-path or train with --no-pretrained")
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"train.py: error: {exc}")
    return 0
