"""Command-line options of train.py, with timm's convention for configs.

``-c FILE.yml`` holds defaults whose keys are the flag names (``weight_decay`` or ``weight-decay``);
flags given on the command line override them.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

import yaml

from ..core.cli import ArgumentParser, add_progress_argument
from ..core.errors import InputError, SpecctError
from ..core.fileio import read_yaml
from ..data.image_cache import CACHE_MODES, DEFAULT_BUDGET_MB
from ..core.precision import DEFAULT_PRECISION, PRECISIONS, from_legacy_flags
from ..core.values import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, Range, is_number


# --balance_corpora (specct.train.balance; named here so that --help needs no torch)
BALANCE_CHOICES = ("none", "corpora", "corpora_classes")


class ConfigError(SpecctError, ValueError):
    """A config file that cannot be used; the message names the file and the key."""


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="train.py", description="Train a spectrogram emotion classifier on a leave-one-corpus-out split.")
    p.add_argument("data_dir", nargs="?", default=None,
                   help="train_data folder of a split (data/<EVAL>/<n>_classes/<aug>/<balance>/train_data), "
                        "or the split folder holding it")

    g = p.add_argument_group("model")
    g.add_argument("--model", default="speaker_vgg_cct_14_7x2_224", help="timm model name")
    g.add_argument("--pretrained", action="store_true", default=None,
                   help="start from ImageNet weights (default: only when --pretrained_path is given)")
    g.add_argument("--no_pretrained", dest="pretrained", action="store_false",
                   help="train from scratch, even when a config asks for weights")
    g.add_argument("--pretrained_path", default=None,
                   help="local file with the pretrained weights (works offline)")
    g.add_argument("--num_classes", type=int, default=None, help="checked against train_data/classes.txt")
    g.add_argument("--input_size", type=int, nargs=3, default=None, metavar=("C", "H", "W"),
                   help="model input size; default: the model's own")
    g.add_argument("--mean", type=float, nargs=3, default=None, help="normalisation mean; default: the model's")
    g.add_argument("--std", type=float, nargs=3, default=None, help="normalisation std; default: the model's")
    g.add_argument("--interpolation", choices=("bilinear", "bicubic", "nearest"), default="bilinear",
                   help="resampling when a saved image is not the input size (images are never cropped)")
    g.add_argument("--crop_pct", type=float, default=1.0,
                   help="accepted for timm configs; must be 1.0: cropping would cut the time and frequency axes")
    g.add_argument("--no_aug", action="store_true", default=True,
                   help="accepted for timm configs; always on: spectrograms are augmented offline, never flipped")
    g.add_argument("--drop", type=float, default=None, help="dropout rate")
    g.add_argument("--drop_path", type=float, default=None, help="stochastic depth rate")
    g.add_argument("--model_kwargs", nargs="*", default=None, metavar="KEY=VALUE",
                   help="extra model arguments, e.g. depth=2 fusion_heads=2 (values read as YAML)")
    g.add_argument("--no_speaker_pca", action="store_true",
                   help="feed raw speaker vectors instead of projecting them with the split's pca.npz")
    g.add_argument("--vector", default="speaker", metavar="VECTOR",
                   help="the per-utterance vector a speaker model fuses: speaker (the resemblyzer vector), "
                        "whisper:<source>:<layer> (a pooled Whisper layer, from the --features whisper cache) or "
                        "speaker+whisper:<source>:<layer>; a PCA fitted on the training rows "
                        "(specct.train.fusion_vector)")

    add_baseline_options(p)

    g = p.add_argument_group("optimizer and schedule")
    g.add_argument("--opt", default="adamw", help="timm optimizer name")
    g.add_argument("--opt_eps", type=float, default=None, help="optimizer epsilon; default: the optimizer's own")
    g.add_argument("--opt_betas", type=float, nargs="+", default=None,
                   help="optimizer betas, e.g. 0.9 0.999; default: the optimizer's own")
    g.add_argument("--momentum", type=float, default=0.9, help="SGD momentum (momentum optimizers only)")
    g.add_argument("--weight_decay", type=float, default=0.05, help="weight decay")
    g.add_argument("--clip_grad", type=float, default=None, help="clip gradient norm at this value")
    g.add_argument("--lr", type=float, default=5e-5, help="learning rate after the warm-up")
    g.add_argument("--sched", default="cosine", help="timm scheduler name")
    g.add_argument("--sched_on_updates", action="store_true", help="step the schedule every update")
    g.add_argument("--warmup_lr", type=float, default=1e-6, help="learning rate at the start of the warm-up")
    g.add_argument("--min_lr", type=float, default=1e-6, help="lowest learning rate the schedule reaches")
    g.add_argument("--warmup_epochs", type=int, default=0, help="epochs of linear warm-up from --warmup_lr")
    g.add_argument("--cooldown_epochs", type=int, default=0, help="epochs at --min_lr after the schedule ends")
    g.add_argument("--decay_epochs", type=float, default=None,
                   help="epochs between decays of --sched step or multistep (needed by them)")
    g.add_argument("--decay_rate", type=float, default=0.1, help="factor of each decay (step and plateau schedulers)")
    g.add_argument("--patience_epochs", type=int, default=10, help="patience of the plateau scheduler")
    g.add_argument("--epochs", type=int, default=50, help="training epochs (fewer with --patience)")
    g.add_argument("--batch_size", "-b", type=int, default=32, help="training images per batch")
    g.add_argument("--validation_batch_size", "-vb", type=int, default=None,
                   help="images per validation batch (default: --batch_size)")
    g.add_argument("--grad_accum_steps", type=int, default=1,
                   help="accumulate gradients over this many batches per update (effective batch = this x batch-size)")

    g = p.add_argument_group("loss and regularisation")
    g.add_argument("--smoothing", type=float, default=0.0, help="label smoothing")
    g.add_argument("--mixup", type=float, default=0.0,
                   help="mixup alpha (0 = off); speaker vectors are mixed with the images")
    g.add_argument("--mixup_prob", type=float, default=1.0, help="probability of mixing a batch")
    g.add_argument("--cutmix", type=float, default=0.0,
                   help="accepted for timm configs; must be 0: a pasted patch would mix time and frequency regions")
    g.add_argument("--class_weights", choices=("none", "balanced"), default="none",
                   help="weight classes inversely to their training frequency")
    g.add_argument("--loss", choices=("ce", "focal"), default="ce", help="ce: cross-entropy; focal: focal loss")
    g.add_argument("--focal_gamma", type=float, default=2.0, help="focusing exponent of --loss focal")
    g.add_argument("--specaugment_time_masks", type=int, default=0,
                   help="online SpecAugment: time masks (blanked column bands) per training image (0 = off)")
    g.add_argument("--specaugment_time_width", type=float, default=0.1,
                   help="widest time mask, as a fraction of the image width")
    g.add_argument("--specaugment_freq_masks", type=int, default=0,
                   help="online SpecAugment: frequency masks (blanked row bands) per training image (0 = off)")
    g.add_argument("--specaugment_freq_width", type=float, default=0.1,
                   help="tallest frequency mask, as a fraction of the image height")
    g.add_argument("--time_crop_prob", type=float, default=0.0,
                   help="online word-length crops: probability that a training image is replaced by a random "
                        "stretch of its columns resized to the full width (0 = off; specct.train.timecrop)")
    g.add_argument("--time_crop_min", type=float, default=0.25,
                   help="shortest kept stretch, as a fraction of the image width")
    g.add_argument("--time_crop_max", type=float, default=0.5,
                   help="longest kept stretch, as a fraction of the image width")
    g.add_argument("--speaker_norm", choices=("none", "corpus", "speaker"), default="none",
                   help="standardise the raw speaker vectors within each corpus or each speaker before the "
                        "PCA (refitted on the standardised training vectors). At evaluation the test rows are "
                        "standardised with their own statistics: TRANSDUCTIVE (uses the unlabelled test "
                        "audio's vectors); recorded in args.yaml and performance.yaml")
    g.add_argument("--domain_adversarial", type=float, default=0.0, metavar="LAMBDA",
                   help="domain-adversarial training (DANN), inductive: a corpus classifier on the pooled features "
                        "behind a gradient-reversal layer whose weight ramps to LAMBDA (2/(1+exp(-10p))-1); the "
                        "domains are the training corpora only (0 = off; specct.train.domain)")
    g.add_argument("--domain_adversarial_variant", choices=("inductive", "transductive"), default="inductive",
                   help="inductive: the training corpora are the domains; transductive: the held-out corpus's "
                        "unlabelled audio (the split's eval_data/test.csv, labels never read) joins as one more "
                        "domain: TRANSDUCTIVE, recorded in args.yaml and performance.yaml")
    g.add_argument("--test_time_bn", action="store_true",
                   help="models with batch normalisation: its statistics re-estimated on the test rows' own "
                        "unlabelled images before they are predicted: TRANSDUCTIVE, recorded in args.yaml and "
                        "performance.yaml (specct.train.test_time)")
    g.add_argument("--input_norm", choices=("none", "corpus"), default="none",
                   help="corpus: images standardised per corpus and frequency row with their own corpus's "
                        "statistics, the test corpus's from its own unlabelled images: TRANSDUCTIVE, recorded")
    g.add_argument("--members", nargs="+", default=None, metavar="RUN",
                   help="--model ensemble: the systems fused, as run folders or (in an experiment) the names of "
                        "its other systems; their probabilities averaged with weights chosen on the validation rows")
    g.add_argument("--ensemble_step", type=float, default=0.1,
                   help="--model ensemble: the grid step of the member weights searched on the validation rows")
    g.add_argument("--member_weights", choices=("auto", "validation", "equal"), default="auto",
                   help="--model ensemble: auto (chosen on the validation rows, equal without any, a refit member "
                        "only named); validation (chosen on validation rows no member fitted on: a split without "
                        "them, or a refit member that kept no earlier fit, is refused); equal (the plain average)")
    g.add_argument("--balance_corpora", choices=BALANCE_CHOICES, default="none",
                   help="batches drawing every training corpus equally often (corpora), and every class within "
                        "each corpus (corpora_classes), with replacement; none: plain shuffling")
    g.add_argument("--model_ema", action="store_true", help="keep an exponential moving average of the weights")
    g.add_argument("--model_ema_decay", type=float, default=0.998, help="decay of --model_ema's average")

    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=42, help="seed of every random draw in training (initial weights, batch order, mixup, masks)")
    g.add_argument("--workers", "-j", type=int, default=0, help="data loading processes")
    g.add_argument("--device", default="auto", help="auto, cpu or cuda")
    g.add_argument("--image_cache", choices=CACHE_MODES, default="auto",
                   help="decode the training and validation images once, not in every epoch: auto (in memory "
                        "within --image_cache_mb, else a memory-mapped file in <train_data>/image_cache/), memory, "
                        "disk, or off (read every PNG in every epoch); the batches are the same either way")
    g.add_argument("--image_cache_mb", type=float, default=DEFAULT_BUDGET_MB,
                   help="memory budget of --image_cache auto, in MiB")
    g.add_argument("--precision", choices=PRECISIONS, default=None,
                   help=f"numeric precision of training and validation: auto (bfloat16 autocast where the "
                        f"hardware has it natively, float32 elsewhere; specct.core.precision), float32, bfloat16 or "
                        f"float16 (a GPU type; bfloat16 on a CPU). Default {DEFAULT_PRECISION}; recorded in "
                        f"args.yaml and the checkpoint, with the precision used")
    g.add_argument("--amp", action="store_true", help="older spelling of --precision bfloat16 (or --amp_dtype)")
    g.add_argument("--amp_dtype", choices=("float16", "bfloat16"), default="bfloat16",
                   help="older spelling: the type of --amp")
    g.add_argument("--torchcompile", nargs="?", const="inductor", default=None, metavar="BACKEND",
                   help="train through torch.compile with this backend (default: inductor); helps on GPUs, "
                        "see docs/performance.md before using it on a CPU")
    g.add_argument("--eval_metric", choices=("uar", "accuracy", "loss"), default="uar",
                   help="validation metric that picks model_best.pth.tar")
    g.add_argument("--patience", type=int, default=0,
                   help="stop after this many epochs without validation improvement (0 = never)")
    g.add_argument("--refit", dest="refit", action="store_true", default=None,
                   help="image networks: after training with validation, train again from the same seed on the "
                        "training + validation rows for the chosen epoch count (the epoch of model_best) and keep "
                        "that as the final model; the first run stays in before_refit/ (doubles the cost; off by "
                        "default for networks, on by default for the baselines, see --no_refit)")
    g.add_argument("--output", default="output/train", help="base folder of training outputs")
    g.add_argument("--experiment", default=None,
                   help="output folder (run_loco.py's experiment YAML file is another flag); default "
                        "<output>/<model>-<pretrained|scratch>/<EVAL>/<n>_classes/<aug>/<balance>")
    g.add_argument("--resume", nargs="?", const="auto", default=None,
                   help="continue from a checkpoint (default: last.pth.tar of the output folder)")
    g.add_argument("--log_tensorboard", action="store_true", help="also log to TensorBoard, if installed")
    g.add_argument("--max_steps", type=int, default=0, help="cap on updates per epoch (0 = all; for smoke runs)")
    add_progress_argument(g)
    return p


def add_baseline_options(p: argparse.ArgumentParser) -> None:
    """Flags of the baselines (``--model egemaps_svm``, ``ssl_linear``, ...; see docs/baselines.md)."""
    g = p.add_argument_group("baselines (--model egemaps_svm, egemaps_svm_rbf, egemaps_logreg, compare_svm, "
                             "ssl_linear, ssl_mlp, ...)")
    g.add_argument("--features", default=None,
                   help="egemaps, compare, ssl:<hub name or local model directory> or "
                        "whisper[:<hub name or folder>[:<layer>]]; default: the baseline's own")
    g.add_argument("--layer", default=None, help="SSL layer number, or all (learned weighted sum); default all")
    g.add_argument("--whisper_input", choices=("real", "padded"), default=None,
                   help="whisper features: real (the log-mel cut to the audio's length) or padded (the 30-s "
                        "window) (default: real)")
    g.add_argument("--whisper_precision", choices=("float32", "bfloat16"), default=None,
                   help="whisper features extracted in float32 or bfloat16 autocast, a cache of its own "
                        "(default: float32)")
    g.add_argument("--scaling", choices=("standard", "corpus", "speaker"), default="standard",
                   help="feature scaling fitted on training rows; corpus and speaker are TRANSDUCTIVE (test rows "
                        "scaled by their own corpus or speaker statistics)")
    g.add_argument("--svm_c", type=float, nargs="+", default=[0.001, 0.01, 0.1, 1.0, 10.0],
                   help="C values tried (SVM, logistic regression); chosen on validation UAR")
    g.add_argument("--svm_gamma", nargs="+", default=["scale", 0.001, 0.01],
                   help="RBF gamma values tried (numbers, scale or auto); chosen on validation UAR")
    g.add_argument("--head_hidden", type=int, default=256,
                   help="hidden width of ssl_mlp's, whisper_head's and whisper_finetune's head")
    g.add_argument("--finetune_blocks", type=int, default=None,
                   help="whisper_finetune: the top encoder blocks trained with the head (default: 2); the blocks "
                        "below are frozen and their output cached")
    g.add_argument("--finetune_lr_scale", type=float, default=None,
                   help="whisper_finetune: the blocks learn at --lr times this, the head at --lr (default: 0.1)")
    g.add_argument("--no_refit", dest="refit", action="store_false", default=None,
                   help="keep the model fitted on the training rows only; by default a baseline, after choosing "
                        "its hyper-parameters (or the head's epoch count) on the validation rows, is fitted again "
                        "with them on the training + validation rows, scaler included")


def parse_model_kwargs(items) -> dict:
    """``["depth=2", "mlp_ratio=1.5"]`` (or a mapping, from a config) -> ``{"depth": 2, "mlp_ratio": 1.5}``."""
    if not items:
        return {}
    if isinstance(items, dict):
        return dict(items)
    kwargs = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if not sep or not key:
            raise InputError(f"--model_kwargs {item!r}: expected KEY=VALUE")
        kwargs[key.strip()] = yaml.safe_load(value)
    return kwargs


def read_config(path: str | Path, parser: argparse.ArgumentParser) -> dict:
    """Flag defaults from a YAML file; unknown keys are an error, naming the file and key."""
    path = Path(path)
    values = read_yaml(path, ConfigError, "config file")
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of flag names to values")
    known = {a.dest for a in parser._actions}
    config = {}
    for key, value in values.items():
        dest = str(key).lstrip("-").replace("-", "_")
        if dest not in known:
            raise ConfigError(f"{path}: unknown option {key!r} (not a train.py flag)")
        config[dest] = value
    return config


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``-c/--config`` first, use it as defaults, then parse the remaining flags."""
    config_parser = ArgumentParser(add_help=False)
    config_parser.add_argument("-c", "--config", default=None, help="YAML file of flag defaults")
    known, remaining = config_parser.parse_known_args(argv)
    parser = build_parser()
    parser.add_argument("-c", "--config", default=None, help="YAML file of flag defaults (flags override it)")
    if known.config:
        try:
            parser.set_defaults(**read_config(known.config, parser))
        except ConfigError as exc:
            parser.error(str(exc))
    args = parser.parse_args(remaining)
    args.config = known.config
    resolve_pretrained(args, parser.error)
    resolve_precision_flag(args)
    check_spectrogram_safe(args, parser.error)
    # a value out of its range is one line, as every expected failure (no usage block: the flag is known)
    check_counts(args, lambda problem: parser.exit(2, f"{parser.prog}: error: {problem}\n"))
    check_domain_adversarial(args, parser.error)
    if args.data_dir is None:
        parser.error("the train_data folder is required (positional argument or data_dir in the config)")
    return args


def resolve_pretrained(args: argparse.Namespace, error) -> None:
    """A weights file implies --pretrained; asking for both a file and --no_pretrained is a contradiction."""
    if args.pretrained is None:
        args.pretrained = bool(args.pretrained_path)
    elif not args.pretrained and args.pretrained_path:
        error("--pretrained_path given together with --no_pretrained: drop one of them")


def resolve_precision_flag(args: argparse.Namespace) -> None:
    """--precision, or what --amp / --amp_dtype asked for; decided for the device when training starts."""
    args.precision = from_legacy_flags(args.precision, args.amp, args.amp_dtype)


def check_spectrogram_safe(args: argparse.Namespace, error) -> None:
    """Reject image augmentations that do not fit spectrograms (timm configs may carry them)."""
    if args.crop_pct != 1.0:
        error(f"crop_pct {args.crop_pct}: images are used whole (crop_pct 1.0); cropping cuts the time "
              "and frequency axes")
    if args.cutmix:
        error("cutmix is not supported for spectrograms; use --mixup")


# What each numeric flag may hold (argparse checks the type, not the range); a list flag, each item.
FLAG_RANGES = {
    **dict.fromkeys(("epochs", "batch_size", "validation_batch_size", "grad_accum_steps", "head_hidden",
                     "input_size"), AT_LEAST_ONE),
    **dict.fromkeys(("warmup_epochs", "cooldown_epochs", "patience_epochs", "patience", "max_steps", "workers",
                     "seed", "specaugment_time_masks", "specaugment_freq_masks", "lr", "min_lr", "warmup_lr",
                     "weight_decay", "mixup", "focal_gamma", "domain_adversarial", "image_cache_mb"),
                    NON_NEGATIVE),
    **dict.fromkeys(("decay_epochs", "decay_rate", "clip_grad", "opt_eps", "svm_c", "std", "ensemble_step"),
                    POSITIVE),
    **dict.fromkeys(("momentum", "mixup_prob", "specaugment_time_width", "specaugment_freq_width", "time_crop_prob",
                     "model_ema_decay", "opt_betas"), FRACTION),
    **dict.fromkeys(("drop", "drop_path", "smoothing"), Range(low=0, below=1)),
    **dict.fromkeys(("time_crop_min", "time_crop_max"), Range(above=0, high=1)),
    "num_classes": Range(low=2),
}


def range_problem(flags: dict) -> str | None:
    """The first flag of ``flags`` (``{name: value}``, as typed by argparse) outside its range, said in one line."""
    for name, bounds in FLAG_RANGES.items():
        given = flags.get(name)
        for value in (given if isinstance(given, (list, tuple)) else [given]):
            if is_number(value) and not bounds.holds(value):   # a config's text is typed elsewhere
                return f"--{name}: expected {bounds.text}, got {value!r}"
    return None


def check_counts(args: argparse.Namespace, error=None) -> None:
    """Every numeric flag within its range (``FLAG_RANGES``); ``error`` (default: an InputError) gets the line."""
    problem = range_problem(vars(args))
    if problem:
        if error is None:
            raise InputError(problem)
        error(problem)


def check_domain_adversarial(args: argparse.Namespace, error) -> None:
    """DANN's corpus head needs one corpus per image, so it refuses mixup (which the scratch configs
    switch on) before anything runs; the one-process condition is checked when training starts."""
    if args.domain_adversarial > 0 and (args.mixup > 0 or args.torchcompile):
        error("--domain_adversarial runs without --torchcompile and --mixup (a mixed image has no one "
              "corpus; the scratch configs mix: add --mixup 0)")


def default_args(data_dir: str | Path, **overrides) -> argparse.Namespace:
    """The flags' defaults as a namespace, for calling :func:`specct.train.train` from Python."""
    return training_options(data_dir, None, **overrides)


class _FlagParser(ArgumentParser):
    """train.py's parser with no defaults, raising an InputError instead of printing and exiting."""

    def __init__(self, source: str, **kwargs):
        super().__init__(**kwargs)
        self.source = source

    def error(self, message):
        raise InputError(f"{self.source}: {message}")


def given_flags(tokens: Sequence[str], source: str = "train.py flags") -> dict:
    """The train.py flags written in ``tokens`` (as on a command line), as ``{name: value}``: only
    those given, typed as train.py types them. Used once, where flags enter as text (run_loco.py's
    command line, an experiment file); an unknown or bad flag is one InputError naming ``source``."""
    parser = build_parser()
    flags = _FlagParser(source, prog="train.py", add_help=False, argument_default=argparse.SUPPRESS)
    for action in parser._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction,
                                   argparse._StoreConstAction)):
                kwargs.update(action="store_const", const=action.const)
            else:
                kwargs.update(nargs=action.nargs, type=action.type, choices=action.choices)
            flags.add_argument(*action.option_strings, **kwargs)
    given, extra = flags.parse_known_args(list(tokens))
    if extra:
        raise InputError(f"{source}: not train.py flags: {' '.join(extra)}")
    problem = range_problem(vars(given))
    if problem:
        raise InputError(f"{source}: {problem}")
    return vars(given)


def training_options(data_dir: str | Path, config: str | Path | None = None, **values) -> argparse.Namespace:
    """train.py's options as its command line would give them: the flags' defaults, then the config
    file's values (``-c``), then ``values`` (flag names as keys), checked as train.py checks them."""
    parser = build_parser()
    if config:
        parser.set_defaults(**read_config(config, parser))
    args = parser.parse_args([str(data_dir)])
    args.config = str(config) if config else None
    unknown = [k for k in values if not hasattr(args, k)]
    if unknown:   # a programming error (names come from code or from given_flags), not bad input
        raise TypeError(f"unknown training option(s): {', '.join(unknown)}")
    for key, value in values.items():
        setattr(args, key, value)

    def error(message):
        raise InputError(message)

    resolve_pretrained(args, error)
    resolve_precision_flag(args)
    check_spectrogram_safe(args, error)
    check_counts(args, error)
    check_domain_adversarial(args, error)
    return args


# Flags whose False value is written with a flag of its own (``{"refit": False}`` is ``--no_refit``).
NEGATIONS = {"pretrained": "--no_pretrained", "refit": "--no_refit"}


def flag_tokens(values: dict) -> list[str]:
    """``{name: value}`` as train.py command-line tokens, for printing a command."""
    tokens: list[str] = []
    for key, value in values.items():
        flag = f"--{key}"
        if value is True:
            tokens.append(flag)
        elif value is False:
            tokens += [NEGATIONS[key]] if key in NEGATIONS else []
        elif isinstance(value, (list, tuple)):
            tokens += [flag, *map(str, value)]
        elif value is not None:
            tokens += [flag, str(value)]
    return tokens
