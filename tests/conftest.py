"""Shared fixtures: where the real corpora are, and imported copies of them made once per session."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# The real corpora live beside the repository (never inside it); SPECCT_SHARED overrides.
SHARED_DIR = Path(os.environ.get("SPECCT_SHARED", REPO_ROOT.parent / "shared"))
CORPORA_DIR = SHARED_DIR / "corpora"


def _corpus_source(name: str) -> Path:
    path = CORPORA_DIR / name / "wav"
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
def real_datasets(tmp_path_factory, emodb_source, ravdess_source) -> Path:
    """A datasets/ folder holding EMODB and RAVDESS imported once for the whole session."""
    from specct.prepare import import_corpus

    root = tmp_path_factory.mktemp("real_datasets")
    import_corpus("emodb", emodb_source, root, progress=False)
    import_corpus("ravdess", ravdess_source, root, progress=False)
    return root


@pytest.fixture(scope="session")
def demo_datasets(tmp_path_factory) -> Path:
    """A datasets/ folder holding the built-in demo corpora (seed 0)."""
    from specct.demo import generate_demo

    root = tmp_path_factory.mktemp("demo_datasets")
    generate_demo(root, seed=0)
    return root


# Session fixtures of the training, evaluation, prediction and LOCO tests: one small pipeline and
# one short training run, shared by those test files.
from training_fixtures import demo_split, trained_run  # noqa: E402,F401
