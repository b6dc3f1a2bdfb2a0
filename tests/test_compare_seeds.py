"""results.csv and comparison.csv with several training seeds per (system, held-out corpus): the
two-level bootstrap (seeds, then rows within each corpus), the seed columns, the pairing of seeds,
and that one run everywhere gives the tables of one run, number for number."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from specct.stats import compare, metrics
from specct.core.errors import InputError
from specct.stats.metrics import uar
from specct.core.seeding import rng_for

CLASSES = np.array(["anger", "happy", "neutral", "sad"])


def frame(files, truth, predicted) -> pd.DataFrame:
    return pd.DataFrame({"file": list(files), "truth": CLASSES[truth], "prediction": CLASSES[predicted]})


def balanced(n_per_class: int = 50):
    truth = np.repeat(np.arange(4), n_per_class)
    return truth, [f"row{i}.wav" for i in range(len(truth))]


def right_on(truth, share: float, offset: int = 0):
    """Predictions right on ``share`` of each class's rows (the first ones after ``offset``, cyclically),
    wrong (the next class) on the others: UAR = share exactly."""
    predicted = (truth + 1) % 4
    for c in range(4):
        rows = np.flatnonzero(truth == c)
        count = int(round(share * len(rows)))
        chosen = np.roll(rows, -offset)[:count]
        predicted[chosen] = c
    return predicted


# --------------------------------------------------------------------------- today's tables, kept here

def _todays_rounded(table: pd.DataFrame) -> pd.DataFrame:
    floats = [c for c in table.columns if pd.api.types.is_float_dtype(table[c])]
    return table.round({c: 4 for c in floats})     # CSV_DECIMALS (6 before)


def todays_results_table(predictions, systems, corpora, resamples=2000, seed=0):
    """results_table as it was before seeds: one frame per (system, corpus)."""
    table = list(metrics.METRICS)
    columns = ["system", "held_out", "n"]
    for m in table:
        columns += [m.name] + ([f"{m.name}_ci_low", f"{m.name}_ci_high"] if m.interval else [])

    def cells(intervals):
        out = {}
        for m in table:
            out[m.name] = intervals[m.name].value
            if m.interval:
                out[f"{m.name}_ci_low"], out[f"{m.name}_ci_high"] = intervals[m.name].low, intervals[m.name].high
        return out

    rows = []
    for system in systems:
        groups, total = [], 0
        for corpus in corpora:
            run = predictions.get((system, corpus))
            if run is None:
                continue
            truth, predicted = run["truth"].astype(str).to_numpy(), run["prediction"].astype(str).to_numpy()
            intervals = compare.stratified_intervals([(truth, predicted)], resamples, seed, metrics=table)
            rows.append({"system": system, "held_out": corpus, "n": len(run), **cells(intervals)})
            groups.append((truth, predicted))
            total += len(run)
        if len(groups) > 1:
            intervals = compare.stratified_intervals(groups, resamples, seed, metrics=table)
            rows.append({"system": system, "held_out": "mean", "n": int(total), **cells(intervals)})
    return _todays_rounded(pd.DataFrame(rows, columns=columns))


def todays_comparison_table(predictions, systems, corpora, reference, resamples=2000, seed=0):
    """comparison_table as it was before seeds."""
    def row(system, held_out, groups):
        result = compare.stratified_paired(groups, resamples, seed)
        return {"system": system, "reference": reference, "held_out": held_out, "n": result.n,
                "uar_system": result.uar_system, "uar_reference": result.uar_reference,
                "difference": result.difference, "ci_low": result.low, "ci_high": result.high,
                "p_value": result.p_value, "significant": bool(result.significant)}

    rows = []
    for system in systems:
        if system == reference:
            continue
        groups = []
        for corpus in corpora:
            pair = {s: predictions.get((s, corpus)) for s in (system, reference)}
            if any(f is None for f in pair.values()):
                continue
            aligned = compare.align_predictions(pair, corpus)
            group = (aligned["truth"].to_numpy(), aligned[system].to_numpy(), aligned[reference].to_numpy())
            groups.append(group)
            rows.append(row(system, corpus, [group]))
        if len(groups) > 1:
            rows.append(row(system, "mean", groups))
    return _todays_rounded(pd.DataFrame(rows, columns=compare.COMPARISON_COLUMNS))


def one_run_experiment():
    """Three systems on three corpora of different sizes and classes, rows shuffled per system, one
    system without one corpus."""
    rng = np.random.default_rng(11)
    predictions = {}
    for corpus, n, k in (("EMODB", 180, 4), ("RAVDESS", 97, 3), ("TUREVDB", 61, 4)):
        truth = rng.integers(0, k, n)
        files = [f"{corpus}_{i}.wav" for i in range(n)]
        for i, (system, right) in enumerate((("svm", 0.45), ("cct", 0.6), ("speaker_cct", 0.55))):
            predicted = np.where(rng.random(n) < right, truth, rng.integers(0, 4, n))
            predictions[(system, corpus)] = frame(files, truth, predicted).sample(frac=1, random_state=i)
    del predictions[("speaker_cct", "RAVDESS")]
    return predictions, ["svm", "cct", "speaker_cct"], ["EMODB", "RAVDESS", "TUREVDB"]


# --------------------------------------------------------------------------- one seed: today's tables

@pytest.mark.parametrize("as_lists", [False, True])
def test_one_seed_reproduces_todays_results_and_comparison_exactly(as_lists):
    predictions, systems, corpora = one_run_experiment()
    expected_results = todays_results_table(predictions, systems, corpora, 400, seed=3)
    expected_comparison = todays_comparison_table(predictions, systems, corpora, "svm", 400, seed=3)
    given = {key: [run] for key, run in predictions.items()} if as_lists else predictions
    results = compare.results_table(given, systems, corpora, 400, 3)
    comparison = compare.comparison_table(given, systems, corpora, "svm", 400, 3)
    pd.testing.assert_frame_equal(results, expected_results, check_exact=True)
    pd.testing.assert_frame_equal(comparison, expected_comparison, check_exact=True)
    assert not set(compare.SEED_COLUMNS) & set(results.columns)
    assert "seeds" not in comparison.columns


def test_the_bulk_confusions_are_those_of_the_one_bootstrap():
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 5, 333)
    runs = [rng.integers(0, 5, 333) for _ in range(4)]
    counts = compare._RowCounts().counts(("any",), 333, 700, np.random.default_rng(9))
    fast = compare._confusions(truth, runs, 5, counts)
    slow = metrics.confusion_draws(truth, runs, 5, 700, np.random.default_rng(9))
    assert fast.dtype == slow.dtype and np.array_equal(fast, slow)


# --------------------------------------------------------------------------- several seeds

def test_seed_noise_widens_the_interval():
    truth, files = balanced(60)
    agree = [frame(files, truth, right_on(truth, 0.6))] * 3
    disagree = [frame(files, truth, right_on(truth, share, offset)) for share, offset in
                ((0.45, 0), (0.6, 7), (0.75, 13))]
    predictions = {("agree", "EMODB"): agree, ("disagree", "EMODB"): disagree}
    results = compare.results_table(predictions, ["agree", "disagree"], ["EMODB"], resamples=1000, seed=0)
    by = results.set_index("system")
    assert by.loc["agree", "uar"] == pytest.approx(0.6) and by.loc["disagree", "uar"] == pytest.approx(0.6)
    width = by["uar_ci_high"] - by["uar_ci_low"]
    assert width["disagree"] > 1.5 * width["agree"]
    assert by.loc["agree", "uar_seed_sd"] == 0.0 and by.loc["disagree", "uar_seed_sd"] == pytest.approx(0.15)


def test_identical_systems_give_p_one_and_no_difference():
    truth, files = balanced(40)
    runs = [frame(files, truth, right_on(truth, share, offset)) for share, offset in ((0.5, 0), (0.7, 5), (0.6, 9))]
    predictions = {}
    for corpus in ("EMODB", "RAVDESS"):
        predictions[("ref", corpus)] = runs
        predictions[("same", corpus)] = [run.copy() for run in runs]
    comparison = compare.comparison_table(predictions, ["ref", "same"], ["EMODB", "RAVDESS"], "ref", resamples=500)
    assert list(comparison["held_out"]) == ["EMODB", "RAVDESS", "mean"]
    assert (comparison["difference"] == 0).all()
    assert (comparison["p_value"] == 1.0).all()
    assert (comparison["ci_low"] == 0).all() and (comparison["ci_high"] == 0).all()
    assert not comparison["significant"].any()
    assert list(comparison["seeds"]) == [3, 3, 3]


def test_a_system_better_on_every_seed_and_every_row_has_a_small_p():
    truth, files = balanced(50)
    predictions = {}
    for corpus in ("EMODB", "RAVDESS"):
        predictions[("ref", corpus)] = [frame(files, truth, right_on(truth, s, o)) for s, o in
                                        ((0.5, 0), (0.55, 0), (0.45, 0))]
        # the same rows right, and 10 more per class: never worse on a row, better on every seed
        predictions[("new", corpus)] = [frame(files, truth, right_on(truth, s + 0.2, o)) for s, o in
                                        ((0.5, 0), (0.55, 0), (0.45, 0))]
    comparison = compare.comparison_table(predictions, ["ref", "new"], ["EMODB", "RAVDESS"], "ref", resamples=1000)
    assert comparison["difference"].to_numpy() == pytest.approx([0.2, 0.2, 0.2])
    assert (comparison["p_value"] < 0.01).all() and comparison["significant"].all()
    assert (comparison["ci_low"] > 0).all()


def test_a_one_run_baseline_is_paired_with_every_seed():
    truth, files = balanced(40)
    baseline = frame(files, truth, right_on(truth, 0.5))
    seeds = [frame(files, truth, right_on(truth, share, 3)) for share in (0.55, 0.6, 0.8)]
    predictions = {("svm", "EMODB"): baseline, ("cct", "EMODB"): seeds}
    comparison = compare.comparison_table(predictions, ["svm", "cct"], ["EMODB"], "svm", resamples=600)
    row = comparison.iloc[0]
    assert row["seeds"] == 3
    assert row["uar_reference"] == pytest.approx(0.5)
    assert row["uar_system"] == pytest.approx((0.55 + 0.6 + 0.8) / 3)
    assert row["difference"] == pytest.approx(np.mean([0.05, 0.1, 0.3]))
    # the same as three identical runs of the baseline
    repeated = compare.comparison_table({("svm", "EMODB"): [baseline] * 3, ("cct", "EMODB"): seeds},
                                        ["svm", "cct"], ["EMODB"], "svm", resamples=600).iloc[0]
    for column in ("difference", "ci_low", "ci_high", "p_value", "uar_system", "uar_reference"):
        assert row[column] == pytest.approx(repeated[column], abs=2e-6)
    # and the other way round: the baseline against the seeded reference
    reverse = compare.comparison_table(predictions, ["svm", "cct"], ["EMODB"], "cct", resamples=600).iloc[0]
    assert reverse["difference"] == pytest.approx(-row["difference"]) and reverse["seeds"] == 3


def test_different_seed_counts_are_a_one_line_error_naming_both():
    truth, files = balanced(10)
    predictions = {("svm", "EMODB"): [frame(files, truth, right_on(truth, 0.5, o)) for o in (0, 1)],
                   ("cct", "EMODB"): [frame(files, truth, right_on(truth, 0.6, o)) for o in (0, 1, 2)]}
    with pytest.raises(InputError) as error:
        compare.comparison_table(predictions, ["svm", "cct"], ["EMODB"], "svm", resamples=10)
    message = str(error.value)
    assert "\n" not in message and "cct" in message and "svm" in message and "3" in message and "2" in message
    assert "EMODB" in message


def test_seeds_on_other_rows_are_an_error():
    truth, files = balanced(10)
    runs = [frame(files, truth, right_on(truth, 0.5)), frame(files[:-1] + ["other.wav"], truth, right_on(truth, 0.6))]
    with pytest.raises(InputError, match="not tested on the same rows"):
        compare.results_table({("cct", "EMODB"): runs}, ["cct"], ["EMODB"], resamples=10)


def test_uar_per_seed_and_its_sd_on_a_hand_computed_case():
    # two classes of 4 rows: seed UARs 0.5, 0.75, 1.0 on EMODB and 0.25, 0.5, 0.5 on RAVDESS
    truth = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    files = [f"r{i}.wav" for i in range(8)]
    emodb = [np.array([0, 0, 1, 1, 1, 1, 0, 0]),      # recalls 0.5, 0.5 -> UAR 0.5
             np.array([0, 0, 0, 1, 1, 1, 1, 0]),      # 0.75, 0.75 -> 0.75
             np.array([0, 0, 0, 0, 1, 1, 1, 1])]      # 1.0
    ravdess = [np.array([0, 1, 1, 1, 0, 0, 0, 1]),    # 0.25, 0.25 -> 0.25
               np.array([0, 0, 1, 1, 1, 1, 0, 0]),    # 0.5
               np.array([1, 1, 0, 0, 0, 0, 1, 1])]    # 0.5, 0.5 -> 0.5
    assert [uar(truth, p) for p in emodb] == [0.5, 0.75, 1.0]
    assert [uar(truth, p) for p in ravdess] == [0.25, 0.5, 0.5]
    predictions = {("cct", "EMODB"): [frame(files, truth, p) for p in emodb],
                   ("cct", "RAVDESS"): [frame(files, truth, p) for p in ravdess],
                   ("svm", "EMODB"): frame(files, truth, emodb[0])}
    results = compare.results_table(predictions, ["cct", "svm"], ["EMODB", "RAVDESS"], resamples=200)
    assert list(results.columns[-3:]) == compare.SEED_COLUMNS == ["seeds", "uar_seed_sd", "uar_per_seed"]
    by = results.set_index(["system", "held_out"])
    assert by.loc[("cct", "EMODB"), "uar"] == pytest.approx(0.75)
    assert by.loc[("cct", "EMODB"), "uar_per_seed"] == "0.500;0.750;1.000"
    assert by.loc[("cct", "EMODB"), "uar_seed_sd"] == pytest.approx(0.25)
    assert by.loc[("cct", "RAVDESS"), "uar_per_seed"] == "0.250;0.500;0.500"
    assert by.loc[("cct", "RAVDESS"), "uar_seed_sd"] == pytest.approx(np.std([0.25, 0.5, 0.5], ddof=1), abs=5e-5)  # 4 decimals
    # the mean row: each seed's mean over the corpora
    assert by.loc[("cct", "mean"), "uar_per_seed"] == "0.375;0.625;0.750"
    assert by.loc[("cct", "mean"), "uar"] == pytest.approx((0.375 + 0.625 + 0.75) / 3, abs=5e-5)
    assert by.loc[("cct", "mean"), "uar_seed_sd"] == pytest.approx(np.std([0.375, 0.625, 0.75], ddof=1), abs=5e-5)
    assert by.loc[("cct", "mean"), "n"] == 16 and by.loc[("cct", "mean"), "seeds"] == 3
    # accuracy is the mean over seeds too (balanced classes: accuracy = UAR here)
    assert by.loc[("cct", "EMODB"), "accuracy"] == pytest.approx(0.75)
    # a one-run system in a table with seeds: one seed, sd 0
    assert by.loc[("svm", "EMODB"), "seeds"] == 1 and by.loc[("svm", "EMODB"), "uar_seed_sd"] == 0.0
    assert by.loc[("svm", "EMODB"), "uar_per_seed"] == "0.500"
    # results.md: the UAR cell ends with the spread
    text = compare.markdown_results(results, None)
    cells = {tuple(line.split(" | ")[:2]): line.split(" | ") for line in text.splitlines()}
    assert cells[("| cct", "EMODB")][3].endswith(") ± 0.250 (3 seeds)")      # after the UAR and its CI
    assert cells[("| svm", "EMODB")][3].endswith(" ± 0.000 (1 seed)")


def slow_two_level(groups, resamples, seed):
    """The two-level paired bootstrap written draw by draw: the seeds each draw picks (the seed stream),
    then the rows within each corpus (the row generator, the corpora in turn), the mean over the
    picked seeds of each system's UAR on those rows, averaged over the corpora."""
    rng = np.random.default_rng(seed)
    seeds = len(groups[0][1])
    uniforms = rng_for(seed, compare.SEED_STREAM).random((resamples, seeds))
    picks = np.minimum((uniforms * seeds).astype(int), seeds - 1)
    rows = [rng.integers(0, len(truth), size=(resamples, len(truth))) for truth, _, _ in groups]
    diffs = np.zeros(resamples)
    for b in range(resamples):
        for (truth, mine, theirs), index in zip(groups, rows):
            pick = index[b]
            diffs[b] += np.mean([uar(truth[pick], mine[s][pick]) - uar(truth[pick], theirs[s][pick])
                                 for s in picks[b]]) / len(groups)
    observed = np.mean([np.mean([uar(t, m) - uar(t, r) for m, r in zip(mine, theirs)]) for t, mine, theirs in groups])
    low, high = np.percentile(diffs, [2.5, 97.5])
    p = (1 + np.sum(np.abs(diffs - observed) >= abs(observed) - 1e-12)) / (resamples + 1)
    return observed, low, high, p


def test_the_vectorised_two_level_bootstrap_matches_a_loop_over_draws():
    rng = np.random.default_rng(4)
    groups, predictions = [], {}
    for corpus, n in (("EMODB", 60), ("RAVDESS", 45)):
        truth = rng.integers(0, 4, n)
        files = [f"{corpus}{i}.wav" for i in range(n)]
        mine = [np.where(rng.random(n) < 0.6, truth, rng.integers(0, 4, n)) for _ in range(3)]
        theirs = [np.where(rng.random(n) < 0.5, truth, rng.integers(0, 4, n)) for _ in range(3)]
        groups.append((truth, mine, theirs))
        predictions[("new", corpus)] = [frame(files, truth, p) for p in mine]
        predictions[("ref", corpus)] = [frame(files, truth, p) for p in theirs]
    comparison = compare.comparison_table(predictions, ["ref", "new"], ["EMODB", "RAVDESS"], "ref", resamples=150,
                                          seed=5)
    mean = comparison[comparison["held_out"] == "mean"].iloc[0]
    observed, low, high, p = slow_two_level(groups, 150, seed=5)
    # the table's numbers are rounded to 4 decimals (CSV_DECIMALS)
    assert mean["difference"] == pytest.approx(observed, abs=5e-5)
    assert mean["ci_low"] == pytest.approx(low, abs=5e-5) and mean["ci_high"] == pytest.approx(high, abs=5e-5)
    assert mean["p_value"] == pytest.approx(p, abs=5e-5)


# --------------------------------------------------------------------------- the figure and the report

def three_seed_results() -> pd.DataFrame:
    return pd.DataFrame({
        "system": ["svm", "svm", "svm", "cct", "cct", "cct"],
        "held_out": ["EMODB", "RAVDESS", "mean"] * 2,
        "n": [100, 80, 180] * 2,
        "uar": [0.5, 0.4, 0.45, 0.6, 0.55, 0.575],
        "uar_ci_low": [0.4, 0.3, 0.38, 0.45, 0.42, 0.5],
        "uar_ci_high": [0.6, 0.5, 0.52, 0.72, 0.66, 0.65],
        "accuracy": [0.5, 0.4, 0.45, 0.6, 0.55, 0.575],
        "macro_f1": [0.5, 0.4, 0.45, 0.6, 0.55, 0.575],
        "seeds": [1, 1, 1, 3, 3, 3],
        "uar_seed_sd": [0.0, 0.0, 0.0, 0.1, 0.05, 0.07],
        "uar_per_seed": ["0.500", "0.400", "0.450", "0.500;0.600;0.700", "0.500;0.550;0.600", "0.500;0.575;0.650"],
    })


def test_the_seed_spread_figure_renders_and_the_report_shows_it(tmp_path):
    from PIL import Image

    from specct.loco.results import plot_seed_spread
    from specct.report.document import heatmap_section

    results = three_seed_results()
    path = plot_seed_spread(results, tmp_path / "seeds.png")
    assert path == tmp_path / "seeds.png" and path.stat().st_size > 1000
    with Image.open(path) as image:
        assert image.size[0] > 300 and image.size[1] > 150
    # read back from results.csv (a one-seed row reads as a number) it renders the same rows
    results.to_csv(tmp_path / "results.csv", index=False)
    assert plot_seed_spread(pd.read_csv(tmp_path / "results.csv"), tmp_path / "again.png") is not None
    # without seed columns: no figure
    assert plot_seed_spread(results.drop(columns=compare.SEED_COLUMNS), tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()

    from specct.loco.results import Collected

    collected = Collected(tmp_path, pd.DataFrame(), results=results)
    section = heatmap_section(tmp_path, collected, ["svm", "cct"], ["EMODB", "RAVDESS"], False)
    seeds = [f for f in section.figures if f.path.name == "seeds.png"]
    assert len(seeds) == 1 and "seed" in seeds[0].caption
