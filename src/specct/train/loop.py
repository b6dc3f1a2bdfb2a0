"""The training run, top to bottom: data, model, optimizer, then the epoch loop with validation,
checkpoints and early stopping.

Reproducibility: every epoch reseeds torch, numpy and Python from ``(seed, epoch, rank)`` and
shuffles with a sampler seeded the same way, so a run resumed from ``last.pth.tar`` replays the
remaining epochs exactly as an uninterrupted run would.

``--refit`` (:mod:`specct.train.refit`) runs this loop twice: on the training rows with validation
into ``before_refit/``, then, with a :class:`~specct.train.refit.RefitPlan`, on the training +
validation rows for the chosen epoch count into the run folder.
"""
from __future__ import annotations

import argparse
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader, DistributedSampler

from ..data import split_rows as split_data
from ..core import paths, precision
from ..protocol import runs
from . import test_time
from ..core.checkpoint import BEST_NAME, LAST_NAME, CheckpointError, load_checkpoint, save_checkpoint
from ..core.errors import InputError
from ..stats.metrics import accuracy, uar
from ..figures.plots import plot_curves
from . import distributed
from .engine import cross_entropy, predict_loader, train_one_epoch, updates_per_epoch
from .fusion_vector import FusionVector, from_flags
from .losses import EmotionLoss, balanced_class_weights
from .mixup import SpeakerMixup
from .options import check_domain_adversarial
from .selection import higher_is_better, is_better, selection_value
from .specaugment import from_args as specaugment_from_args
from .timecrop import from_args as time_crop_from_args

def raise_input_error(message: str) -> None:
    raise InputError(message)


def run_name(args: argparse.Namespace) -> str:
    """A network's run folder: ``<model>-pretrained`` or ``<model>-scratch``, and the fused vector after
    it when it is not the speaker vector (``...-scratch-whisper_<model>_real_layer3``)."""
    vector = from_flags(args)
    fused = "" if vector.is_default else f"-{vector.slug}"
    return f"{args.model}-{'pretrained' if args.pretrained else 'scratch'}{fused}"


def seed_everything(*key: int) -> None:
    """Seed torch, numpy and Python from a tuple such as ``(seed, epoch, rank)``."""
    seed = int(np.random.SeedSequence([int(k) for k in key]).generate_state(1)[0])
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"torch": torch.get_rng_state(), "python": random.getstate(),
            "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss]}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(tuple(tuple(x) if isinstance(x, list) else x for x in state["python"]))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))


def build_model(args, num_classes: int, pca, speaker_width: int):
    """Create the model through the factory; returns ``(model, model_kwargs)``, the kwargs that rebuild it."""
    from ..models import factory
    from .options import parse_model_kwargs

    img_size = tuple(int(v) for v in args.input_size[1:]) if args.input_size else None
    model, kwargs, ignored = factory.create_for_training(
        args.model, num_classes, img_size=img_size, drop_rate=args.drop, drop_path_rate=args.drop_path,
        model_kwargs=parse_model_kwargs(args.model_kwargs), speaker_pca=pca, speaker_width=speaker_width,
        pretrained=args.pretrained, pretrained_path=args.pretrained_path)
    if ignored:
        print(f"{args.model} does not take {', '.join(ignored)}; left at the model's own")
    return model, kwargs


def data_config(args, model) -> dict:
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    input_size = list(args.input_size or cfg.get("input_size", (3, 224, 224)))
    return {"input_size": [int(v) for v in input_size],
            "mean": [float(v) for v in (args.mean or cfg.get("mean", (0.485, 0.456, 0.406)))],
            "std": [float(v) for v in (args.std or cfg.get("std", (0.229, 0.224, 0.225)))],
            "interpolation": args.interpolation}


def make_loader(dataset, batch_size: int, shuffle: bool, args, info: distributed.DistInfo) -> DataLoader:
    # One sampler for single and multi-process runs: seeded, re-shuffled by set_epoch.
    sampler = DistributedSampler(dataset, num_replicas=info.world_size, rank=info.rank, shuffle=shuffle,
                                 seed=args.seed, drop_last=False)
    if shuffle and getattr(args, "balance_corpora", "none") != "none":
        from .balance import CorpusBalancedSampler

        if info.distributed:
            raise InputError("--balance_corpora runs in one process (not under torchrun)")
        targets = dataset.targets if args.balance_corpora == "corpora_classes" else None
        sampler = CorpusBalancedSampler(list(dataset.frame["corpus"]), targets, seed=args.seed)
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=args.workers,
                      persistent_workers=args.workers > 0, pin_memory=info.device.type == "cuda")


def domain_adversarial(args, info, model, speaker_model: bool, dcfg: dict, train_frame, train_vectors,
                       num_epochs: int, batches: int, train_dir: Path, class_names):
    """The DANN pieces of a run: the training rows' corpora are the domains, and in the transductive
    variant the unlabelled rows of the split's held-out corpus one more."""
    from .domain import DomainAdversarial, num_pooled_features, unlabelled_frame

    check_domain_adversarial(args, raise_input_error)   # a namespace changed after its options were checked
    if info.distributed:
        raise InputError("--domain_adversarial runs in one process (its corpus head is not synchronised)")
    features = num_pooled_features(model, speaker_model, dcfg["input_size"],
                                   train_vectors.shape[1] if train_vectors is not None else None)
    total = num_epochs * updates_per_epoch(batches, args.max_steps, args.grad_accum_steps)
    unlabelled, corpus, source = None, None, ""
    if args.domain_adversarial_variant == "transductive":
        test_csv = paths.eval_data_dir(train_dir.parent) / "test.csv"
        if speaker_model and args.speaker_norm != "none":
            raise InputError("--domain_adversarial_variant transductive with --speaker_norm: choose one")
        frame = unlabelled_frame(split_data.read_split(test_csv, class_names))
        if len(frame) == 0:
            raise InputError(f"{test_csv}: no held-out rows for the transductive domain")
        vectors = from_flags(args).rows(frame) if speaker_model else None
        rows = test_time.standardise_by_corpus(
            split_data.SplitDataset(frame, dcfg["input_size"], dcfg["mean"], dcfg["std"], vectors,
                                    source=str(test_csv), interpolation=dcfg["interpolation"]), frame, args.input_norm)
        unlabelled = make_loader(rows, args.batch_size, True, argparse.Namespace(**{**vars(args),
                                                                                  "balance_corpora": "none"}), info)
        corpus, source = "+".join(sorted(frame["corpus"].unique())), str(test_csv)
    return DomainAdversarial(args.domain_adversarial, list(train_frame["corpus"]), features, total,
                             unlabelled, corpus, source)


def decoded_images(args, frame, dcfg: dict, train_dir: Path, rows: str, log):
    """The rows' images decoded once (``--image_cache``), or None to read the PNGs in every epoch."""
    if args.image_cache == "off":
        return None
    from ..data.image_cache import DecodedImages

    split_data.check_images_exist(frame, train_dir)
    decoded = DecodedImages(list(frame["image"]), dcfg["input_size"], dcfg["interpolation"], args.image_cache,
                            train_dir, args.image_cache_mb, progress=not args.no_progress,
                            desc=f"decode {rows} images")
    log(f"{rows} images decoded once, held in {decoded.where}")
    return decoded


def tensorboard_writer(args, out_dir: Path, info):
    if not (args.log_tensorboard and info.is_main):
        return None
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("--log_tensorboard: tensorboard is not installed; logging to summary.csv only")
        return None
    return SummaryWriter(log_dir=str(out_dir / "tensorboard"))


def inference_state(state: dict) -> dict:
    """model_best.pth.tar: what evaluation and prediction need (the EMA weights when kept), not the
    optimizer, so it is a third of the size of last.pth.tar."""
    weights = state["state_dict_ema"] if state.get("state_dict_ema") is not None else state["state_dict"]
    drop = ("optimizer", "scheduler", "scaler", "rng", "state_dict_ema")
    return {**{k: v for k, v in state.items() if k not in drop}, "state_dict": weights}


def standardise_speaker_vectors(norm: str, train_frame, train_vectors, val_frame, val_vectors, pca):
    """--speaker_norm corpus|speaker: each split's vectors standardised within their own groups, and the
    PCA refitted on the standardised training vectors (each wav once)."""
    from ..data.speaker import fit_pca, standardise_by_group

    train_vectors = standardise_by_group(train_vectors, train_frame[norm], train_frame["wav"])
    if val_vectors is not None:
        val_vectors = standardise_by_group(val_vectors, val_frame[norm], val_frame["wav"])
    if pca is not None:
        _, first = np.unique(train_frame["wav"].to_numpy(), return_index=True)
        pca = fit_pca(train_vectors[first], pca.n_components, pca.corpora)
    return train_vectors, val_vectors, pca


def transductive_note(args) -> dict:
    """What args.yaml and performance.yaml say about options that read unlabelled test audio."""
    found = test_time.notes(vars(args))
    norm = getattr(args, "speaker_norm", "none")
    if norm == "none":
        return found
    return {**found, "transductive": f"speaker vectors standardised per {norm}; test rows are standardised with "
                                     f"the statistics of their own (unlabelled) {norm}'s vectors"}


@dataclass
class Trained:
    """What one pass of the loop leaves: its folder, the epoch kept as model_best, whether it validated."""
    out_dir: Path
    best_epoch: int
    validated: bool


@dataclass
class SplitRows:
    """The split a run reads: its classes, training and validation rows, and their speaker vectors."""
    train_dir: Path
    class_names: list
    train_frame: pd.DataFrame
    val_frame: pd.DataFrame
    speaker_model: bool
    train_vectors: np.ndarray | None
    val_vectors: np.ndarray | None
    pca: object
    vector: FusionVector = FusionVector()   # which per-utterance vector a speaker model fuses (--vector)

    @property
    def validate(self) -> bool:
        # No validation rows (a split made with --validation none, or one where no corpus could give any):
        # train the fixed number of epochs, no early stopping, and keep the last epoch as model_best.
        return len(self.val_frame) > 0


@dataclass
class EpochData:
    """The loaders and the online augmentations of the training rows."""
    train_set: object
    train_loader: DataLoader
    val_set: object
    val_loader: DataLoader | None
    specaugment: object
    time_crop: object
    mixup: SpeakerMixup | None


@dataclass
class Optimization:
    """What the updates use: the loss, optimizer, schedule, EMA, loss scaler and domain adversary, and
    the model the training steps call (wrapped for DDP or torch.compile)."""
    criterion: EmotionLoss
    optimizer: torch.optim.Optimizer
    scheduler: object
    num_epochs: int
    ema: object
    scaler: torch.amp.GradScaler
    domain: object
    train_model: torch.nn.Module


@dataclass
class LoopState:
    """What a resume restores besides the weights: where the loop is and the best epoch so far."""
    start_epoch: int = 0
    num_updates: int = 0
    best: float | None = None
    best_epoch: int = -1
    stale_epochs: int = 0
    history: list = field(default_factory=list)


def train(args: argparse.Namespace, on_epoch_end: Callable[[int], None] | None = None) -> Path:
    """One training as the flags say; returns the output folder (``--refit``, two of them, is
    :func:`specct.train.refit.train`, the networks' entry point)."""
    info = distributed.setup(args.device)
    try:
        return _train(args, info, on_epoch_end).out_dir
    finally:
        distributed.cleanup()


def split_classes(args) -> tuple[Path, list]:
    """The split folder and its classes, checked against ``--num_classes``."""
    train_dir = runs.resolve_train_dir(args.data_dir)
    class_names = split_data.read_class_names(train_dir)
    if args.num_classes is not None and args.num_classes != len(class_names):
        raise InputError(f"--num_classes {args.num_classes} but {train_dir / 'classes.txt'} lists "
                         f"{len(class_names)} classes ({', '.join(class_names)})")
    return train_dir, class_names


def read_rows(args, train_dir: Path, class_names: list, refit) -> SplitRows:
    """The training and validation rows (one set with ``refit``), their fused vectors and the PCA."""
    from ..models.factory import model_traits

    speaker_model = model_traits(args.model).takes_speaker  # stated by the model
    vector = from_flags(args)
    if not vector.is_default and not speaker_model:
        raise InputError(f"--vector {vector.text}: {args.model} fuses no per-utterance vector (a speaker_* model does)")
    train_frame = split_data.read_split(train_dir / "train.csv", class_names)
    train_wavs = train_frame["wav"].nunique()   # the split's own training wavs, also under a refit
    val_frame = split_data.read_split(train_dir / "validation.csv", class_names)
    if len(train_frame) == 0:
        raise InputError(f"{train_dir / 'train.csv'}: no training rows")
    if refit is not None:   # the validation rows join the training rows; nothing is validated
        train_frame = pd.concat([train_frame, val_frame], ignore_index=True)
        val_frame = val_frame.iloc[:0]
    validate = len(val_frame) > 0
    if not validate and args.sched == "plateau":
        raise InputError(f"{train_dir / 'validation.csv'}: no validation rows, but --sched plateau steps on "
                         "the validation metric; choose another schedule")
    train_vectors = vector.rows(train_frame) if speaker_model else None
    val_vectors = vector.rows(val_frame) if speaker_model and validate else None
    pca = None
    if speaker_model and not args.no_speaker_pca:
        from ..data.speaker import load_pca

        pca = load_pca(train_dir / "pca.npz")  # fitted on the training corpora only
        if not vector.is_default:   # another vector: its own PCA, on these rows, of the split's width
            pca = vector.fit_pca(train_frame, train_vectors, pca.n_components, train_wavs)
        elif refit is not None and args.speaker_norm == "none":
            pca = refit.speaker_pca(pca, train_frame, train_vectors, train_dir)   # on every labelled row
    if speaker_model and args.speaker_norm != "none":
        train_vectors, val_vectors, pca = standardise_speaker_vectors(args.speaker_norm, train_frame, train_vectors,
                                                                      val_frame, val_vectors, pca)
    return SplitRows(train_dir, class_names, train_frame, val_frame, speaker_model, train_vectors, val_vectors, pca,
                     vector)


def build_network(args, rows: SplitRows, device) -> tuple[torch.nn.Module, dict, dict]:
    """The model on its device, the kwargs that rebuild it and its data config."""
    seed_everything(args.seed, 0, 0)  # the same initial weights on every rank
    model, model_kwargs = build_model(args, len(rows.class_names), rows.pca,
                                      rows.train_vectors.shape[1] if rows.train_vectors is not None else None)
    model.to(device)
    if args.test_time_bn and not test_time.batch_norm_layers(model):
        raise InputError(f"--test_time_bn: {args.model} has no batch normalisation to re-estimate")
    return model, model_kwargs, data_config(args, model)


def split_dataset(args, rows: SplitRows, dcfg: dict, which: str, log):
    """The training or validation rows as a dataset of images (and speaker vectors)."""
    frame, vectors, name, label = ((rows.train_frame, rows.train_vectors, "train.csv", "training") if which == "train"
                                   else (rows.val_frame, rows.val_vectors, "validation.csv", "validation"))
    dataset = split_data.SplitDataset(frame, dcfg["input_size"], dcfg["mean"], dcfg["std"], vectors,
                                      source=str(rows.train_dir / name), interpolation=dcfg["interpolation"],
                                      decoded=decoded_images(args, frame, dcfg, rows.train_dir, label, log))
    return test_time.standardise_by_corpus(dataset, frame, args.input_norm)


def build_data(args, rows: SplitRows, dcfg: dict, info: distributed.DistInfo, log) -> EpochData:
    """The online augmentations (checked before the images are decoded), then the datasets and loaders."""
    specaugment = specaugment_from_args(args)   # None unless masks are asked for
    if specaugment is not None:
        log(f"online SpecAugment on training images: {specaugment}")
    time_crop = time_crop_from_args(args)        # None unless a crop probability is asked for
    if time_crop is not None:
        log(f"online word-length crops of training images: {time_crop}")
    mixup = (SpeakerMixup(args.mixup, len(rows.class_names), args.mixup_prob, args.smoothing)
             if args.mixup > 0 else None)
    train_set = split_dataset(args, rows, dcfg, "train", log)
    train_loader = make_loader(train_set, args.batch_size, True, args, info)
    val_set, val_loader = [], None
    if rows.validate:
        val_set = split_dataset(args, rows, dcfg, "validation", log)
        val_loader = make_loader(val_set, args.validation_batch_size or args.batch_size, False, args, info)
    return EpochData(train_set, train_loader, val_set, val_loader, specaugment, time_crop, mixup)


def build_optimization(args, info: distributed.DistInfo, model, rows: SplitRows, dcfg: dict, data: EpochData,
                       log) -> Optimization:
    """Loss, optimizer (timm's factory), schedule (timm's), EMA, loss scaler and domain adversary."""
    from timm.optim import create_optimizer_v2
    from timm.scheduler import create_scheduler_v2
    from timm.utils import ModelEmaV3

    device = info.device
    counts = split_data.class_counts(data.train_set.targets, len(rows.class_names))
    weights = balanced_class_weights(counts) if args.class_weights == "balanced" else None
    criterion = EmotionLoss(len(rows.class_names), weights, smoothing=args.smoothing,
                            focal_gamma=args.focal_gamma if args.loss == "focal" else 0.0).to(device)
    opt_kwargs = {}
    if args.opt_eps is not None:
        opt_kwargs["eps"] = args.opt_eps
    if args.opt_betas is not None:
        opt_kwargs["betas"] = tuple(args.opt_betas)
    optimizer = create_optimizer_v2(model, opt=args.opt, lr=args.lr, weight_decay=args.weight_decay,
                                    momentum=args.momentum, **opt_kwargs)
    domain = None
    if args.domain_adversarial > 0:
        domain = domain_adversarial(args, info, model, rows.speaker_model, dcfg, rows.train_frame,
                                    rows.train_vectors, args.epochs, len(data.train_loader), rows.train_dir,
                                    rows.class_names)
        domain.adversary.to(device)
        optimizer.add_param_group({"params": list(domain.adversary.parameters()), "lr": args.lr,
                                   "weight_decay": args.weight_decay})
        log(f"domain-adversarial training ({domain.variant}) over {', '.join(domain.adversary.corpora)}, "
            f"weight up to {args.domain_adversarial}")
    scheduler, num_epochs = create_scheduler_v2(
        optimizer, sched=args.sched, num_epochs=args.epochs, decay_epochs=args.decay_epochs,
        decay_rate=args.decay_rate, min_lr=args.min_lr, warmup_lr=args.warmup_lr,
        warmup_epochs=args.warmup_epochs, cooldown_epochs=args.cooldown_epochs,
        patience_epochs=args.patience_epochs, plateau_mode="max" if higher_is_better(args.eval_metric) else "min",
        step_on_epochs=not args.sched_on_updates,
        updates_per_epoch=updates_per_epoch(len(data.train_loader), args.max_steps, args.grad_accum_steps))
    ema = ModelEmaV3(model, decay=args.model_ema_decay) if args.model_ema else None
    # float16 needs loss scaling; bfloat16 and float32 do not (the disabled scaler is a pass-through)
    scaler = torch.amp.GradScaler(device.type, enabled=args.precision_used == "float16")
    train_model = model
    if info.distributed:
        device_ids = [device.index] if device.type == "cuda" else None
        train_model = torch.nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    if args.torchcompile:
        # Training steps only; validation and the checkpoints use the model itself.
        train_model = torch.compile(train_model, backend=args.torchcompile)
    return Optimization(criterion, optimizer, scheduler, num_epochs, ema, scaler, domain, train_model)


def restore(args, out_dir: Path, class_names: list, model, opt: Optimization, log) -> LoopState:
    """With ``--resume``: the weights, optimizer, schedule, EMA, scaler, random state and loop state of a
    checkpoint (the summary rows up to its epoch kept); without: the schedule at its first step."""
    if not args.resume:
        if opt.scheduler is not None:
            opt.scheduler.step(0)
        return LoopState()
    resume_path = out_dir / LAST_NAME if args.resume == "auto" else Path(args.resume)
    state = load_checkpoint(resume_path)
    if state["model_name"] != args.model or list(state["class_names"]) != list(class_names):
        raise CheckpointError(f"{resume_path}: saved for {state['model_name']} with classes "
                              f"{', '.join(state['class_names'])}, not this run")
    model.load_state_dict(state["state_dict"])
    opt.optimizer.load_state_dict(state["optimizer"])
    opt.scheduler.load_state_dict(state["scheduler"])
    if opt.ema is not None and state.get("state_dict_ema") is not None:
        opt.ema.module.load_state_dict(state["state_dict_ema"])
    if opt.domain is not None and state.get("domain_adversary") is not None:
        opt.domain.adversary.load_state_dict(state["domain_adversary"])
    if opt.scaler.is_enabled() and state.get("scaler"):
        opt.scaler.load_state_dict(state["scaler"])
    set_rng_state(state["rng"])
    start_epoch = int(state["epoch"])
    log(f"resumed from {resume_path} after epoch {start_epoch}")
    return LoopState(start_epoch, int(state["num_updates"]), state["best_metric"], int(state["best_epoch"]),
                     int(state["stale_epochs"]),
                     [row for row in runs.read_summary(out_dir).to_dict("records") if row["epoch"] <= start_epoch])


def checkpoint_state(base_state: dict, model, opt: Optimization, loop: LoopState, epoch: int, stop_epoch: int,
                     row: dict, targets) -> dict:
    """last.pth.tar's content after ``epoch``: everything a resume needs (model_best keeps less)."""
    return {**base_state, "epoch": epoch, "num_epochs": stop_epoch, "num_updates": loop.num_updates,
            "state_dict": model.state_dict(),
            "state_dict_ema": opt.ema.module.state_dict() if opt.ema is not None else None,
            "optimizer": opt.optimizer.state_dict(), "scheduler": opt.scheduler.state_dict(),
            "scaler": opt.scaler.state_dict() if opt.scaler.is_enabled() else None, "rng": rng_state(),
            "best_metric": loop.best, "best_epoch": loop.best_epoch, "stale_epochs": loop.stale_epochs,
            "domain_adversary": opt.domain.adversary.state_dict() if opt.domain is not None else None,
            "metrics": row, "val_samples": int(len(targets))}


def validate(args, model, opt: Optimization, data: EpochData, rows: SplitRows, info, epoch: int,
             progress: bool) -> tuple[dict, np.ndarray]:
    """The validation loss, accuracy and UAR of the kept weights (the EMA's when there is one)."""
    eval_model = opt.ema.module if opt.ema is not None else model
    if args.test_time_bn:   # TRANSDUCTIVE option: validated as it is tested, on the rows' own statistics
        eval_model = test_time.reestimate_batch_norm(
            eval_model, data.val_loader, test_time.batch_forward(info.device, rows.speaker_model, args.precision_used))
    logits, targets = predict_loader(eval_model, data.val_loader, device=info.device,
                                     speaker_model=rows.speaker_model, precision=args.precision_used, info=info,
                                     progress=progress, desc=f"validate {epoch + 1}/{opt.num_epochs}")
    predictions = logits.argmax(axis=1)
    return (dict(val_loss=cross_entropy(logits, targets), val_accuracy=accuracy(targets, predictions),
                 val_uar=uar(targets, predictions)), targets)


def keep_best(args, loop: LoopState, row: dict, epoch: int) -> tuple[float, bool]:
    """Whether this epoch is the best on validation so far (and the loop state updated); its value."""
    value = selection_value(row, args.eval_metric)
    improved = is_better(value, loop.best, args.eval_metric)
    if improved:
        loop.best, loop.best_epoch, loop.stale_epochs = float(value), epoch + 1, 0
    else:
        loop.stale_epochs += 1
    return value, improved


def save_epoch(out_dir: Path, state: dict, loop: LoopState, improved: bool, writer, row: dict) -> None:
    """summary.csv, the curves, TensorBoard, model_best (when improved) and last.pth.tar, in that order.

    last.pth.tar is written last: once it holds an epoch, every file of that epoch is in place, so
    "finished" (its final epoch, NetworkSystem.is_trained) is one atomic write. A kill before it resumes
    from the epoch before, which is replayed exactly and writes the others again."""
    summary = runs.write_summary(out_dir, loop.history)
    plot_curves(summary, out_dir / runs.CURVES_NAME)
    if writer is not None:
        for key, val in row.items():
            if key != "epoch":
                writer.add_scalar(key, val, row["epoch"])
    if improved:
        save_checkpoint(out_dir / BEST_NAME, inference_state(state))
    save_checkpoint(out_dir / LAST_NAME, state)


def _train(args, info: distributed.DistInfo, on_epoch_end, refit=None) -> Trained:
    """One pass of the loop; with ``refit`` (a RefitPlan) on training + validation rows, without
    validation, for ``refit.epochs`` epochs of the same schedule."""
    log = print if info.is_main else (lambda *a, **k: None)
    progress = not args.no_progress
    args.precision = getattr(args, "precision", None) or precision.from_legacy_flags(None, args.amp, args.amp_dtype)
    args.precision_used = precision.resolve(args.precision, info.device.type)
    log(precision.describe(args.precision, args.precision_used, info.device.type))

    train_dir, class_names = split_classes(args)
    out_dir = runs.output_dir(args, train_dir, run_name(args))
    rows = read_rows(args, train_dir, class_names, refit)
    model, model_kwargs, dcfg = build_network(args, rows, info.device)
    data = build_data(args, rows, dcfg, info, log)
    opt = build_optimization(args, info, model, rows, dcfg, data, log)
    loop = restore(args, out_dir, class_names, model, opt, log)
    # The refit stops after the chosen epoch count (of the same schedule); its checkpoints say so, so
    # that last.pth.tar reads as finished only once the refit is.
    stop_epoch = min(opt.num_epochs, refit.epochs) if refit is not None else opt.num_epochs

    # what the run is, whether or not it was resumed on the way: a resumed run's args.yaml and
    # checkpoints are byte for byte an uninterrupted one's
    recorded = argparse.Namespace(**{**vars(args), "resume": None})
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
        runs.write_args(out_dir, recorded, train_dir, {**transductive_note(args),
                                                   **(opt.domain.record() if opt.domain is not None else {}),
                                                   **(refit.record() if refit is not None else {})})
    writer = tensorboard_writer(args, out_dir, info)
    base_state = {"model_name": args.model, "model_kwargs": model_kwargs, "class_names": list(class_names),
                  "data_config": dcfg, "spectrogram": split_data.spectrogram_settings(rows.train_frame),
                  "takes_speaker": rows.speaker_model, "vector": rows.vector.record(), "eval_metric": args.eval_metric,
                  "args": {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(recorded).items()},
                  **({"refit": refit.details()} if refit is not None else {})}

    if refit is not None and loop.start_epoch == 0 and info.is_main:
        # epoch 0 of the refit: a kill from here on resumes the refit (ensure_trained sees last.pth.tar)
        save_checkpoint(out_dir / LAST_NAME, checkpoint_state(base_state, model, opt, loop, 0, stop_epoch, {}, []))
    log(f"training {args.model} on {len(data.train_set)} images ({len(data.val_set)} validation), "
        f"{len(class_names)} classes, {info.world_size} process(es) on {info.device}; output {out_dir}")
    if refit is not None:
        log(f"refit: {stop_epoch} epochs (chosen on validation in {refit.chosen_in}) on the training + validation "
            f"rows; the last epoch is saved as {BEST_NAME}")
    elif not rows.validate:
        log(f"no validation rows in {train_dir / 'validation.csv'}: training all {opt.num_epochs} epochs without "
            f"early stopping; the last epoch is saved as {BEST_NAME}")

    started = time.perf_counter()
    for epoch in range(loop.start_epoch, stop_epoch):
        if args.patience and loop.stale_epochs >= args.patience:
            break  # resumed after an early stop: nothing left to do
        data.train_loader.sampler.set_epoch(epoch)
        seed_everything(args.seed, epoch + 1, info.rank)
        rng = np.random.default_rng([args.seed, epoch + 1, info.rank])
        stats = train_one_epoch(
            opt.train_model, data.train_loader, opt.criterion, opt.optimizer, device=info.device,
            speaker_model=rows.speaker_model, epoch=epoch, num_epochs=opt.num_epochs, scheduler=opt.scheduler,
            num_updates=loop.num_updates, precision=args.precision_used, scaler=opt.scaler, ema=opt.ema,
            mixup=data.mixup, rng=rng, specaugment=data.specaugment, time_crop=data.time_crop, domain=opt.domain,
            clip_grad=args.clip_grad, max_steps=args.max_steps, accum_steps=args.grad_accum_steps, info=info,
            progress=progress)
        loop.num_updates = stats["num_updates"]
        row = {"epoch": epoch + 1, "train_loss": stats["train_loss"], "val_loss": float("nan"),
               "val_accuracy": float("nan"), "val_uar": float("nan"),
               "lr": float(opt.optimizer.param_groups[0]["lr"])}
        if rows.validate:
            scores, targets = validate(args, model, opt, data, rows, info, epoch, progress)
            row.update(scores)
            value, improved = keep_best(args, loop, row, epoch)
        else:
            value, improved, targets = None, True, []   # the last epoch is the one kept
            loop.best_epoch = epoch + 1
        loop.history.append(row)
        if opt.scheduler is not None:
            opt.scheduler.step(epoch + 1, value)

        if info.is_main:
            state = checkpoint_state(base_state, model, opt, loop, epoch + 1, stop_epoch, row, targets)
            save_epoch(out_dir, state, loop, improved, writer, row)
            scores = (f"val_loss {row['val_loss']:.4f}  val_acc {row['val_accuracy']:.3f}  val_uar {row['val_uar']:.3f}"
                      if rows.validate else "no validation")
            log(f"epoch {epoch + 1}/{stop_epoch}  train_loss {row['train_loss']:.4f}  {scores}  lr {row['lr']:.2e}  "
                f"{stats['samples_per_s']:.1f} samples/s{'  *best*' if improved and rows.validate else ''}")
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1)
        if rows.validate and args.patience and loop.stale_epochs >= args.patience:
            log(f"early stop: no validation {args.eval_metric} improvement for {args.patience} epochs")
            break

    if writer is not None:
        writer.close()
    minutes = (time.perf_counter() - started) / 60
    if refit is not None:
        log(f"done in {minutes:.1f} min: refit for {loop.best_epoch} epochs on {len(data.train_set)} train + "
            f"validation images; {out_dir / BEST_NAME}")
    elif rows.validate:
        best_text = f"{loop.best:.4f}" if loop.best is not None else "n/a"
        log(f"done in {minutes:.1f} min: best validation {args.eval_metric} {best_text} at epoch {loop.best_epoch}; "
            f"{out_dir / BEST_NAME}")
    else:
        log(f"done in {minutes:.1f} min: no validation; last epoch {loop.best_epoch} kept as {out_dir / BEST_NAME}")
    return Trained(out_dir, loop.best_epoch, rows.validate)
