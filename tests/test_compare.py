"""The metrics table, the one vectorised bootstrap, the paired bootstrap and the results tables, on
made-up predictions, against slow references."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, precision_recall_fscore_support

from specct.stats import compare, metrics
from specct.core.errors import InputError
from specct.stats.metrics import accuracy, uar

ROWS = 200


def made_up(seed: int = 1):
    """Truth of 200 rows (four classes), a reference wrong on 60 rows, a system right on 20 of those."""
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(4), ROWS // 4)
    reference = truth.copy()
    wrong = rng.choice(ROWS, 60, replace=False)
    reference[wrong] = (truth[wrong] + 1 + rng.integers(0, 3, 60)) % 4
    better = reference.copy()
    better[wrong[:20]] = truth[wrong[:20]]
    return truth, reference, better


def slow_paired_bootstrap(truth, system, reference, resamples, seed):
    """The textbook version: one draw at a time, scikit-learn style UAR of each system on it."""
    rng = np.random.default_rng(seed)
    observed = uar(truth, system) - uar(truth, reference)
    diffs = []
    for _ in range(resamples):
        pick = rng.integers(0, len(truth), len(truth))
        diffs.append(uar(truth[pick], system[pick]) - uar(truth[pick], reference[pick]))
    diffs = np.array(diffs)
    low, high = np.percentile(diffs, [2.5, 97.5])
    p = (1 + np.sum(np.abs(diffs - observed) >= abs(observed) - 1e-12)) / (resamples + 1)
    return observed, low, high, p


def test_identical_systems_are_a_tie_with_p_one():
    truth, reference, _ = made_up()
    result = compare.paired_bootstrap(truth, reference, reference.copy(), resamples=2000, seed=0)
    assert result.difference == 0.0
    assert result.p_value == pytest.approx(1.0)
    assert result.low == result.high == 0.0
    assert not result.significant


def test_twenty_more_right_answers_are_a_real_difference():
    truth, reference, better = made_up()
    result = compare.paired_bootstrap(truth, better, reference, resamples=2000, seed=0)
    assert result.difference == pytest.approx(uar(truth, better) - uar(truth, reference))
    assert result.difference == pytest.approx(20 / ROWS)      # balanced classes: 20 rows = 0.1 UAR
    assert result.low > 0 and result.p_value < 0.01 and result.significant
    # the other way round: the same interval mirrored, still significant
    reverse = compare.paired_bootstrap(truth, reference, better, resamples=2000, seed=0)
    assert reverse.difference == pytest.approx(-result.difference)
    assert reverse.high < 0 and reverse.significant


def test_vectorised_draws_match_the_slow_reference():
    truth, reference, better = made_up(seed=3)
    better[:5] = (truth[:5] + 1) % 4    # make the difference smaller, so p is not at its floor
    fast = compare.paired_bootstrap(truth, better, reference, resamples=1000, seed=7)
    observed, low, high, p = slow_paired_bootstrap(truth, better, reference, 1000, seed=7)
    # the same seeded generator draws the same rows in the same order, so the numbers agree exactly
    assert fast.difference == pytest.approx(observed)
    assert fast.low == pytest.approx(low) and fast.high == pytest.approx(high)
    assert fast.p_value == pytest.approx(p)


def test_class_names_work_like_codes_and_a_class_missing_from_a_draw_is_left_out():
    truth, reference, better = made_up()
    names = np.array(["anger", "happy", "neutral", "sad"])
    coded = compare.paired_bootstrap(truth, better, reference, resamples=300, seed=0)
    named = compare.paired_bootstrap(names[truth], names[better], names[reference], resamples=300, seed=0)
    assert coded == named
    tiny = compare.bootstrap_uar(["a", "a", "b"], ["a", "b", "b"], resamples=500, seed=0)
    assert tiny.value == pytest.approx(0.75) and 0 <= tiny.low <= tiny.high <= 1


def test_mean_over_corpora_resamples_within_each_corpus():
    truth, reference, better = made_up()
    groups = [(truth, better, reference), (truth[:100], reference[:100], reference[:100])]
    result = compare.stratified_paired(groups, resamples=1000, seed=0)
    assert result.difference == pytest.approx((0.1 + 0.0) / 2)
    assert result.n == 300
    mean = compare.stratified_uar([(truth, better), (truth, reference)], resamples=1000, seed=0)
    assert mean.value == pytest.approx((uar(truth, better) + uar(truth, reference)) / 2)
    assert mean.low < mean.value < mean.high


def predictions_frame(files, truth, prediction):
    names = np.array(["anger", "happy", "neutral", "sad"])
    return pd.DataFrame({"file": files, "truth": names[truth], "prediction": names[prediction]})


def test_results_and_comparison_tables():
    truth, reference, better = made_up()
    files = [f"row{i}.png" for i in range(ROWS)]
    order = np.random.default_rng(0).permutation(ROWS)   # rows may come in any order: matched by file
    predictions = {}
    for corpus in ("EMODB", "RAVDESS"):
        predictions[("ref", corpus)] = predictions_frame(files, truth, reference)
        predictions[("new", corpus)] = predictions_frame(files, truth, better).iloc[order]
    results = compare.results_table(predictions, ["ref", "new"], ["EMODB", "RAVDESS"], resamples=300)
    assert list(results["held_out"]) == ["EMODB", "RAVDESS", "mean"] * 2
    assert (results["uar_ci_low"] <= results["uar"]).all() and (results["uar"] <= results["uar_ci_high"]).all()
    comparison = compare.comparison_table(predictions, ["ref", "new"], ["EMODB", "RAVDESS"], "ref", resamples=300)
    assert list(comparison["held_out"]) == ["EMODB", "RAVDESS", "mean"]
    assert comparison["difference"].to_numpy() == pytest.approx([0.1, 0.1, 0.1])
    assert comparison["significant"].all()


def test_systems_tested_on_different_rows_cannot_be_compared():
    truth, reference, better = made_up()
    files = [f"row{i}.png" for i in range(ROWS)]
    predictions = {("ref", "EMODB"): predictions_frame(files, truth, reference),
                   ("new", "EMODB"): predictions_frame(files[:-1] + ["other.png"], truth, better)}
    with pytest.raises(InputError, match="not tested on the same rows"):
        compare.comparison_table(predictions, ["ref", "new"], ["EMODB"], "ref", resamples=10)


# --------------------------------------------------------------------------- the metrics table

def noisy(n: int, k: int, seed: int, right: float = 0.6):
    """Truth of n rows over k classes (the last one rare) and predictions right about ``right`` of the time."""
    rng = np.random.default_rng(seed)
    weights = np.r_[np.ones(k - 1), 0.15]
    truth = rng.choice(k, n, p=weights / weights.sum())
    predicted = np.where(rng.random(n) < right, truth, rng.integers(0, k, n))
    return truth, predicted


def slow_metric(name, truth, predicted):
    """Each metric of the table the textbook way, on labels."""
    if name == "uar":
        return uar(truth, predicted)
    if name == "accuracy":
        return accuracy(truth, predicted)
    if name == "macro_f1":
        return f1_score(truth, predicted, average="macro", zero_division=0)
    raise KeyError(name)


def slow_bootstrap(groups, resamples, seed, name):
    """One draw at a time, one group after the other on one generator; the mean over groups per draw."""
    rng = np.random.default_rng(seed)
    values = np.zeros(resamples)
    for truth, predicted in groups:
        for b in range(resamples):
            pick = rng.integers(0, len(truth), len(truth))
            values[b] += slow_metric(name, truth[pick], predicted[pick])
    values /= len(groups)
    observed = np.mean([slow_metric(name, t, p) for t, p in groups])
    low, high = np.percentile(values, [2.5, 97.5])
    return observed, low, high


@pytest.fixture
def own_table(monkeypatch):
    """A copy of the metrics table for the test to add to; the module's table is restored afterwards."""
    monkeypatch.setattr(metrics, "METRICS", list(metrics.METRICS))
    return metrics.METRICS


def error_rate(confusion):
    return 1.0 - metrics.accuracy_of_confusion(confusion)


def test_the_table_has_todays_metrics_in_todays_order():
    names = [m.name for m in metrics.METRICS]
    assert names[:3] == ["uar", "accuracy", "macro_f1"]
    assert [m.name for m in metrics.METRICS if m.interval][:1] == ["uar"]
    assert compare.results_columns()[:8] == ["system", "held_out", "n", "uar", "uar_ci_low", "uar_ci_high",
                                             "accuracy", "macro_f1"]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_confusion_metrics_equal_scikit_learn_on_labels_and_work_on_batches():
    batch = []
    for seed in range(6):
        truth, predicted = noisy(150, 5, seed, right=0.4)
        if seed == 5:
            predicted[predicted == 4] = 0      # a class in the truth never predicted
        if seed == 4:
            truth[truth == 4] = 1              # a class predicted, never in the truth
        cm = metrics.confusion(truth, predicted, 5)
        assert (cm == metrics.confusion(truth, predicted, 5)).all() and cm.sum() == 150
        assert metrics.get_metric("uar")(cm) == pytest.approx(balanced_accuracy_score(truth, predicted))
        assert metrics.get_metric("uar")(cm) == pytest.approx(uar(truth, predicted))
        assert metrics.get_metric("accuracy")(cm) == pytest.approx(accuracy_score(truth, predicted))
        assert metrics.get_metric("macro_f1")(cm) == pytest.approx(
            f1_score(truth, predicted, average="macro", zero_division=0))
        batch.append(cm)
    stacked = np.stack(batch).reshape(2, 3, 5, 5)
    for metric in metrics.METRICS:
        values = metric(stacked)
        assert values.shape == (2, 3)
        assert values.ravel() == pytest.approx([float(metric(cm)) for cm in batch])
    # a class absent from both truth and predictions is left out of the macro-F1, as results.csv does
    truth, predicted = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    assert metrics.get_metric("macro_f1")(metrics.confusion(truth, predicted, 4)) == pytest.approx(
        f1_score(truth, predicted, average="macro"))
    assert np.isnan(metrics.get_metric("uar")(np.zeros((3, 3))))


def test_vectorised_intervals_equal_the_slow_loop_for_every_metric(monkeypatch):
    truth, predicted = noisy(23, 3, seed=4)     # small: some draws miss the rare class
    fast = compare.bootstrap_intervals(truth, predicted, resamples=400, seed=11)
    monkeypatch.setattr(metrics, "CHUNK_CELLS", 100)   # blocks of 4 draws: the same draws
    chunked = compare.bootstrap_intervals(truth, predicted, resamples=400, seed=11)
    assert chunked == fast
    for name in ("uar", "accuracy", "macro_f1"):
        observed, low, high = slow_bootstrap([(truth, predicted)], 400, 11, name)
        assert (fast[name].value, fast[name].low, fast[name].high) == pytest.approx((observed, low, high), abs=1e-12)
        assert metrics.bootstrap_ci(truth, predicted, name, num_resamples=400, seed=11) == pytest.approx(
            (low, high), abs=1e-12)
    by_function = metrics.bootstrap_ci(truth, predicted, uar, num_resamples=400, seed=11)
    assert by_function == (fast["uar"].low, fast["uar"].high)
    assert compare.bootstrap_uar(truth, predicted, 400, 11) == fast["uar"]
    with pytest.raises(TypeError, match="not a metric of the table"):
        metrics.bootstrap_ci(truth, predicted, lambda t, p: 0.0)


def test_stratified_intervals_equal_the_slow_loop_within_each_corpus():
    groups = [noisy(17, 3, seed=1), noisy(30, 4, seed=2)]
    fast = compare.stratified_intervals(groups, resamples=300, seed=5)
    for name in ("uar", "accuracy", "macro_f1"):
        observed, low, high = slow_bootstrap(groups, 300, 5, name)
        assert (fast[name].value, fast[name].low, fast[name].high) == pytest.approx((observed, low, high), abs=1e-12)
    assert compare.stratified_uar(groups, resamples=300, seed=5) == fast["uar"]


def test_paired_bootstrap_of_another_metric_uses_the_same_draws():
    truth, reference, better = made_up(seed=2)
    result = compare.paired_bootstrap(truth, better, reference, resamples=300, seed=3, metric="accuracy")
    assert result.metric == "accuracy"
    assert result.difference == pytest.approx(accuracy(truth, better) - accuracy(truth, reference))
    rng = np.random.default_rng(3)
    diffs = []
    for _ in range(300):
        pick = rng.integers(0, ROWS, ROWS)
        diffs.append(accuracy(truth[pick], better[pick]) - accuracy(truth[pick], reference[pick]))
    assert (result.low, result.high) == pytest.approx(tuple(np.percentile(diffs, [2.5, 97.5])), abs=1e-12)


def test_registering_a_metric_checks_it():
    with pytest.raises(ValueError, match="in the table already"):
        metrics.register_metric(name="uar", function=metrics.uar_of_confusion)
    with pytest.raises(ValueError, match="taken by another column"):
        metrics.Metric("n", metrics.accuracy_of_confusion)
    with pytest.raises(ValueError, match="direction"):
        metrics.Metric("error", error_rate, direction="down")
    with pytest.raises(KeyError, match="no metric"):
        metrics.get_metric("kappa")


def loco_predictions():
    truth, reference, better = made_up()
    files = [f"row{i}.png" for i in range(ROWS)]
    predictions = {}
    for corpus, rows in (("EMODB", slice(None)), ("RAVDESS", slice(0, 120))):
        predictions[("ref", corpus)] = predictions_frame(files[rows], truth[rows], reference[rows])
        predictions[("new", corpus)] = predictions_frame(files[rows], truth[rows], better[rows])
    return predictions


def test_a_metric_added_at_run_time_is_a_column_of_every_table(own_table):
    metrics.register_metric(name="error_rate", function=error_rate, format="{:.2f}", direction="lower",
                            interval=True, label="error rate")
    predictions = loco_predictions()
    results = compare.results_table(predictions, ["ref", "new"], ["EMODB", "RAVDESS"], resamples=200)
    assert list(results.columns) == ["system", "held_out", "n", "uar", "uar_ci_low", "uar_ci_high", "accuracy",
                                     "macro_f1", "error_rate", "error_rate_ci_low", "error_rate_ci_high"]
    # both rounded to 4 decimals (CSV_DECIMALS)
    assert results["error_rate"].to_numpy() == pytest.approx(1 - results["accuracy"].to_numpy(), abs=2e-4)
    # the same draws: the error rate's interval is the accuracy's, mirrored
    for _, row in results.iterrows():
        assert row["error_rate_ci_low"] <= row["error_rate"] <= row["error_rate_ci_high"]
        assert row["error_rate_ci_low"] < row["error_rate_ci_high"]
    first = results.iloc[0]
    truth = predictions[("ref", "EMODB")]["truth"].to_numpy()
    predicted = predictions[("ref", "EMODB")]["prediction"].to_numpy()
    low, high = metrics.bootstrap_ci(truth, predicted, "accuracy", num_resamples=200, seed=0)
    assert (first["error_rate_ci_low"], first["error_rate_ci_high"]) == pytest.approx((1 - high, 1 - low), abs=1e-4)

    text = compare.markdown_results(results, None)
    header = text.splitlines()[0]
    assert header == "| system | held-out corpus | n | UAR (95% CI) | accuracy | macro-F1 | error rate (95% CI) |"
    assert text.splitlines()[1] == "|---|---|---:|---:|---:|---:|---:|"
    assert text.splitlines()[2].endswith(f"| {first['error_rate']:.2f} ({first['error_rate_ci_low']:.2f}-"
                                         f"{first['error_rate_ci_high']:.2f}) |")

    truth, predicted = noisy(90, 4, seed=8)
    report = metrics.classification_report(truth, predicted, list("abcd"), bootstrap=100, seed=2)
    assert report["error_rate"] == pytest.approx(1 - accuracy(truth, predicted))
    assert list(report["confidence_interval_95"]) == ["uar", "accuracy", "error_rate"]
    low, high = report["confidence_interval_95"]["accuracy"]
    assert report["confidence_interval_95"]["error_rate"] == pytest.approx([1 - high, 1 - low])

    metrics.unregister_metric("error_rate")
    assert "error_rate" not in compare.results_table(predictions, ["ref"], ["EMODB"], resamples=20).columns


def test_results_csv_keeps_its_columns_and_prints_short_numbers(tmp_path):
    results = compare.results_table(loco_predictions(), ["ref", "new"], ["EMODB", "RAVDESS"], resamples=300)
    assert list(results.columns) == ["system", "held_out", "n", "uar", "uar_ci_low", "uar_ci_high",
                                     "accuracy", "macro_f1"]
    assert list(results["n"]) == [200, 120, 320] * 2
    mean = results[(results["system"] == "new") & (results["held_out"] == "mean")].iloc[0]
    mine = results[(results["system"] == "new") & (results["held_out"] != "mean")]
    assert mean["accuracy"] == pytest.approx(mine["accuracy"].mean(), abs=1e-4)      # each rounded to 4 decimals
    assert mean["macro_f1"] == pytest.approx(mine["macro_f1"].mean(), abs=1e-4)
    path = tmp_path / "results.csv"
    results.to_csv(path, index=False)
    comparison = compare.comparison_table(loco_predictions(), ["ref", "new"], ["EMODB", "RAVDESS"], "ref",
                                          resamples=300)
    comparison.to_csv(tmp_path / "comparison.csv", index=False)
    for name in ("results.csv", "comparison.csv"):
        numbers = re.findall(r"\d+\.(\d+)", (tmp_path / name).read_text())
        assert numbers and max(len(decimals) for decimals in numbers) <= 4      # 0.03, not 0.030000000000000027
    assert compare.CSV_DECIMALS == 4


def todays_tables():
    results = pd.DataFrame({"system": ["cct", "cct", "cct", "svm"], "held_out": ["EMODB", "RAVDESS", "mean", "EMODB"],
                            "n": [535, 1440, 1975, 535], "uar": [0.61234, 0.4, 0.50617, np.nan],
                            "uar_ci_low": [0.57, 0.37149, 0.48, np.nan], "uar_ci_high": [0.65, 0.43, 0.5321, np.nan],
                            "accuracy": [0.6, 0.41, 0.505, 0.3], "macro_f1": [0.59, np.nan, 0.5, 0.2999]})
    comparison = pd.DataFrame({"system": ["svm", "svm"], "reference": ["cct", "cct"], "held_out": ["EMODB", "mean"],
                               "n": [535, 1975], "uar_system": [0.3, 0.3], "uar_reference": [0.61, 0.5],
                               "difference": [-0.31, 0.0021], "ci_low": [-0.35, -0.01], "ci_high": [-0.27, 0.015],
                               "p_value": [0.0005, 0.6], "significant": [True, False]})
    return results, comparison


# results.md as specct.loco.markdown_results printed the tables above before the metrics table
TODAYS_MARKDOWN = (
    "| system | held-out corpus | n | UAR (95% CI) | accuracy | macro-F1 |\n"
    "|---|---|---:|---:|---:|---:|\n"
    "| cct | EMODB | 535 | 0.612 (0.570-0.650) | 0.600 | 0.590 |\n"
    "| cct | RAVDESS | 1440 | 0.400 (0.371-0.430) | 0.410 | - |\n"
    "| cct | mean | 1975 | 0.506 (0.480-0.532) | 0.505 | 0.500 |\n"
    "| svm | EMODB | 535 | - (---) | 0.300 | 0.300 |\n"
    "\n"
    "| system | vs reference | held-out corpus | UAR difference (95% CI) | p | verdict |\n"
    "|---|---|---|---:|---:|---|\n"
    "| svm | cct | EMODB | -0.310 (-0.350 to -0.270) | 0.0005 | **worse** |\n"
    "| svm | cct | mean | +0.002 (-0.010 to +0.015) | 0.6000 | tie |\n")


def test_markdown_results_prints_todays_tables_as_before():
    results, comparison = todays_tables()
    assert compare.markdown_results(results, comparison) == TODAYS_MARKDOWN
    results_only = TODAYS_MARKDOWN.split("\n\n")[0] + "\n"
    assert compare.markdown_results(results, None) == results_only
    assert compare.markdown_results(results, comparison.iloc[:0]) == results_only


# --------------------------------------------------------------------------- performance.yaml

def slow_bootstrap_ci(truth, predicted, metric, resamples, seed):
    """performance.yaml's interval before the vectorised bootstrap: one draw at a time."""
    rng = np.random.default_rng(seed)
    values = [metric(truth[pick], predicted[pick])
              for pick in (rng.integers(0, truth.size, truth.size) for _ in range(resamples))]
    low, high = np.percentile(values, [2.5, 97.5])
    return [float(low), float(high)]


def test_classification_report_is_todays_performance_yaml_plus_the_table():
    truth, predicted = noisy(131, 5, seed=6, right=0.5)
    truth[truth == 4] = 3                         # a class of the model absent from the truth
    names = ["anger", "happy", "neutral", "sad", "fear"]
    report = metrics.classification_report(truth, predicted, names, bootstrap=250, seed=3)
    assert list(report) == ["samples", "accuracy", "uar", "macro", "micro", "per_class", "confidence_interval_95",
                            "bootstrap", "confusion_matrix", "class_names", "macro_f1"]
    assert report["samples"] == 131 and report["class_names"] == names
    assert report["uar"] == uar(truth, predicted) and report["accuracy"] == accuracy(truth, predicted)
    for average in ("macro", "micro"):
        p, r, f, _ = precision_recall_fscore_support(truth, predicted, labels=range(5), average=average,
                                                     zero_division=0)
        assert report[average] == {"precision": float(p), "recall": float(r), "f1": float(f)}
    assert report["per_class"]["fear"] == {"recall": None, "support": 0}
    assert report["per_class"]["anger"]["support"] == int(np.sum(truth == 0))
    assert report["confusion_matrix"] == metrics.confusion(truth, predicted, 5).tolist()
    assert report["bootstrap"] == {"resamples": 250, "seed": 3}
    assert report["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro", zero_division=0))
    # the intervals are, to the bit, those of the loop they replace
    assert report["confidence_interval_95"] == {"uar": slow_bootstrap_ci(truth, predicted, uar, 250, 3),
                                                "accuracy": slow_bootstrap_ci(truth, predicted, accuracy, 250, 3)}
    assert all(isinstance(v, float) for pair in report["confidence_interval_95"].values() for v in pair)
