"""The on-disk layout of docs/design.md in one place; every path is also a flag of the scripts."""
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
