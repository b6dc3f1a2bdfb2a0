"""Shared fixtures: where the real corpora are, and imported copies of them made once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The real corpora live beside the repository (never inside it); SPECCT_SHARED overrides.
SHARED_DIR = Path(os.environ.get("SPECCT_SHARED", REPO_ROOT.parent / "shared"))
CORPORA_DIR = SHARED_DIR / "corpora"


def _corpus_source(name: str, folder: str = "wav") -> Path:
    path = CORPORA_DIR / name / folder
    if not path.is_dir():
        pytest.skip(f"real corpus {name} not found at {path} (set SPECCT_SHARED to the folder holding corpora/)")
    return path


@pytest.fixture(scope="session")
def emodb_source() -> Path:
    """EmoDB as distributed (flat folder of 535 wavs)."""
    return _corpus_source("emodb")


@pytest.fixture(scope="session")
def ravdess_source() -> Path:
    """RAVDESS speech, actors 1-4, as distributed (Actor_XX folders)."""
    return _corpus_source("ravdess")


@pytest.fixture(scope="session")
def turevdb_source() -> Path:
    """TurEV-DB as distributed: the folder holding ``Sound Source/{Angry,Calm,Happy,Sad}/`` (1735 wavs)."""
    _corpus_source("turevdb", "Sound Source")
    return CORPORA_DIR / "turevdb"


@pytest.fixture(scope="session")
def turevdb_datasets(tmp_path_factory, turevdb_source) -> Path:
    """A datasets/ folder holding TUREVDB imported once for the whole session (1735 words resampled
    from 44.1 kHz to 16 kHz); tests and benchmarks that need a real four-class corpus share it."""
    from specct.data.prepare import import_corpus

    root = tmp_path_factory.mktemp("turevdb_datasets")
    import_corpus("turevdb", turevdb_source, root, progress=False)
    return root


@pytest.fixture(scope="session")
def real_datasets(tmp_path_factory, emodb_source, ravdess_source) -> Path:
    """A datasets/ folder holding EMODB and RAVDESS imported once for the whole session."""
    from specct.data.prepare import import_corpus

    root = tmp_path_factory.mktemp("real_datasets")
    import_corpus("emodb", emodb_source, root, progress=False)
    import_corpus("ravdess", ravdess_source, root, progress=False)
    return root


@pytest.fixture(scope="session")
def demo_datasets(tmp_path_factory) -> Path:
    """A datasets/ folder holding the built-in demo corpora (seed 0)."""
    from specct.data.demo import generate_demo

    root = tmp_path_factory.mktemp("demo_datasets")
    generate_demo(root, seed=0)
    return root


# Session fixtures of the training, evaluation, prediction and LOCO tests: one small pipeline and
# one short training run, shared by those test files.
from training_fixtures import demo_split, trained_run  # noqa: E402,F401
