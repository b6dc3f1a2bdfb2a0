"""train.py: options, then one training job of whatever kind ``--model`` names (:mod:`specct.systems`).

The image networks' own training loop is :mod:`specct.train.loop`; the baselines' is
:mod:`specct.baselines.trainer`.
"""
from __future__ import annotations

from urllib.error import URLError

from ..core.errors import InputError, run_script
from .options import default_args, parse_args

__all__ = ["train", "parse_args", "default_args", "main"]


def train(args, on_epoch_end=None):
    """Run one training job through the system ``args.model`` names; returns its run folder."""
    from .. import systems

    return systems.fit(args, on_epoch_end)


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
