"""The on-disk layout of DESIGN.md in one place; every path is also a flag of the scripts."""
from __future__ import annotations

from pathlib import Path

DATASETS_DIR = Path("datasets")
DATA_DIR = Path("data")
ENCODER_DIR = Path("encoder/models")
OUTPUT_DIR = Path("output")


def corpus_dir(datasets_dir: str | Path, corpus: str) -> Path:
    return Path(datasets_dir) / corpus.upper()


def wav_dir(datasets_dir: str | Path, corpus: str) -> Path:
    return corpus_dir(datasets_dir, corpus) / f"{corpus.upper()}_wav"


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


def split_dir(data_dir: str | Path, eval_dataset: str, classes_name: str, augmentation: str, balance: str) -> Path:
    """``data/<EVAL>/<n>_classes/<aug>/<balance>``; holds train_data/ and eval_data/."""
    return Path(data_dir) / eval_dataset.upper() / classes_name / augmentation / balance
