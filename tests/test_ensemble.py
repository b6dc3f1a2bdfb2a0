"""The ensemble system: late fusion of trained systems, weights chosen on the validation rows."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from hostile_helpers import EXPERIMENT, build_small_study, experiment_folder, working_dir
from script_helpers import load_script

from specct import systems
from specct.core.errors import InputError
from specct.stages.evaluate import evaluate
from specct.systems.ensemble import RECORD, choose_weights, fuse, weight_grid
from specct.train import default_args


def test_the_weight_grid_covers_the_simplex():
    grid = weight_grid(3, 0.25)
    assert len(grid) == 15 and all(np.isclose(w.sum(), 1.0) for w in grid)
    assert any(np.allclose(w, [1, 0, 0]) for w in grid) and any(np.allclose(w, [0.25, 0.25, 0.5]) for w in grid)


def test_the_weights_follow_the_member_that_is_right_on_validation_and_ties_go_even():
    targets = np.array([0, 1, 0, 1, 2, 2])
    right = np.eye(3)[targets] * 0.8 + 0.2 / 3
    wrong = np.eye(3)[(targets + 1) % 3] * 0.9 + 0.1 / 3
    weights, score = choose_weights([wrong, right], targets, 0.1)
    assert score == 1.0 and weights[1] > 0.5
    np.testing.assert_allclose(fuse([wrong, right], weights).sum(axis=1), 1.0)
    same, _ = choose_weights([right, right], targets, 0.1)
    np.testing.assert_allclose(same, [0.5, 0.5])


def test_an_ensemble_of_a_system_with_itself_equals_the_system(trained_run, demo_split, tmp_path):
    out = tmp_path / "self_ensemble"
    systems.fit(default_args(demo_split.train_dir, model="ensemble", members=[str(trained_run), str(trained_run)],
                             experiment=str(out), no_progress=True))
    record = yaml.safe_load((out / RECORD).read_text())
    assert [m["weight"] for m in record["members"]] == [0.5, 0.5]
    assert "validation rows" in record["weights_chosen_on"]
    alone = evaluate(trained_run, data_test_path=demo_split.test_csv, output=tmp_path / "alone", bootstrap=20,
                     progress=False)
    fused = evaluate(out, data_test_path=demo_split.test_csv, output=tmp_path / "fused", bootstrap=20,
                     progress=False)
    a = pd.read_csv(tmp_path / "alone" / "predictions.csv")
    f = pd.read_csv(tmp_path / "fused" / "predictions.csv")
    assert (a["prediction"] == f["prediction"]).all()
    prob_columns = [c for c in a.columns if c.startswith("p_") or c.startswith("prob")]
    assert prob_columns, a.columns
    np.testing.assert_allclose(a[prob_columns].to_numpy(), f[prob_columns].to_numpy(), atol=1e-6)
    assert fused.performance["uar"] == alone.performance["uar"]
    wav = pd.read_csv(demo_split.test_csv)["wav"].iloc[:2].tolist()
    single = systems.load(trained_run).predict_files(wav, progress=False, echo=None)
    both = systems.load(out).predict_files(wav, progress=False, echo=None)
    assert [r.emotion for r in single] == [r.emotion for r in both]


def test_an_ensemble_of_members_that_are_not_trained_is_one_line(demo_split, tmp_path):
    with pytest.raises(InputError, match="not trained|no such run folder"):
        systems.fit(default_args(demo_split.train_dir, model="ensemble", members=[str(tmp_path)],
                                 experiment=str(tmp_path / "e"), no_progress=True))


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return build_small_study(tmp_path_factory.mktemp("ensemble_study") / "study")


def test_an_ensemble_is_a_system_of_the_experiment_with_intervals_and_paired_tests(study):
    spec = study / "fusion.yml"
    spec.write_text(yaml.safe_dump({"systems": [
        {"name": "egemaps_svm", "model": "egemaps_svm"},
        {"name": "resemblyzer_svm", "model": "resemblyzer_svm"},
        {"name": "fusion", "model": "ensemble", "flags": {"members": ["egemaps_svm", "resemblyzer_svm"]}}]}))
    with working_dir(study):
        load_script("run_loco").main(["--experiment_file", str(spec), "--name", "fusion", "--no_progress",
                                      "--bootstrap", "50"])
    folder = study / "output" / "loco" / "fusion"
    results = pd.read_csv(folder / "results.csv")
    fusion = results[results["system"] == "fusion"]
    assert len(fusion) >= 3 and fusion["uar"].between(0, 1).all()
    comparison = pd.read_csv(folder / "comparison.csv")
    assert ((comparison["system"] == "fusion") & (comparison["reference"] == "egemaps_svm")).any()
    record = yaml.safe_load(next((folder / "jobs" / "loco" / "fusion").rglob(RECORD)).read_text())
    assert [m["name"] for m in record["members"]] == ["egemaps_svm", "resemblyzer_svm"]
    assert "egemaps_svm" in record["members"][0]["folder"] and record["weights_seen_by"]   # refit members
