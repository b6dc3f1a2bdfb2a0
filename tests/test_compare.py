"""Paired bootstrap and the results tables, on made-up predictions, against a slow reference."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from specct import compare
from specct.errors import InputError
from specct.metrics import uar

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
