"""The options of a split and their command-line flags, declared once (no table library: a command's
``--help`` reads them before pandas loads). :mod:`specct.data.splits` makes the splits they describe."""
from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Sequence

from ..core import paths
from ..core.cli import add_alias

BALANCE_MODES = ("no_balanced", "undersampling", "balanced_aug")
PROTOCOLS = ("loco", "loso", "kfold")
VALIDATION_CHOICES = ("auto", "speakers", "corpus", "none")


@dataclass(kw_only=True)
class SplitSettings:
    """What every fold's split of an experiment shares: the classes, the training images, the validation
    rows, the speaker PCA's width and the seed. SplitOptions (one split) and LocoOptions (an experiment)
    extend it, so each of these fields is declared here only."""
    num_classes: str = "4"
    classes: Sequence[str] | str | None = None
    augmentation: str = "no_aug"
    balanced: str = "no_balanced"
    validation: str = "auto"                  # auto | speakers | corpus | none (docs/splits.md)
    percent_subject_validation: float = 0.25
    validation_corpus: str | None = None
    n_components: int = 256
    seed: int = 0                             # of every random choice of the split (and an experiment's training seed)


@dataclass(kw_only=True)
class SplitOptions(SplitSettings):
    """One split: the shared settings, the held-out corpus (or the corpus cut into folds) and where it goes."""
    eval_dataset: str
    train_datasets: list[str] | None = None
    datasets_dir: str = str(paths.DATASETS_DIR)
    output_dir: str = str(paths.DATA_DIR)
    protocol: str = "loco"
    folds: int | None = None
    pca_file: str | None = None
    allow_leaky_pca: bool = False
    encoder_dir: str = str(paths.ENCODER_DIR)


def split_settings_of(options) -> SplitSettings:
    """The shared split settings of a SplitOptions, a LocoOptions or a namespace holding them."""
    return SplitSettings(**{name: getattr(options, name) for name in LOCO_ARGUMENTS})


# --------------------------------------------------------------------------- flags

# Every split option, declared once: (flags, argparse keywords). The default comes from SplitOptions.
# preprocess_split_dataset.py adds them all; run_loco.py adds LOCO_ARGUMENTS (the rest is per fold).
SPLIT_ARGUMENTS: dict[str, tuple[tuple[str, ...], dict]] = {
    "eval_dataset": (("--eval_dataset",), dict(
        required=True, help="held-out test corpus (loco), or the corpus to cut into folds (loso, kfold)")),
    "num_classes": (("--num_classes",), dict(choices=["3", "4", "all"], help="class set")),
    "classes": (("--classes",), dict(nargs="+", metavar="EMOTION",
                                     help="custom class list, e.g. happy sad (overrides --num_classes)")),
    "augmentation": (("--augmentation",), dict(
        choices=["no_aug", "time_aug", "freq_aug", "time_freq_aug"],
        help="the group of offline-augmented images of the training speakers this split trains on (not "
             "--augmentations of preprocess_spectrograms.py, which chooses the kinds of image to draw)")),
    "balanced": (("--balanced",), dict(choices=BALANCE_MODES, help="balancing of the training set")),
    "validation": (("--validation",), dict(
        choices=VALIDATION_CHOICES,
        help="validation rows: auto (corpus with two or more training corpora, else speakers), speakers "
             "(a fraction of each training corpus's speakers, capped at that fraction of its rows), corpus "
             "(one whole training corpus) or none (train a fixed number of epochs, keep the last)")),
    "percent_subject_validation": (("--percent_subject_validation",), dict(
        type=float, help="--validation speakers: fraction of each training corpus's speakers, and cap on "
                         "the fraction of its rows, held out for validation")),
    "validation_corpus": (("--validation_corpus",), dict(
        help="--validation corpus: the training corpus to validate on (default: a seeded choice)")),
    "train_datasets": (("--train_datasets",), dict(
        nargs="+", help="training corpora (default: every imported corpus but the test one)")),
    "seed": (("--seed",), dict(type=int, help="seed of every random choice")),
    "datasets_dir": (("--datasets_dir",), dict(help="imported corpora")),
    "output_dir": (("--data_dir",), dict(metavar="DATA_DIR", help="where split folders go, <data_dir>/<EVAL>/... (the folder "
                                               "train.py and run_loco.py call --data_dir)")),
    "protocol": (("--protocol",), dict(
        choices=PROTOCOLS,
        help="loco: leave one corpus out; loso / kfold: speaker-independent folds in one corpus")),
    "folds": (("--folds",), dict(
        type=int, help="number of folds (kfold; with loso, groups of speakers instead of one speaker per fold)")),
    "n_components": (("--n_components",), dict(
        type=int, help="width of the speaker PCA fitted on the training rows (capped at their number)")),
    "pca_file": (("--pca_file",), dict(
        help="use this fitted PCA (.npz from preprocess_embedding.py; a bare name is looked up in "
             "--encoder_dir) instead of fitting one on the training rows")),
    "allow_leaky_pca": (("--allow_leaky_pca",), dict(
        action="store_true",
        help="accept a --pca_file fitted on the test corpus (the paper's choice; leaks the test corpus)")),
    "encoder_dir": (("--encoder_dir",), dict(help="where --pca_file names are looked up")),
}
# Older spellings of split options, still accepted (hidden from --help).
SPLIT_ALIASES: dict[str, tuple[str, ...]] = {"output_dir": ("--output_dir",)}
# The split options a leave-one-corpus-out run passes to every fold's split (the rest is per fold).
LOCO_ARGUMENTS = tuple(f.name for f in fields(SplitSettings))


def add_split_arguments(parser, names: Sequence[str] = tuple(SPLIT_ARGUMENTS)):
    """Add the named split options to an argparse parser (or group), with SplitOptions' defaults."""
    defaults = {f.name: f.default for f in fields(SplitOptions) if f.default is not MISSING}
    for name in names:
        flags, kwargs = SPLIT_ARGUMENTS[name]
        kwargs = dict(kwargs)
        if name in defaults and kwargs.get("action") != "store_true":
            kwargs["default"] = defaults[name]
            if defaults[name] is not None and "default" not in kwargs["help"]:  # each default said once
                kwargs["help"] = f"{kwargs['help']} (default: {defaults[name]})"
        parser.add_argument(*flags, dest=name, **kwargs)
        for alias in SPLIT_ALIASES.get(name, ()):
            add_alias(parser, alias, flags[0])
    return parser


def split_options_from(namespace, **values) -> SplitOptions:
    """SplitOptions from the split options in a parsed namespace, plus ``values`` (which win)."""
    known = {f.name for f in fields(SplitOptions)}
    taken = {k: v for k, v in vars(namespace).items() if k in known}
    return SplitOptions(**{**taken, **values})
