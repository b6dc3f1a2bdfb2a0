"""Training a head on cached Whisper frames (``--model whisper_head``), with specct's training engine.

The rows are the split's train.csv and validation.csv, one per source wav (augmented images of a wav
share its audio). Their frames come from the frame cache (:mod:`specct.baselines.whisper_frames`),
extracted here first where missing, so an epoch reads memory only. The rest is the image networks'
loop in small: seeds per epoch (``seed_everything(seed, epoch)``, a sampler seeded the same way),
timm's optimizer and schedule from train.py's flags, :func:`specct.train.engine.train_one_epoch` and
``predict_loader`` (``--precision`` autocast, bfloat16 included), the best validation epoch of
``--eval_metric`` kept, early stopping with ``--patience``. summary.csv has one row per epoch (with
its seconds); the layer weights of the kept epoch are written to ``layer_weights.csv``.

The whole run takes seconds to minutes, so an interrupted one starts again rather than resuming:
``model_best.pth.tar`` is written once, at the end, and its presence is what "trained" means.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from .. import data as split_data
from .. import precision, runs
from ..baselines.features import FeatureSpec, parse_features
from ..baselines.whisper_frames import FrameSet, extract_corpora, frames_for_wavs
from ..checkpoint import BEST_NAME, save_checkpoint
from ..errors import InputError
from ..fileio import write_csv_atomic
from ..metrics import accuracy, uar
from .engine import cross_entropy, predict_loader, train_one_epoch, updates_per_epoch
from .losses import EmotionLoss, balanced_class_weights
from .selection import is_better, selection_value

MODEL = "whisper_head"
LAYER_WEIGHTS_NAME = "layer_weights.csv"


def feature_spec(args: argparse.Namespace) -> FeatureSpec:
    """The Whisper source, input and precision of the frames; every layer (the head weighs them)."""
    spec = parse_features(getattr(args, "features", None) or "whisper", None, getattr(args, "whisper_input", None),
                          getattr(args, "whisper_precision", None))
    if spec.kind != "whisper":
        raise InputError(f"--model {args.model} reads Whisper frames: give --features whisper[:<source>], "
                         f"not {spec.text}")
    given = getattr(args, "layer", None)
    if spec.layer != "all" or (given is not None and str(given).lower() != "all"):
        raise InputError(f"--model {args.model} learns its own weights over every layer: give "
                         f"--features whisper[:<source>] without a layer")
    return spec


def frame_set(args: argparse.Namespace) -> FrameSet:
    return FrameSet(feature_spec(args))


def run_name(args: argparse.Namespace) -> str:
    """``whisper_head``; with another Whisper source, input or precision, ``whisper_head-<frame cache>``."""
    frames = frame_set(args)
    return args.model if frames == FrameSet(parse_features("whisper")) else f"{args.model}-{frames.name}"


def make_extractor(frames: FrameSet, device: str = "cpu"):
    from ..baselines.whisper import WhisperExtractor

    spec = frames.spec
    return WhisperExtractor(spec.source, spec.input or "real", device=device, precision=spec.precision or "float32")


def ensure_frames(wavs: Sequence[str | Path], frames: FrameSet, progress: bool = True, extractor=None,
                  device: str = "cpu") -> None:
    """Extract (resumably) the frames of the corpora the wavs belong to, where missing (on ``device``)."""
    corpora: dict[Path, set[str]] = {}
    for wav in wavs:
        corpus_folder = Path(wav).parent.parent
        corpora.setdefault(corpus_folder.parent, set()).add(corpus_folder.name)
    made = []

    def factory():
        if not made:
            made.append(extractor or make_extractor(frames, device))
        return made[0]

    for datasets_dir, names in corpora.items():
        extract_corpora(datasets_dir, sorted(names), frames, factory, progress)


class FrameRows(Dataset):
    """Rows of a split with their cached frames: ``(frames (T, layers, hidden) float16, target, index)``."""

    def __init__(self, clips: Sequence[np.ndarray], targets: Sequence[int]):
        self.clips = [torch.from_numpy(np.asarray(c)) for c in clips]
        self.targets = [int(t) for t in targets]

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int):
        return self.clips[index], self.targets[index], index


def collate(batch) -> tuple:
    """Zero-padded frames (float32), real lengths, targets, row indices: the engine's four items."""
    clips, targets, index = zip(*batch)
    lengths = torch.tensor([len(c) for c in clips])
    frames = torch.zeros(len(clips), int(lengths.max()), *clips[0].shape[1:])
    for i, clip in enumerate(clips):
        frames[i, :len(clip)] = clip.float()
    return frames, lengths, torch.tensor(targets), torch.tensor(index)


def loader(rows: FrameRows, batch_size: int, shuffle: bool, seed: Sequence[int] = (0,)) -> DataLoader:
    """Batches of rows; shuffled by a generator drawn from ``seed`` (e.g. (seed, epoch)) when asked."""
    drawn = int(np.random.SeedSequence([int(k) for k in seed]).generate_state(1)[0])
    sampler = RandomSampler(rows, generator=torch.Generator().manual_seed(drawn)) if shuffle else None
    return DataLoader(rows, batch_size=batch_size, sampler=sampler, shuffle=False, collate_fn=collate)


def read_rows(path: Path, class_names) -> pd.DataFrame:
    return split_data.read_split(path, class_names).drop_duplicates("wav").reset_index(drop=True)


def build_model(args, num_classes: int, layers: int, width: int):
    import timm

    from .. import models  # noqa: F401  (registers whisper_head in timm)

    kwargs = {"num_classes": num_classes, "num_layers": layers, "in_dim": width, "hidden": int(args.head_hidden),
              "drop_rate": float(args.drop if args.drop is not None else 0.1)}
    return timm.create_model(MODEL, **kwargs), kwargs


def train_frame_head(args: argparse.Namespace) -> Path:
    """Train the head the flags describe on the split; returns the run folder."""
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2

    from .loop import seed_everything

    log = print
    frames = frame_set(args)
    progress = not args.no_progress
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    args.precision_used = precision.resolve(args.precision, device.type)
    train_dir = runs.resolve_train_dir(args.data_dir)
    class_names = list(split_data.read_class_names(train_dir))
    if args.num_classes is not None and args.num_classes != len(class_names):
        raise InputError(f"--num_classes {args.num_classes} but {train_dir / 'classes.txt'} lists "
                         f"{len(class_names)} classes ({', '.join(class_names)})")
    out_dir = runs.output_dir(args, train_dir, run_name(args))
    train_frame = read_rows(train_dir / "train.csv", class_names)
    val_frame = read_rows(train_dir / "validation.csv", class_names)
    if len(train_frame) == 0:
        raise InputError(f"{train_dir / 'train.csv'}: no training rows")
    if len(val_frame) == 0:
        raise InputError(f"{train_dir}: empty validation split (--validation none); {args.model} keeps its best "
                         f"validation epoch, which needs validation rows")
    ensure_frames(list(train_frame["wav"]) + list(val_frame["wav"]), frames, progress, device=device.type)
    train_rows = FrameRows(frames_for_wavs(train_frame["wav"], frames), train_frame["target"])
    val_rows = FrameRows(frames_for_wavs(val_frame["wav"], frames), val_frame["target"])
    layers, width = train_rows.clips[0].shape[1:]

    seed_everything(args.seed, 0, 0)   # the initial weights
    model, model_kwargs = build_model(args, len(class_names), int(layers), int(width))
    model.to(device)
    counts = np.bincount(train_rows.targets, minlength=len(class_names))
    weights = balanced_class_weights(counts) if args.class_weights == "balanced" else None
    criterion = EmotionLoss(len(class_names), weights, smoothing=args.smoothing).to(device)
    optimizer = create_optimizer_v2(model, opt=args.opt, lr=args.lr, weight_decay=args.weight_decay,
                                    momentum=args.momentum)
    batches = -(-len(train_rows) // args.batch_size)
    scheduler, num_epochs = create_scheduler_v2(
        optimizer, sched=args.sched, num_epochs=args.epochs, decay_epochs=args.decay_epochs,
        decay_rate=args.decay_rate, min_lr=args.min_lr, warmup_lr=args.warmup_lr, warmup_epochs=args.warmup_epochs,
        cooldown_epochs=args.cooldown_epochs, patience_epochs=args.patience_epochs,
        plateau_mode="min" if args.eval_metric == "loss" else "max", step_on_epochs=not args.sched_on_updates,
        updates_per_epoch=updates_per_epoch(batches, args.max_steps, 1))
    if scheduler is not None:
        scheduler.step(0)
    val_loader = loader(val_rows, args.validation_batch_size or args.batch_size, False)

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / BEST_NAME).unlink(missing_ok=True)   # a run started again is unfinished until it ends
    recorded = argparse.Namespace(**{**vars(args), "resume": None, "refit": False}, feature_set=frames.spec.as_dict(),
                                  frame_cache=frames.name, frame_pool=frames.pool)
    runs.write_args(out_dir, recorded, train_dir)
    log(f"training {args.model} on Whisper frames ({frames.name}: {layers} layers x {width}) of {len(train_rows)} "
        f"wavs ({len(val_rows)} validation), {len(class_names)} classes, {args.precision_used}; output {out_dir}")
    history, best, best_epoch, best_state, stale, num_updates = [], None, 0, None, 0, 0
    started = time.perf_counter()
    for epoch in range(num_epochs):
        seed_everything(args.seed, epoch + 1, 0)
        epoch_started = time.perf_counter()
        stats = train_one_epoch(model, loader(train_rows, args.batch_size, True, (args.seed, epoch + 1)), criterion,
                                optimizer, device=device, speaker_model=True, epoch=epoch, num_epochs=num_epochs,
                                scheduler=scheduler, num_updates=num_updates, precision=args.precision_used,
                                clip_grad=args.clip_grad, max_steps=args.max_steps, progress=progress)
        num_updates = stats["num_updates"]
        logits, targets = predict_loader(model, val_loader, device=device, speaker_model=True,
                                         precision=args.precision_used, progress=False)
        predicted = logits.argmax(axis=1)
        row = {"epoch": epoch + 1, "train_loss": stats["train_loss"], "val_loss": cross_entropy(logits, targets),
               "val_accuracy": accuracy(targets, predicted), "val_uar": uar(targets, predicted),
               "lr": float(optimizer.param_groups[0]["lr"]), "seconds": time.perf_counter() - epoch_started}
        history.append(row)
        value = selection_value(row, args.eval_metric)
        improved = is_better(value, best, args.eval_metric)   # the one rule of every trained system
        if improved:
            best, best_epoch, stale = float(value), epoch + 1, 0
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            stale += 1
        if scheduler is not None:
            scheduler.step(epoch + 1, value)
        write_csv_atomic(out_dir / runs.SUMMARY_NAME, pd.DataFrame(history))   # the loop's columns + seconds
        log(f"epoch {epoch + 1}/{num_epochs}  train_loss {row['train_loss']:.4f}  val_loss {row['val_loss']:.4f}  "
            f"val_uar {row['val_uar']:.3f}  {row['seconds']:.1f} s{'  *best*' if improved else ''}")
        if args.patience and stale >= args.patience:
            log(f"early stop: no validation {args.eval_metric} improvement for {args.patience} epochs")
            break
    model.load_state_dict(best_state)
    mix = model.layer_mix().detach().cpu().numpy()
    write_csv_atomic(out_dir / LAYER_WEIGHTS_NAME, pd.DataFrame({"layer": range(len(mix)), "weight": mix}))
    save_checkpoint(out_dir / BEST_NAME, {
        "model_name": args.model, "model_kwargs": model_kwargs, "class_names": class_names,
        "state_dict": model.state_dict(), "epoch": best_epoch, "best_metric": best, "eval_metric": args.eval_metric,
        "features": frames.spec.as_dict(), "frame_pool": frames.pool, "finished": True,
        "data_config": {"input": "whisper frames", "frame_cache": frames.name, "frame_pool": frames.pool,
                        "layers": int(layers), "hidden_size": int(width)},   # what every checkpoint says of its input
        "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(recorded).items()},
        "train_rows": len(train_rows), "validation_rows": len(val_rows),
        "seconds_per_epoch": float(np.mean([r["seconds"] for r in history]))})
    log(f"done in {(time.perf_counter() - started) / 60:.1f} min: best validation {args.eval_metric} {best:.4f} at "
        f"epoch {best_epoch}; layer weights {np.round(mix, 3).tolist()}; {out_dir / BEST_NAME}")
    return out_dir
