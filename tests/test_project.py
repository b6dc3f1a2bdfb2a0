"""The repository keeps the shape users of the original know, and its set-up files agree."""
from __future__ import annotations

import re

import pytest

tomllib = pytest.importorskip("tomllib", reason="tomllib needs Python 3.11")

from conftest import REPO_ROOT

TOP_LEVEL_DIRS = ["configs", "datasets", "data", "encoder", "src/specct", "output", "images", "tests", "benchmarks"]
TOP_LEVEL_FILES = [
    "prepare_corpus.py", "preprocess_spectrograms.py", "preprocess_embedding.py", "preprocess_split_dataset.py",
    "train.py", "eval.py", "predict.py", "environment.yml", "Variants.md", "README.md", "pyproject.toml",
    "Makefile", ".ci/run",
]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def test_layout_exists():
    missing = [p for p in TOP_LEVEL_DIRS + TOP_LEVEL_FILES if not (REPO_ROOT / p).exists()]
    assert not missing, f"missing from the repository: {missing}"


def test_generated_folders_explain_themselves():
    for folder in ["datasets", "data", "output", "encoder/models"]:
        text = (REPO_ROOT / folder / "README.md").read_text()
        assert len(text.split()) > 10, folder


# environment.yml against pyproject.toml: tests/test_packaging.py.


def test_project_requires_python_310():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["requires-python"] == ">=3.10"
    required = {_name(r) for r in project["dependencies"]}
    for lib in ["timm", "torch", "torchvision", "resemblyzer", "webrtcvad-wheels", "librosa", "soundfile",
                "scikit-learn", "pandas", "pyyaml", "pillow", "matplotlib", "tqdm"]:
        assert lib in required, lib


def test_readme_quick_start_is_two_commands():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    ci = (REPO_ROOT / ".ci/run").read_text()
    assert "make test" in ci
