"""Partial fine-tuning of Whisper (``--model whisper_finetune``): the top ``--finetune_blocks`` encoder
blocks (2 by default) and the whisper_head probe trained end to end
(:class:`specct.models.whisper_finetune.WhisperFinetune`), by the shared loop of
:mod:`specct.train.frame_loop`, resumable from ``last.pth.tar``.

The blocks below are frozen, so their output is computed once and cached: the cache holds the hidden
states entering block L-k, exactly what the trained blocks read, at the encoder's own 50 Hz and
float16 (``FrameSet(..., pool=1, input_top=k)``). whisper_head's cache (every layer, pairs of frames
averaged) is not reused: the blocks were trained on 50 Hz frames, and averaged pairs would change both
their positions and their statistics; one layer at 50 Hz is also smaller than every layer at 25 Hz
(1 x 50 against 7 x 25 vectors a second for Whisper base).

The blocks start from the pretrained weights and learn at ``--lr`` x ``--finetune_lr_scale`` (0.1 by
default: pretrained weights move less), the head at ``--lr``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..baselines.features import parse_features
from ..baselines.whisper_frames import FrameSet
from .frame_loop import FrameTraining, feature_spec, train_on_frames

MODEL = "whisper_finetune"
DEFAULT_BLOCKS = 2
DEFAULT_LR_SCALE = 0.1


def blocks_of(args: argparse.Namespace) -> int:
    blocks = getattr(args, "finetune_blocks", None)
    return DEFAULT_BLOCKS if blocks is None else int(blocks)


def frame_set(args: argparse.Namespace) -> FrameSet:
    """The cache of the states entering the top blocks, at 50 Hz (see the module's docstring)."""
    blocks = blocks_of(args)
    if blocks < 1:
        from ..core.errors import InputError

        raise InputError(f"--finetune_blocks {blocks}: give at least 1 (whisper_head trains a head alone)")
    return FrameSet(feature_spec(args), pool=1, input_top=blocks)


def run_name(args: argparse.Namespace) -> str:
    """``whisper_finetune`` (``-top<k>`` for another block count); ``whisper_finetune-<frame cache>`` for
    another Whisper source, input or precision."""
    frames = frame_set(args)
    if frames.spec == parse_features("whisper"):
        return args.model if frames.input_top == DEFAULT_BLOCKS else f"{args.model}-top{frames.input_top}"
    return f"{args.model}-{frames.name}"


def build_model(args, num_classes: int, layers: int, width: int, extractor):
    """The top blocks copied from the frozen encoder, a new head; the kwargs rebuild it from a checkpoint."""
    import timm

    from .. import models  # noqa: F401  (registers whisper_finetune in timm)
    from ..models.whisper_finetune import encoder_config_of

    encoder = extractor().encoder
    kwargs = {"num_classes": num_classes, "blocks": blocks_of(args),
              "encoder_config": encoder_config_of(encoder.config),
              "hidden": int(args.head_hidden), "drop_rate": float(args.drop if args.drop is not None else 0.1)}
    model = timm.create_model(MODEL, **kwargs)
    model.load_encoder(encoder)
    return model, kwargs


def param_groups(args: argparse.Namespace):
    """timm's ``param_group_fn``: the head at --lr, the blocks and the final norm at --lr x --finetune_lr_scale,
    each without weight decay on biases and norms (as timm does for one learning rate)."""
    scale = DEFAULT_LR_SCALE if getattr(args, "finetune_lr_scale", None) is None else float(args.finetune_lr_scale)

    def groups(model) -> list[dict]:
        import torch.nn as nn
        from timm.optim import param_groups_weight_decay

        parts = ((model.head, float(args.lr)), (nn.ModuleList([model.blocks, model.norm]), float(args.lr) * scale))
        return [{**group, "lr": lr} for part, lr in parts
                for group in param_groups_weight_decay(part, args.weight_decay)]

    return groups


def train_whisper_finetune(args: argparse.Namespace, on_epoch_end=None) -> Path:
    """Fine-tune as the flags say; returns the run folder."""
    plan = FrameTraining(frame_set(args), build_model, param_groups, resumable=True)
    return train_on_frames(args, plan, run_name(args), on_epoch_end)
