"""Training a model on cached Whisper frames, with specct's training engine: the loop that
``whisper_head`` (:mod:`specct.train.frame_head`) and ``whisper_finetune``
(:mod:`specct.train.whisper_finetune`) share; each brings a :class:`FrameTraining` (its frame cache, its
model, its learning rates, whether it resumes).

The rows are the split's train.csv and validation.csv, one per source wav (augmented images of a wav
share its audio). Their frames come from the frame cache (:mod:`specct.baselines.whisper_frames`),
extracted here first where missing, so an epoch reads memory only. The rest is the image networks'
loop in small: seeds per epoch (``seed_everything(seed, epoch)``, a sampler seeded the same way),
timm's optimizer and schedule from train.py's flags, :func:`specct.train.engine.train_one_epoch` and
``predict_loader`` (``--precision`` autocast, bfloat16 included), the best validation epoch of
``--eval_metric`` kept (:mod:`specct.train.selection`), early stopping with ``--patience``.
summary.csv has one row per epoch (with its seconds); the layer weights of the kept epoch are written
to ``layer_weights.csv``.

``model_best.pth.tar`` with ``finished: True`` is what "trained" means. A run that is not resumable
(seconds to minutes long) writes it once, at the end, and starts again when killed. A resumable one
writes ``last.pth.tar`` after every epoch (weights, optimizer, schedule, the loop's state and
history; model_best.pth.tar when the epoch is the best so far), so a kill and a rerun continue after
the last finished epoch, the same training an uninterrupted run gives, since every epoch is seeded
from (seed, epoch); last.pth.tar is removed once the run has ended (it triples the weights).
"""
from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from ..data import split_rows as split_data
from ..core import precision
from ..protocol import runs
from ..baselines.features import FeatureSpec, parse_features
from ..baselines.whisper_frames import FrameSet, extract_corpora, frames_for_wavs
from ..core.checkpoint import BEST_NAME, LAST_NAME, CheckpointError, load_checkpoint, save_checkpoint
from ..core.errors import InputError
from ..core.fileio import write_csv_atomic
from ..stats.metrics import accuracy, uar
from .engine import cross_entropy, predict_loader, train_one_epoch, updates_per_epoch
from .losses import EmotionLoss, balanced_class_weights
from .selection import higher_is_better, is_better, selection_value
from ..core.devices import torch_device

LAYER_WEIGHTS_NAME = "layer_weights.csv"


def feature_spec(args: argparse.Namespace) -> FeatureSpec:
    """The Whisper source, input and precision of the frames; every layer (the model weighs them)."""
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


def make_extractor(frames: FrameSet, device: str = "cpu"):
    from ..baselines.whisper import WhisperExtractor

    spec = frames.spec
    return WhisperExtractor(spec.source, spec.input or "real", device=device, precision=spec.precision or "float32")


def ensure_frames(wavs: Sequence[str | Path], frames: FrameSet, progress: bool = True, extractor=None,
                  device: str = "cpu", factory: Callable | None = None) -> None:
    """Extract (resumably) the frames of the corpora the wavs belong to, where missing (on ``device``;
    ``factory()`` gives the extractor when one is needed, by default a new one)."""
    corpora: dict[Path, set[str]] = {}
    for wav in wavs:
        corpus_folder = Path(wav).parent.parent
        corpora.setdefault(corpus_folder.parent, set()).add(corpus_folder.name)
    made = []

    def first_use():
        if not made:
            made.append(extractor or (factory() if factory else make_extractor(frames, device)))
        return made[0]

    for datasets_dir, names in corpora.items():
        extract_corpora(datasets_dir, sorted(names), frames, first_use, progress)


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


@dataclass
class FrameTraining:
    """What a model trained on cached frames brings to the loop.

    ``build(args, num_classes, layers, width, extractor)`` gives ``(model, model_kwargs)`` (``extractor()``
    makes or returns the frozen Whisper extractor, for models that start from its weights);
    ``param_groups(args)``, when given, is timm's ``param_group_fn`` (learning rates per part)."""
    frames: FrameSet
    build: Callable
    param_groups: Callable | None = None
    resumable: bool = False


@dataclass
class Progress:
    """Where the loop is: what last.pth.tar keeps of it besides the weights, optimizer and schedule."""
    start_epoch: int = 0
    num_updates: int = 0
    best: float | None = None
    best_epoch: int = 0
    stale: int = 0
    history: list | None = None
    best_state: dict | None = None


def resume(args, out_dir: Path, plan: FrameTraining, class_names: list, model, optimizer, scheduler,
           log) -> Progress | None:
    """The state of the last finished epoch (from last.pth.tar and model_best.pth.tar), or None to start
    again, with a line saying why when an earlier run left something behind."""
    last = out_dir / LAST_NAME
    if not last.is_file():
        if (out_dir / runs.SUMMARY_NAME).is_file() and not (out_dir / BEST_NAME).is_file():
            log(f"{out_dir}: an earlier run ended before its first checkpoint; starting again")
        return None
    try:
        state = load_checkpoint(last)
        same = (state["model_name"] == args.model and list(state["class_names"]) == list(class_names)
                and state.get("frame_cache") == plan.frames.name and int(state.get("epochs", -1)) == int(args.epochs))
        best_state = load_checkpoint(out_dir / BEST_NAME)["state_dict"] if same and state["best_epoch"] else None
    except CheckpointError as exc:
        log(f"{exc}; starting again")
        return None
    if not same:
        log(f"{last}: saved for another training (model, classes, frames or --epochs); starting again")
        return None
    model.load_state_dict(state["state_dict"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    log(f"resumed from {last} after epoch {state['epoch']}")
    return Progress(int(state["epoch"]), int(state["num_updates"]), state["best_metric"], int(state["best_epoch"]),
                    int(state["stale"]), list(state["history"]), best_state)


def plain_rows(history: list) -> list[dict]:
    """summary rows as Python numbers: a checkpoint is read back without pickle's arbitrary types."""
    return [{k: int(v) if k == "epoch" else float(v) for k, v in row.items()} for row in history]


def train_on_frames(args: argparse.Namespace, plan: FrameTraining, out_name: str, on_epoch_end=None) -> Path:
    """Train the model ``plan`` builds on the split's frames; returns the run folder (``out_name`` under
    ``--output`` unless ``--experiment``)."""
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2

    from .loop import seed_everything

    log = print
    frames = plan.frames
    progress = not args.no_progress
    device = torch_device(args.device)
    args.precision_used = precision.resolve(args.precision, device.type)
    train_dir = runs.resolve_train_dir(args.data_dir)
    class_names = list(split_data.read_class_names(train_dir))
    if args.num_classes is not None and args.num_classes != len(class_names):
        raise InputError(f"--num_classes {args.num_classes} but {train_dir / 'classes.txt'} lists "
                         f"{len(class_names)} classes ({', '.join(class_names)})")
    out_dir = runs.output_dir(args, train_dir, out_name)
    train_frame = read_rows(train_dir / "train.csv", class_names)
    val_frame = read_rows(train_dir / "validation.csv", class_names)
    if len(train_frame) == 0:
        raise InputError(f"{train_dir / 'train.csv'}: no training rows")
    if len(val_frame) == 0:
        raise InputError(f"{train_dir}: empty validation split (--validation none); {args.model} keeps its best "
                         f"validation epoch, which needs validation rows")
    made = []

    def extractor():   # one frozen encoder for the cache and, where the model starts from it, the model
        if not made:
            made.append(make_extractor(frames, device.type))
        return made[0]

    ensure_frames(list(train_frame["wav"]) + list(val_frame["wav"]), frames, progress, factory=extractor)
    train_rows = FrameRows(frames_for_wavs(train_frame["wav"], frames), train_frame["target"])
    val_rows = FrameRows(frames_for_wavs(val_frame["wav"], frames), val_frame["target"])
    layers, width = train_rows.clips[0].shape[1:]

    seed_everything(args.seed, 0, 0)   # the initial weights
    model, model_kwargs = plan.build(args, len(class_names), int(layers), int(width), extractor)
    model.to(device)
    made.clear()   # the extractor is not needed any more: its encoder's memory is given back
    counts = np.bincount(train_rows.targets, minlength=len(class_names))
    weights = balanced_class_weights(counts) if args.class_weights == "balanced" else None
    criterion = EmotionLoss(len(class_names), weights, smoothing=args.smoothing).to(device)
    optimizer = create_optimizer_v2(model, opt=args.opt, lr=args.lr, weight_decay=args.weight_decay,
                                    momentum=args.momentum,
                                    param_group_fn=plan.param_groups(args) if plan.param_groups else None)
    batches = -(-len(train_rows) // args.batch_size)
    scheduler, num_epochs = create_scheduler_v2(
        optimizer, sched=args.sched, num_epochs=args.epochs, decay_epochs=args.decay_epochs,
        decay_rate=args.decay_rate, min_lr=args.min_lr, warmup_lr=args.warmup_lr, warmup_epochs=args.warmup_epochs,
        cooldown_epochs=args.cooldown_epochs, patience_epochs=args.patience_epochs,
        plateau_mode="max" if higher_is_better(args.eval_metric) else "min", step_on_epochs=not args.sched_on_updates,
        updates_per_epoch=updates_per_epoch(batches, args.max_steps, 1))
    val_loader = loader(val_rows, args.validation_batch_size or args.batch_size, False)

    out_dir.mkdir(parents=True, exist_ok=True)
    at = (resume(args, out_dir, plan, class_names, model, optimizer, scheduler, log)
          if plan.resumable and getattr(args, "resume", None) else None)
    if at is None:
        at = Progress(history=[])
        if scheduler is not None:
            scheduler.step(0)
        (out_dir / BEST_NAME).unlink(missing_ok=True)   # a run started again is unfinished until it ends
        (out_dir / LAST_NAME).unlink(missing_ok=True)
    recorded = argparse.Namespace(**{**vars(args), "resume": None, "refit": False}, feature_set=frames.spec.as_dict(),
                                  frame_cache=frames.name, frame_pool=frames.pool)
    runs.write_args(out_dir, recorded, train_dir)
    log(f"training {args.model} on Whisper frames ({frames.name}: {layers} layers x {width}) of {len(train_rows)} "
        f"wavs ({len(val_rows)} validation), {len(class_names)} classes, {args.precision_used}; output {out_dir}")

    def saved(state_dict, finished: bool) -> dict:
        """model_best.pth.tar: a checkpoint that rebuilds the model alone."""
        return {"model_name": args.model, "model_kwargs": model_kwargs, "class_names": class_names,
                "state_dict": state_dict, "epoch": at.best_epoch, "best_metric": at.best,
                "eval_metric": args.eval_metric, "features": frames.spec.as_dict(), "frame_pool": frames.pool,
                "input_top": frames.input_top, "finished": finished,
                "data_config": {"input": "whisper frames", "frame_cache": frames.name, "frame_pool": frames.pool,
                                "layers": int(layers), "hidden_size": int(width)},   # what every checkpoint says
                "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(recorded).items()},
                "train_rows": len(train_rows), "validation_rows": len(val_rows),
                "seconds_per_epoch": float(np.mean([r["seconds"] for r in at.history])) if at.history else 0.0}

    started = time.perf_counter()
    done = bool(args.patience) and at.stale >= args.patience   # resumed after an early stop: nothing left
    for epoch in range(at.start_epoch, 0 if done else num_epochs):
        seed_everything(args.seed, epoch + 1, 0)
        epoch_started = time.perf_counter()
        stats = train_one_epoch(model, loader(train_rows, args.batch_size, True, (args.seed, epoch + 1)), criterion,
                                optimizer, device=device, speaker_model=True, epoch=epoch, num_epochs=num_epochs,
                                scheduler=scheduler, num_updates=at.num_updates, precision=args.precision_used,
                                clip_grad=args.clip_grad, max_steps=args.max_steps, progress=progress)
        at.num_updates = stats["num_updates"]
        logits, targets = predict_loader(model, val_loader, device=device, speaker_model=True,
                                         precision=args.precision_used, progress=False)
        predicted = logits.argmax(axis=1)
        row = {"epoch": epoch + 1, "train_loss": stats["train_loss"], "val_loss": cross_entropy(logits, targets),
               "val_accuracy": accuracy(targets, predicted), "val_uar": uar(targets, predicted),
               "lr": float(optimizer.param_groups[0]["lr"]), "seconds": time.perf_counter() - epoch_started}
        at.history.append(row)
        value = selection_value(row, args.eval_metric)
        improved = is_better(value, at.best, args.eval_metric)   # the one rule of every trained system
        if improved:
            at.best, at.best_epoch, at.stale = float(value), epoch + 1, 0
            at.best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        else:
            at.stale += 1
        if scheduler is not None:
            scheduler.step(epoch + 1, float(value))   # a plain number: last.pth.tar keeps the schedule
        write_csv_atomic(out_dir / runs.SUMMARY_NAME, pd.DataFrame(at.history))   # the loop's columns + seconds
        if plan.resumable:   # model_best first, last.pth.tar last: once it holds an epoch, the epoch is saved
            if improved:
                save_checkpoint(out_dir / BEST_NAME, saved(at.best_state, False))
            save_checkpoint(out_dir / LAST_NAME, {
                **saved(model.state_dict(), False), "epoch": epoch + 1, "epochs": int(args.epochs),
                "frame_cache": frames.name, "num_updates": at.num_updates, "best_epoch": at.best_epoch,
                "stale": at.stale, "history": plain_rows(at.history), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None})
        log(f"epoch {epoch + 1}/{num_epochs}  train_loss {row['train_loss']:.4f}  val_loss {row['val_loss']:.4f}  "
            f"val_uar {row['val_uar']:.3f}  {row['seconds']:.1f} s{'  *best*' if improved else ''}")
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
        if args.patience and at.stale >= args.patience:
            log(f"early stop: no validation {args.eval_metric} improvement for {args.patience} epochs")
            break
    model.load_state_dict(at.best_state)
    mix = model.layer_mix().detach().cpu().numpy()
    write_csv_atomic(out_dir / LAYER_WEIGHTS_NAME, pd.DataFrame({"layer": range(len(mix)), "weight": mix}))
    save_checkpoint(out_dir / BEST_NAME, saved(model.state_dict(), True))
    (out_dir / LAST_NAME).unlink(missing_ok=True)   # finished: model_best says so, the optimizer state goes
    log(f"done in {(time.perf_counter() - started) / 60:.1f} min: best validation {args.eval_metric} {at.best:.4f} "
        f"at epoch {at.best_epoch}; layer weights {[round(float(w), 3) for w in mix]}; {out_dir / BEST_NAME}")
    return out_dir
