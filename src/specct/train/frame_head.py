"""Training a head on cached Whisper frames (``--model whisper_head``): every layer's frames, pairs of
frames averaged, and :class:`specct.models.whisper_head.WhisperHead` on them, trained by the shared loop
of :mod:`specct.train.frame_loop`.

The whole run takes seconds to minutes, so an interrupted one starts again rather than resuming:
``model_best.pth.tar`` is written once, at the end, and its presence is what "trained" means.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..baselines.features import parse_features
from ..baselines.whisper_frames import FrameSet
from .frame_loop import FrameTraining, feature_spec, train_on_frames

MODEL = "whisper_head"
__all__ = ["MODEL", "frame_set", "run_name", "build_model", "train_frame_head"]


def frame_set(args: argparse.Namespace) -> FrameSet:
    return FrameSet(feature_spec(args))


def run_name(args: argparse.Namespace) -> str:
    """``whisper_head``; with another Whisper source, input or precision, ``whisper_head-<frame cache>``."""
    frames = frame_set(args)
    return args.model if frames == FrameSet(parse_features("whisper")) else f"{args.model}-{frames.name}"


def build_model(args, num_classes: int, layers: int, width: int, extractor=None):
    import timm

    from .. import models  # noqa: F401  (registers whisper_head in timm)

    kwargs = {"num_classes": num_classes, "num_layers": layers, "in_dim": width, "hidden": int(args.head_hidden),
              "drop_rate": float(args.drop if args.drop is not None else 0.1)}
    return timm.create_model(MODEL, **kwargs), kwargs


def train_frame_head(args: argparse.Namespace, on_epoch_end=None) -> Path:
    """Train the head the flags describe on the split; returns the run folder."""
    return train_on_frames(args, FrameTraining(frame_set(args), build_model), run_name(args), on_epoch_end)
