"""Training: ``train(args)`` runs one training job; ``main()`` is train.py's entry point."""
from __future__ import annotations

from urllib.error import URLError

from ..errors import InputError, run_script
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


def train_or_explain(args) -> None:
    """``train(args)``, with a failed weights download turned into the offline advice."""
    try:
        train(args)
    except URLError as exc:
        raise InputError(f"could not download the pretrained weights ({exc.reason}); offline, give the file "
                         f"with --pretrained_path or train with --no_pretrained") from exc


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_script("train.py", lambda: train_or_explain(args))
