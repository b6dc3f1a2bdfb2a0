"""``whisper_finetune``: Whisper's top encoder blocks and a whisper_head probe trained end to end
(:mod:`specct.models.whisper_finetune`, trained by :mod:`specct.train.whisper_finetune`).

A kind of whisper_head's: the same checkpoint layout, loaded by :class:`TrainedWhisperHead` (new audio
runs the frozen blocks, then the trained ones); what differs is the training, which resumes from
``last.pth.tar`` after a kill.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from .whisper_head import WhisperHeadSystem
from ..train.option_models import WhisperFinetuneOptions

MODEL = "whisper_finetune"


class WhisperFinetuneSystem(WhisperHeadSystem):
    """``--model whisper_finetune`` (options: ``--finetune_blocks``, ``--finetune_lr_scale``, whisper_head's
    ``--features whisper[:<source>]``, ``--whisper_input``, ``--whisper_precision``, ``--head_hidden``,
    ``--drop`` and the training flags)."""
    kind = "whisper_finetune"
    options = WhisperFinetuneOptions   # the train.py flags its training reads

    def handles(self, model_name: str) -> bool:
        return str(model_name) == MODEL

    def model_names(self) -> list[str]:
        return [MODEL]

    def run_name(self, args: argparse.Namespace) -> str:
        from ..train.whisper_finetune import run_name

        return run_name(args)

    def fit(self, args: argparse.Namespace, on_epoch_end=None) -> Path:
        from ..train.whisper_finetune import train_whisper_finetune

        return train_whisper_finetune(args, on_epoch_end)

    def prepare_resume(self, out_dir: Path, args: argparse.Namespace) -> None:
        """Continue after the last saved epoch; the loop says so, or why it starts again."""
        args.resume = "auto"
