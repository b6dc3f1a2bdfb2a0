"""A small finished study for the hostile-input tests: three demo corpora (4 speakers x 2 sentences x
4 emotions), 32 px images, speaker vectors, eGeMAPS features and a leave-one-corpus-out experiment
of the eGeMAPS SVM, every path relative to one root; and a byte snapshot of its finished files."""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
from script_helpers import load_script

EXPERIMENT = "hostile"
LOCO_FLAGS = ["--model", "egemaps_svm", "--name", EXPERIMENT, "--no_progress", "--bootstrap", "50"]


@contextmanager
def working_dir(folder: Path):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)


def build_small_study(root: Path) -> Path:
    from specct.data.demo import CORE_EMOTIONS, generate_demo
    from specct.data.images import preprocess_corpora
    from specct.data.speaker import embed_corpora

    root.mkdir(parents=True, exist_ok=True)
    with working_dir(root):
        generate_demo("datasets", seed=0, speakers=4, sentences=2, emotions=CORE_EMOTIONS, progress=False)
        preprocess_corpora("datasets", augmentations=[], size=(32, 32), workers=1, progress=False)
        embed_corpora("datasets", progress=False)
        load_script("preprocess_features").main(["--no_progress"])
        load_script("run_loco").main(LOCO_FLAGS)
    return root


def copy_study(study: Path, to: Path) -> Path:
    """A copy that reads only itself: the split tables' absolute paths are moved to the copy."""
    shutil.copytree(study, to, symlinks=True)
    for pattern in ("*.csv", "*.yaml"):
        for table in [*(to / "data").rglob(pattern), *(to / "output").rglob(pattern)]:
            table.write_text(table.read_text().replace(str(study), str(to)))
    return to


def experiment_folder(root: Path) -> Path:
    return root / "output" / "loco" / EXPERIMENT


def snapshot(folder: Path, pattern: str = "*") -> dict[str, bytes]:
    """Every file below ``folder`` matching ``pattern``, by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob(pattern)) if p.is_file()}


def shared_small_study(tmp_path_factory) -> Path:
    """One small finished study for the whole test session (built by the first file that asks for it);
    tests copy it (:func:`copy_study`) and never change it."""
    root = tmp_path_factory.getbasetemp() / "shared_hostile_study"
    if not (root / ".built").is_file():
        if root.exists():
            shutil.rmtree(root)
        build_small_study(root / "study")
        (root / ".built").write_text("done\n")
    return root / "study"


# The fixtures of every hostile test file (imported there by name): the shared study, and a copy of it
# per test in which the test runs.
@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return shared_small_study(tmp_path_factory)


@pytest.fixture
def root(study, tmp_path, monkeypatch):
    copy = copy_study(study, tmp_path / "study")
    monkeypatch.chdir(copy)
    return copy


def run_loco_main(*extra: str):
    """run_loco.py's main with the study's flags and ``extra``, as a call for one_line_error."""
    return lambda: load_script("run_loco").main([*LOCO_FLAGS, *extra])
