"""Behaviour kept across the System refactor: on the demo split, with the same seed, a plain CCT, a
speaker CCT and ``egemaps_svm`` give the predictions.csv recorded before the change.

The fixture (``tests/fixtures/behaviour/*.csv``) was written by this file with
``SPECCT_RECORD_BEHAVIOUR=1`` on the code before the refactor. Paths are written relative to the
demo folder, so the files compare byte for byte. On the host that recorded them (``host.txt``) the
test asks for byte-identical files; on another CPU the float kernels may sum in another order, so
there the predicted classes must match and each probability within 1e-3.

``egemaps_svm`` refits on training + validation rows by default since the fixture was recorded; its
case trains with ``--no_refit``, the model of before, which must stay the same. That the default
(refit) differs from it and saw more rows is tested at the end of this file.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

import pandas as pd
import pytest

from training_fixtures import TINY_FLAGS, TINY_MODEL

FIXTURES = Path(__file__).parent / "fixtures" / "behaviour"
RECORD = os.environ.get("SPECCT_RECORD_BEHAVIOUR") == "1"
SYSTEMS = {"cct": "cct_7_7x2_112", "speaker_cct": TINY_MODEL, "egemaps_svm": "egemaps_svm"}


def host_name() -> str:
    """The CPU model (from /proc/cpuinfo where there is one), the machine type, the widest vector
    instructions and the CPU family: one model name covers hosts with and without AVX-512, and CPU
    generations, whose float sums differ."""
    cpuinfo = Path("/proc/cpuinfo")
    model, flags = "", set()
    if cpuinfo.is_file():
        lines = cpuinfo.read_text().splitlines()
        model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "")
        flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    vector = next((name for name in ("amx_tile", "avx512f", "avx2") if name in flags), "")
    # one model name ("AMD EPYC") also covers CPU generations whose float sums differ in the last digits
    family = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("cpu family")), "") \
        if cpuinfo.is_file() else ""
    return f"{model or platform.processor()} {platform.machine()} {vector}{f' family {family}' if family else ''}".strip()


def relative_csv(path: Path, root: Path) -> str:
    """predictions.csv with the demo folder's absolute paths written relative to it."""
    return path.read_text().replace(str(root.resolve()) + os.sep, "").replace(str(root) + os.sep, "")


@pytest.fixture(scope="module")
def recorded_runs(demo_split, tmp_path_factory):
    from specct.baselines.features import extract_corpora
    from specct.stages.evaluate import evaluate
    from specct.train import default_args, train

    extract_corpora(demo_split.datasets, features="egemaps", progress=False)
    out = tmp_path_factory.mktemp("behaviour")
    texts = {}
    for name, model in SYSTEMS.items():
        run_dir = out / "train" / name
        flags = ({"no_progress": True, "refit": False} if model == "egemaps_svm"     # --no_refit: the model of before
                 else {**TINY_FLAGS, "epochs": 2, "max_steps": 3, "precision": "float32"})   # as recorded
        train(default_args(demo_split.train_dir, model=model, experiment=str(run_dir), seed=0, **flags))
        test_dir = out / "test" / name
        evaluate(run_dir, output=test_dir, bootstrap=50, seed=0, progress=False)
        texts[name] = relative_csv(test_dir / "predictions.csv", demo_split.root)
    return texts


@pytest.mark.parametrize("name", sorted(SYSTEMS))
def test_predictions_are_those_recorded_before_the_refactor(recorded_runs, name):
    fixture = FIXTURES / f"{name}.csv"
    if RECORD:
        FIXTURES.mkdir(parents=True, exist_ok=True)
        fixture.write_text(recorded_runs[name])
        (FIXTURES / "host.txt").write_text(host_name() + "\n")
    expected = fixture.read_text()
    if (FIXTURES / "host.txt").read_text().strip() == host_name():
        assert recorded_runs[name] == expected
        return
    import io

    got, want = pd.read_csv(io.StringIO(recorded_runs[name])), pd.read_csv(io.StringIO(expected))
    assert list(got.columns) == list(want.columns)
    assert got[["file", "wav", "truth", "prediction"]].equals(want[["file", "wav", "truth", "prediction"]])
    probs = [c for c in want.columns if c.startswith("prob_")]
    assert (got[probs] - want[probs]).abs().to_numpy().max() < 1e-3


def test_egemaps_svm_refit_by_default_differs_from_the_recorded_model_and_saw_more_rows(recorded_runs, demo_split,
                                                                                      tmp_path):
    from specct.baselines.model import load_model
    from specct.stages.evaluate import evaluate
    from specct.train import default_args, train

    run_dir = train(default_args(demo_split.train_dir, model="egemaps_svm", experiment=str(tmp_path / "refit"),
                                 seed=0, no_progress=True))
    evaluate(run_dir, output=tmp_path / "test", bootstrap=50, seed=0, progress=False)
    got = relative_csv(tmp_path / "test" / "predictions.csv", demo_split.root)
    assert got != (FIXTURES / "egemaps_svm.csv").read_text()
    info = load_model(run_dir).info
    assert info["refit"] and info["fitted_rows"] == info["train_rows"] + info["validation_rows"] > info["train_rows"]
