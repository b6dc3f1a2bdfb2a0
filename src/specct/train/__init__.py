"""Training: ``train(args)`` runs one training job; ``main()`` is train.py's entry point."""
from __future__ import annotations

from urllib.error import URLError

from .loop import train as train_neural
from .options import default_args, parse_args

__all__ = ["train", "parse_args", "default_args", "main"]


def train(args, on_epoch_end=None):
    """Run one training job; a baseline name (``specct.baselines``) goes to the baseline trainer."""
    from ..baselines import is_baseline

    if is_baseline(args.model):
        from ..baselines.trainer import train_baseline

        return train_baseline(args)
    return train_neural(args, on_epoch_end)


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
