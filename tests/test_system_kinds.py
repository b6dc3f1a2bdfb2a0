"""The System interface (specct.systems): a new kind is one class and one registration, and runs
through run_loco, eval.py and predict.py like the built-in ones; finished work of any kind is never
trained again."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from specct import systems
from specct.systems import Scores, System, TrainedSystem

SAVED = "majority.json"


class TrainedMajority(TrainedSystem):
    def __init__(self, path: Path):
        self.path = path / SAVED if path.is_dir() else path
        saved = json.loads(self.path.read_text())
        self.class_names, self.majority = saved["class_names"], saved["majority"]

    def record(self) -> dict:
        return {"model": "majority", "checkpoint": str(self.path), "checkpoint_epoch": 0}

    def _constant(self, rows: int):
        probabilities = np.zeros((rows, len(self.class_names)))
        probabilities[:, self.majority] = 1.0
        return probabilities, np.full(rows, self.majority)

    def score(self, frame, settings) -> Scores:
        return Scores(*self._constant(len(frame)))

    def inputs_of_signal(self, signal):
        return len(signal)

    def classify(self, inputs, echo=print):
        return self._constant(len(inputs))


class MajoritySystem(System):
    """Always the most frequent training class: the floor every real system must clear."""
    kind = "majority"
    saved_name = SAVED

    def handles(self, model_name):
        return model_name == "majority"

    def run_name(self, args):
        return "majority"

    def fit(self, args, on_epoch_end=None):
        from specct.data import split_rows as data
        from specct.protocol import runs

        train_dir = runs.resolve_train_dir(args.data_dir)
        class_names = list(data.read_class_names(train_dir))
        frame = data.read_split(train_dir / "train.csv", class_names)
        out_dir = systems.output_dir(args)
        out_dir.mkdir(parents=True, exist_ok=True)
        runs.write_args(out_dir, args, train_dir)
        majority = int(np.bincount(frame["target"], minlength=len(class_names)).argmax())
        (out_dir / SAVED).write_text(json.dumps({"class_names": class_names, "majority": majority}))
        return out_dir

    def is_trained(self, out_dir, args):
        return (Path(out_dir) / SAVED).is_file()

    def load(self, path, device="cpu", checkpoint=None):
        return TrainedMajority(Path(path))


@pytest.fixture
def majority_kind():
    kind = systems.register_system(MajoritySystem())
    yield kind
    systems.unregister_system(kind)


def test_dispatch_is_by_model_name_and_run_folder(majority_kind, tmp_path):
    assert systems.system_for_model("majority") is majority_kind
    assert isinstance(systems.system_for_model("egemaps_svm"), systems.BaselineSystem)
    assert isinstance(systems.system_for_model("cct_7_7x2_112"), systems.NetworkSystem)
    (tmp_path / "args.yaml").write_text(yaml.safe_dump({"model": "majority"}))
    assert systems.system_for_output(tmp_path) is majority_kind
    assert isinstance(systems.system_for_output(tmp_path / "x.skops"), systems.BaselineSystem)
    assert isinstance(systems.system_for_output(tmp_path / "x.pth.tar"), systems.NetworkSystem)


@pytest.mark.slow
def test_a_new_kind_runs_through_run_loco_eval_and_predict(majority_kind, demo_split, tmp_path, capsys):
    from specct import loco
    from specct.stages.evaluate import main as eval_main
    from specct.stages.predict import main as predict_main

    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", "DEMOA", "DEMOB", "--model", "majority",
            "--data_dir", str(tmp_path / "data"), "--output", str(tmp_path / "output"), "--bootstrap", "50",
            "--no_progress"]
    assert loco.main(argv) == 0
    folder = tmp_path / "output" / "loco" / "majority"
    results = pd.read_csv(folder / loco.RESULTS_CSV)
    per_corpus = results[results["held_out"] != "mean"]
    assert list(per_corpus["held_out"]) == ["DEMOA", "DEMOB"]
    assert np.allclose(per_corpus["uar"], 0.25)               # one class of four, whatever the corpus
    run = folder / "jobs" / "loco" / "majority" / "DEMOA" / "train"
    predictions = pd.read_csv(folder / "jobs" / "loco" / "majority" / "DEMOA" / "test" / "predictions.csv")
    assert predictions["prediction"].nunique() == 1

    assert eval_main([str(run), "--output", str(tmp_path / "again"), "--bootstrap", "20"]) == 0
    performance = yaml.safe_load((tmp_path / "again" / "performance.yaml").read_text())
    assert performance["model"] == "majority" and performance["uar"] == pytest.approx(0.25)
    assert performance["test_corpora"] == ["DEMOA"]

    wavs = sorted((demo_split.datasets / "DEMOA" / "DEMOA_wav").glob("*.wav"))[:3]
    capsys.readouterr()
    assert predict_main([*map(str, wavs), "--model_dir", str(run), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["emotion"] for r in rows] == [predictions["prediction"].iloc[0]] * 3


@pytest.mark.slow
def test_an_unfinished_baseline_job_is_not_trained_again(demo_split, tmp_path, capsys):
    """A job killed after its baseline was saved, before its evaluation: the rerun only evaluates."""
    from specct import loco
    from specct.baselines.features import extract_corpora
    from specct.protocol.evaluation import PERFORMANCE_NAME

    extract_corpora(demo_split.datasets, datasets=["DEMOA", "DEMOB", "DEMOC"], features="egemaps", progress=False)
    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", "DEMOA", "DEMOB", "--model", "egemaps_svm",
            "--data_dir", str(tmp_path / "data"), "--output", str(tmp_path / "output"), "--bootstrap", "20",
            "--no_progress", "--max_jobs", "1"]
    assert loco.main(argv) == 0
    job = tmp_path / "output" / "loco" / "egemaps_svm" / "jobs" / "loco" / "egemaps_svm" / "DEMOA"
    saved = job / "train" / "model_best.skops"
    (job / "test" / PERFORMANCE_NAME).unlink()                 # the kill: trained, not yet evaluated
    before = saved.stat().st_mtime_ns
    capsys.readouterr()
    assert loco.main(argv) == 0
    out = capsys.readouterr().out
    assert saved.stat().st_mtime_ns == before                  # not trained again
    assert (job / "test" / PERFORMANCE_NAME).is_file() and "training egemaps_svm" not in out


def error_rate(confusions: np.ndarray) -> np.ndarray:
    """Share of rows predicted wrong, from confusion matrices (..., K, K)."""
    total = confusions.sum(axis=(-2, -1))
    right = np.trace(confusions, axis1=-2, axis2=-1)
    return 1.0 - right / np.maximum(total, 1)


@pytest.fixture
def error_rate_metric():
    from specct.stats import metrics

    metric = metrics.register_metric(name="error_rate", function=error_rate, format="{:.3f}",
                                     direction="lower", interval=True, label="error rate")
    yield metric
    metrics.unregister_metric("error_rate")


@pytest.mark.slow
def test_a_metric_added_to_the_table_reaches_every_output(majority_kind, error_rate_metric, demo_split, tmp_path):
    from specct import loco

    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", "DEMOA", "DEMOB", "--model", "majority",
            "--data_dir", str(tmp_path / "data"), "--output", str(tmp_path / "output"), "--bootstrap", "50",
            "--no_progress", "--report"]
    assert loco.main(argv) == 0
    folder = tmp_path / "output" / "loco" / "majority"
    results = pd.read_csv(folder / loco.RESULTS_CSV)
    assert {"error_rate", "error_rate_ci_low", "error_rate_ci_high"} <= set(results.columns)
    per_corpus = results[results["held_out"] != "mean"]
    assert np.allclose(per_corpus["error_rate"], 1 - per_corpus["accuracy"], atol=1e-6)
    assert (per_corpus["error_rate_ci_low"] <= per_corpus["error_rate"]).all()
    assert "error rate (95% CI)" in (folder / loco.RESULTS_MD).read_text()
    page = (folder / "report.html").read_text()
    assert "error rate (95% CI)" in page
    shown = f"{per_corpus['error_rate'].iloc[0]:.3f}"
    assert shown in page
