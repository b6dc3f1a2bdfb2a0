"""The on-disk layout (docs/architecture.md) in one place; every base folder is also a flag of the scripts.

Corpora: ``datasets/<C>/<C>_{wav,img,augmented,speaker}``. Splits: ``data/<EVAL>/<n>_classes/<aug>/<balance>``
(leave one corpus out) or ``data/<CORPUS>/<protocol>/fold-NN/<n>_classes/<aug>/<balance>`` (within one
corpus), each holding ``train_data/`` and ``eval_data/``. Training runs: ``output/train/<run>/<split parts>``;
their test results: ``output/test/<run>/<split parts>``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .errors import MissingInputError

DATASETS_DIR = Path("datasets")
DATA_DIR = Path("data")
ENCODER_DIR = Path("encoder/models")
OUTPUT_DIR = Path("output")


def corpus_dir(datasets_dir: str | Path, corpus: str) -> Path:
    return Path(datasets_dir) / corpus.upper()


def wav_dir(datasets_dir: str | Path, corpus: str) -> Path:
    return corpus_dir(datasets_dir, corpus) / f"{corpus.upper()}_wav"


def import_options_file(datasets_dir: str | Path, corpus: str) -> Path:
    """``datasets/<CORPUS>/import_options.json``: the corpus options its wavs were imported with."""
    return corpus_dir(datasets_dir, corpus) / "import_options.json"


def img_dir(datasets_dir: str | Path, corpus: str) -> Path:
    return corpus_dir(datasets_dir, corpus) / f"{corpus.upper()}_img"


def augmented_dir(datasets_dir: str | Path, corpus: str) -> Path:
    return corpus_dir(datasets_dir, corpus) / f"{corpus.upper()}_augmented"


def speaker_dir(datasets_dir: str | Path, corpus: str) -> Path:
    return corpus_dir(datasets_dir, corpus) / f"{corpus.upper()}_speaker"


def features_dir(datasets_dir: str | Path, corpus: str) -> Path:
    """Cached utterance features of the baselines (openSMILE functionals, pooled SSL states)."""
    return corpus_dir(datasets_dir, corpus) / f"{corpus.upper()}_features"


def list_corpora(datasets_dir: str | Path) -> list[str]:
    """Corpora present in ``datasets_dir``: folders holding a ``<CORPUS>_wav`` folder."""
    root = Path(datasets_dir)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / f"{p.name}_wav").is_dir())


def select_corpora(datasets_dir: str | Path, names: Sequence[str] | None = None, what: str = "corpus") -> list[str]:
    """The imported corpora named in ``names`` (upper-cased, in the given order), or all of them.

    A folder without imported corpora, or a name that is not imported, is an error naming the
    folder and what it does hold: an empty success would hide a wrong ``--datasets_dir``.
    """
    present = list_corpora(datasets_dir)
    if not present:
        raise MissingInputError(f"no corpora in {datasets_dir} (expected <CORPUS>/<CORPUS>_wav folders; "
                                f"run prepare_corpus.py first)")
    if not names:
        return present
    chosen = [name.upper() for name in names]
    missing = [name for name in chosen if name not in present]
    if missing:
        raise MissingInputError(f"{datasets_dir}: {what} {', '.join(missing)} not imported "
                                f"(present: {', '.join(present)})")
    return chosen


def split_dir(data_dir: str | Path, eval_dataset: str, classes_name: str, augmentation: str, balance: str) -> Path:
    """``data/<EVAL>/<n>_classes/<aug>/<balance>``; holds train_data/ and eval_data/."""
    return Path(data_dir) / eval_dataset.upper() / classes_name / augmentation / balance


SPLIT_INFO_FILE = "split_options.json"   # the split's options and its validation / test speakers
FOLDS_FILE = "folds.csv"                 # within-corpus protocols: fold,test_speakers


def train_data_dir(split: str | Path) -> Path:
    return Path(split) / "train_data"


def eval_data_dir(split: str | Path) -> Path:
    return Path(split) / "eval_data"


def split_info_file(split: str | Path) -> Path:
    """``split_options.json`` of a split folder."""
    return Path(split) / SPLIT_INFO_FILE


def fold_name(index: int) -> str:
    """``fold-01`` for the first fold."""
    return f"fold-{index:02d}"


def protocol_dir(data_dir: str | Path, corpus: str, protocol_folder: str) -> Path:
    """``data/<CORPUS>/<loso | losoK | kfoldK>``; holds the folds and folds.csv."""
    return Path(data_dir) / corpus.upper() / protocol_folder


def fold_split_dir(data_dir: str | Path, corpus: str, protocol_folder: str, fold: str, classes_name: str,
                   augmentation: str, balance: str) -> Path:
    """``data/<CORPUS>/<protocol>/fold-NN/<n>_classes/<aug>/<balance>``; holds train_data/ and eval_data/."""
    return protocol_dir(data_dir, corpus, protocol_folder) / fold / classes_name / augmentation / balance


def split_parts(train_dir: str | Path) -> tuple[str, ...]:
    """The split's folders below ``data/``, read back from its train_data folder:
    ``(EVAL, <n>_classes, aug, balance)``, or ``(CORPUS, protocol, fold-NN, <n>_classes, aug, balance)``
    for a within-corpus fold. A train_data folder outside that layout is named by its parent alone."""
    parent = Path(train_dir).resolve().parent
    parts = parent.parts
    if len(parts) >= 4 and parts[-3].endswith("_classes"):
        if len(parts) >= 6 and parts[-4].startswith("fold-"):
            return tuple(parts[-6:])
        return tuple(parts[-4:])
    return (parent.name,)


def eval_output_dir(model_dir: str | Path) -> Path:
    """Where a training run's test results go: ``output/train/<run...>`` -> ``output/test/<run...>``;
    a run outside an ``.../train/...`` folder gets ``<model_dir>/test``."""
    model_dir = Path(model_dir)
    parts = model_dir.resolve().parts
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == "train" and i > 0:
            return Path(*parts[:i], "test", *parts[i + 1:])
    return model_dir / "test"
