"""Evaluation: repeatable metrics equal to scikit-learn's, output files, and clear errors."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from specct.core.checkpoint import BEST_NAME, CheckpointError
from specct.data.split_rows import SplitError
from specct.stages.evaluate import CONFUSION_NAME, PERFORMANCE_NAME, PREDICTIONS_NAME, default_output_dir, evaluate
from specct.stages.evaluate import main as eval_main
from specct.stats.metrics import accuracy, bootstrap_ci, uar


@pytest.fixture(scope="module")
def evaluated(trained_run, tmp_path_factory):
    first = evaluate(trained_run, output=tmp_path_factory.mktemp("eval_a"), bootstrap=200, progress=False)
    second = evaluate(trained_run, output=tmp_path_factory.mktemp("eval_b"), bootstrap=200, progress=False)
    return first, second


def test_writes_the_three_result_files(evaluated, demo_split):
    result, _ = evaluated
    for name in (PERFORMANCE_NAME, CONFUSION_NAME, PREDICTIONS_NAME):
        assert (result.output_dir / name).is_file(), name
    predictions = pd.read_csv(result.output_dir / PREDICTIONS_NAME)
    assert list(predictions.columns[:5]) == ["file", "wav", "truth", "prediction", "prob_anger"]
    test_rows = pd.read_csv(demo_split.test_csv)
    assert list(predictions["file"]) == list(test_rows["image"])
    probabilities = predictions[[f"prob_{c}" for c in ("anger", "happy", "neutral", "sad")]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert (predictions["prediction"] == np.array(["anger", "happy", "neutral", "sad"])[probabilities.argmax(1)]).all()


def test_metrics_are_repeatable_and_equal_scikit_learn(evaluated):
    first, second = evaluated
    assert first.performance == second.performance
    saved = yaml.safe_load((first.output_dir / PERFORMANCE_NAME).read_text())
    predictions = pd.read_csv(first.output_dir / PREDICTIONS_NAME)
    truth, predicted = predictions["truth"], predictions["prediction"]
    assert saved["uar"] == pytest.approx(balanced_accuracy_score(truth, predicted))
    assert saved["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    labels = ["anger", "happy", "neutral", "sad"]
    assert saved["macro"]["f1"] == pytest.approx(f1_score(truth, predicted, labels=labels, average="macro",
                                                          zero_division=0))
    assert sum(v["support"] for v in saved["per_class"].values()) == len(predictions) == saved["samples"]
    low, high = saved["confidence_interval_95"]["uar"]
    assert low <= saved["uar"] <= high
    assert np.asarray(saved["confusion_matrix"]).sum() == len(predictions)


def test_default_output_mirrors_the_training_folder(tmp_path):
    run = tmp_path / "output" / "train" / "m-scratch" / "EMODB" / "4_classes" / "no_aug" / "no_balanced"
    assert default_output_dir(run) == (tmp_path / "output" / "test" / "m-scratch" / "EMODB" / "4_classes"
                                       / "no_aug" / "no_balanced").resolve()


def test_uar_and_bootstrap_against_scikit_learn():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 4, 300)
    predicted = np.where(rng.random(300) < 0.6, truth, rng.integers(0, 4, 300))
    assert uar(truth, predicted) == pytest.approx(balanced_accuracy_score(truth, predicted))
    assert accuracy(truth, predicted) == pytest.approx(accuracy_score(truth, predicted))
    ci = bootstrap_ci(truth, predicted, uar, num_resamples=300, seed=1)
    assert ci == bootstrap_ci(truth, predicted, uar, num_resamples=300, seed=1)
    assert ci[0] < uar(truth, predicted) < ci[1] and ci[1] - ci[0] < 0.2


# --------------------------------------------------------------------------- errors

def test_missing_checkpoint(trained_run, tmp_path):
    shutil.copy(trained_run / "args.yaml", tmp_path / "args.yaml")
    with pytest.raises(CheckpointError, match="model_best.pth.tar: checkpoint not found"):
        evaluate(tmp_path, progress=False)


def test_corrupt_checkpoint(trained_run, tmp_path):
    shutil.copy(trained_run / "args.yaml", tmp_path / "args.yaml")
    (tmp_path / BEST_NAME).write_bytes((trained_run / BEST_NAME).read_bytes()[:5000])  # cut short
    with pytest.raises(CheckpointError, match="corrupt"):
        evaluate(tmp_path, progress=False)


def test_test_set_with_other_classes(trained_run, demo_split, tmp_path):
    frame = pd.read_csv(demo_split.test_csv)
    frame.loc[0, "label"] = "boredom"
    frame.to_csv(tmp_path / "test.csv", index=False)
    with pytest.raises(SplitError, match="boredom.*not among the model's classes"):
        evaluate(trained_run, data_test_path=tmp_path, output=tmp_path / "out", progress=False)


def test_command_line_reports_errors_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        eval_main([str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("eval.py: error:") and "model_best.pth.tar" in err and "\n" not in err


def test_training_curves_mark_whole_epochs_only(tmp_path, monkeypatch):
    from specct.figures import plots

    drawn = {}
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, paper=False: drawn.setdefault("fig", fig))
    summary = pd.DataFrame({"epoch": [1, 2], "train_loss": [1.4, 1.3], "val_loss": [1.5, 1.2],
                            "val_accuracy": [0.3, 0.4], "val_uar": [0.25, 0.35]})
    plots.plot_curves(summary, tmp_path / "curves.png")
    for ax in drawn["fig"].axes:
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_eval_threads_flag_reaches_evaluate(monkeypatch):
    """eval.py passes --threads on (None: evaluate runs torch on specct.core.threads.default_threads())."""
    import specct.stages.evaluate

    seen = []
    monkeypatch.setattr(specct.stages.evaluate, "evaluate", lambda *args, **kwargs: seen.append(kwargs["threads"]))
    eval_main(["run"])
    eval_main(["run", "--threads", "3"])
    assert seen == [None, 3]
