"""--member_weights: an ensemble's member weights chosen on validation rows only (or equal), recorded in
ensemble.yaml, performance.yaml and the report, applied to the held-out rows; the default unchanged."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from specct import systems
from specct.core.errors import InputError
from specct.stages.evaluate import evaluate
from specct.systems import Scores, System, TrainedSystem
from specct.systems.ensemble import RECORD
from specct.systems.member_weights import candidates_with_equal, choose_weights, fuse, weight_grid
from specct.train import default_args

TABLE = "table.json"
SCORED_SOURCES: list[str] = []     # every CSV a made-up member was asked to score, in order


class TrainedTable(TrainedSystem):
    """Made-up probabilities per wav name, read from table.json (with its ``refit`` flag)."""

    def __init__(self, path: Path):
        self.path = path / TABLE if path.is_dir() else path
        saved = json.loads(self.path.read_text())
        self.class_names, self.table, self.refit = saved["class_names"], saved["table"], saved["refit"]

    def record(self) -> dict:
        return {"model": "table", "checkpoint": str(self.path), "checkpoint_epoch": 0,
                **({"refit": True} if self.refit else {})}

    def score(self, frame, settings) -> Scores:
        SCORED_SOURCES.append(str(settings.source))
        probabilities = np.array([self.table[Path(w).name] for w in frame["wav"]])
        return Scores(probabilities, probabilities.argmax(axis=1))

    def inputs_of_signal(self, signal):
        raise NotImplementedError

    def classify(self, inputs, echo=print):
        raise NotImplementedError


class TableSystem(System):
    kind = "table"
    saved_name = TABLE

    def handles(self, model_name):
        return model_name == "table"

    def run_name(self, args):
        return "table"

    def fit(self, args, on_epoch_end=None):
        raise NotImplementedError

    def is_trained(self, out_dir, args):
        return (Path(out_dir) / TABLE).is_file()

    def load(self, path, device="cpu", checkpoint=None):
        return TrainedTable(Path(path))


@pytest.fixture
def table_kind():
    kind = systems.register_system(TableSystem())
    SCORED_SOURCES.clear()
    yield kind
    systems.unregister_system(kind)


def rows_of(csv: Path) -> pd.DataFrame:
    return pd.read_csv(csv)


def made_up(csv: Path, classes: list[str], right: bool, confidence: float) -> dict[str, list[float]]:
    """Each row of ``csv``: ``confidence`` (plus an even share of the rest) on the true class when
    ``right``, else on the next class."""
    k, table = len(classes), {}
    for wav, label in zip(rows_of(csv)["wav"], rows_of(csv)["label"]):
        target = classes.index(label)
        chosen = target if right else (target + 1) % k
        table[Path(wav).name] = list(np.eye(k)[chosen] * confidence + (1 - confidence) / k)
    return table


def write_member(folder: Path, classes: list[str], table: dict, refit: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TABLE).write_text(json.dumps({"class_names": classes, "table": table, "refit": refit}))
    return folder


def classes_of(demo_split) -> list[str]:
    return (demo_split.train_dir / "classes.txt").read_text().split()


def ensemble(demo_split, out: Path, members, train_dir: Path | None = None, **flags) -> Path:
    return systems.fit(default_args(train_dir or demo_split.train_dir, model="ensemble",
                                    members=[str(m) for m in members], experiment=str(out), no_progress=True,
                                    **flags))


def validation_then_test(demo_split, root: Path):
    """A right on the validation rows and wrong on the test rows, B the other way round: on validation
    the best weights favour A (A wins the argmax from a weight of 0.6 on), held out they favour B."""
    classes = classes_of(demo_split)
    val, test = demo_split.train_dir / "validation.csv", demo_split.test_csv
    a = write_member(root / "a", classes, {**made_up(val, classes, True, 0.7), **made_up(test, classes, False, 0.7)})
    b = write_member(root / "b", classes, {**made_up(val, classes, False, 0.9), **made_up(test, classes, True, 0.9)})
    return classes, a, b


# --------------------------------------------------------------------------- the choice itself

def test_ties_go_to_the_equal_weights_even_off_the_grid_then_to_the_smallest_change():
    targets = np.array([0, 1, 2, 0, 1, 2])
    right = np.eye(3)[targets] * 0.8 + 0.2 / 3
    equal = np.full(3, 1 / 3)
    assert not any(np.allclose(w, equal) for w in weight_grid(3, 0.1))       # 1/3 is no multiple of 0.1
    assert np.allclose(candidates_with_equal(3, 0.1)[0], equal) and len(candidates_with_equal(3, 0.1)) == 67
    assert len(candidates_with_equal(2, 0.1)) == len(weight_grid(2, 0.1)) == 11   # 0.5 is on the grid
    weights, score = choose_weights([right, right, right], targets, 0.1, candidates_with_equal(3, 0.1))
    assert score == 1.0 and np.allclose(weights, equal)
    grid_only, _ = choose_weights([right, right, right], targets, 0.1)            # --member_weights auto
    assert not np.allclose(grid_only, equal) and np.isclose(np.sort(grid_only), [0.3, 0.3, 0.4]).all()
    wrong = np.eye(3)[(targets + 1) % 3] * 0.9 + 0.1 / 3
    weights, _ = choose_weights([right, wrong], targets, 0.1, candidates_with_equal(2, 0.1))
    np.testing.assert_allclose(weights, [0.6, 0.4])       # the smallest change from equal that is right


# --------------------------------------------------------------------------- made-up members on the demo split

def test_the_weights_are_chosen_on_validation_rows_and_applied_to_the_held_out_rows(demo_split, table_kind,
                                                                                    tmp_path):
    classes, a, b = validation_then_test(demo_split, tmp_path)
    out = ensemble(demo_split, tmp_path / "fusion", [a, b], member_weights="validation")
    val_csv = demo_split.train_dir / "validation.csv"
    assert [Path(s).resolve() for s in SCORED_SOURCES] == [val_csv.resolve()] * 2   # validation rows only
    record = yaml.safe_load((out / RECORD).read_text())
    assert [m["weight"] for m in record["members"]] == [0.6, 0.4]       # the validation-best, nearest equal
    assert [m["validation_uar"] for m in record["members"]] == [1.0, 0.0]
    assert record["validation_uar"] == 1.0 and record["member_weights"] == "validation"
    assert record["weights_chosen_on"].startswith(f"{len(rows_of(val_csv))} validation rows")

    result = evaluate(out, output=tmp_path / "test", bootstrap=20, progress=False)
    performance = yaml.safe_load((tmp_path / "test" / "performance.yaml").read_text())
    assert [(Path(m["name"]).name, m["weight"]) for m in performance["members"]] == [("a", 0.6), ("b", 0.4)]
    assert performance["member_weights"] == "validation" and performance["weights_validation_uar"] == 1.0
    assert "validation rows" in performance["weights_chosen_on"]
    # held out, B is the right one: the weights chosen on validation cost every row there, and nothing
    # of the held-out rows moved them (B alone, or equal weights, would have been right on all)
    assert result.performance["uar"] == 0.0
    predictions = pd.read_csv(tmp_path / "test" / "predictions.csv")
    members = [systems.load(m).table for m in (a, b)]
    expected = np.array([fuse([np.array(t[Path(w).name]) for t in members], [0.6, 0.4]) for w in predictions["wav"]])
    np.testing.assert_allclose(predictions[[f"prob_{c}" for c in classes]].to_numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(expected.sum(axis=1), 1.0)


def test_equal_weights_read_no_rows_and_average(demo_split, table_kind, tmp_path):
    classes, a, b = validation_then_test(demo_split, tmp_path)
    out = ensemble(demo_split, tmp_path / "fusion", [a, b], member_weights="equal")
    assert SCORED_SOURCES == []
    record = yaml.safe_load((out / RECORD).read_text())
    assert [m["weight"] for m in record["members"]] == [0.5, 0.5] and record["validation_uar"] is None
    evaluate(out, output=tmp_path / "test", bootstrap=20, progress=False)
    predictions = pd.read_csv(tmp_path / "test" / "predictions.csv")
    tables = [systems.load(m).table for m in (a, b)]
    expected = np.array([(np.array(tables[0][Path(w).name]) + tables[1][Path(w).name]) / 2 for w in predictions["wav"]])
    np.testing.assert_allclose(predictions[[f"prob_{c}" for c in classes]].to_numpy(), expected, atol=1e-6)


def test_the_default_is_unchanged(demo_split, table_kind, tmp_path):
    """No flag: the same ensemble.yaml as ``auto`` and as before (no new keys), the same performance.yaml keys."""
    _, a, b = validation_then_test(demo_split, tmp_path)
    assert default_args(demo_split.train_dir).member_weights == "auto"
    plain = ensemble(demo_split, tmp_path / "plain", [a, b])
    auto = ensemble(demo_split, tmp_path / "auto", [a, b], member_weights="auto")
    assert (plain / RECORD).read_bytes() == (auto / RECORD).read_bytes()
    record = yaml.safe_load((plain / RECORD).read_text())
    assert list(record) == ["members", "weights_chosen_on", "step", "validation_uar"]
    assert [list(m) for m in record["members"]] == [["name", "folder", "weight", "validation_uar"]] * 2
    assert [m["weight"] for m in record["members"]] == [0.6, 0.4]     # the grid's choice, as before
    evaluate(plain, output=tmp_path / "test", bootstrap=20, progress=False)
    performance = yaml.safe_load((tmp_path / "test" / "performance.yaml").read_text())
    assert "member_weights" not in performance and "weights_validation_uar" not in performance
    assert [sorted(m) for m in performance["members"]] == [["folder", "model", "weight"]] * 2


def test_a_refit_member_is_scored_by_its_first_fit_or_refused(demo_split, table_kind, tmp_path):
    classes, a, b = validation_then_test(demo_split, tmp_path)
    val = demo_split.train_dir / "validation.csv"
    # A refit on the validation rows: right on them (it trained on them) and kept no earlier fit
    refit = write_member(tmp_path / "refit", classes, systems.load(a).table, refit=True)
    with pytest.raises(InputError, match=r"fitted on the validation rows too .*--no_refit") as caught:
        ensemble(demo_split, tmp_path / "refused", [refit, b], member_weights="validation")
    assert "\n" not in str(caught.value)
    # the default keeps its behaviour: chosen anyway, the member named
    auto = yaml.safe_load((ensemble(demo_split, tmp_path / "auto", [refit, b]) / RECORD).read_text())
    assert auto["weights_seen_by"] == [str(refit)]
    # its first fit, trained without the validation rows, is (confidently) wrong on them: it stands in,
    # and C, right on them, outweighs it (C wins the argmax above a weight of 0.51; 0.6 is the nearest)
    write_member(refit / "before_refit", classes, made_up(val, classes, False, 0.95))
    c = write_member(tmp_path / "c", classes, made_up(val, classes, True, 0.9))
    out = ensemble(demo_split, tmp_path / "honest", [refit, c], member_weights="validation")
    record = yaml.safe_load((out / RECORD).read_text())
    assert record["members"][0]["validation_scored_by"] == str((refit / "before_refit").resolve())
    assert record["members"][0]["validation_uar"] == 0.0 and "weights_seen_by" not in record
    assert [m["weight"] for m in record["members"]] == [0.4, 0.6] and record["validation_uar"] == 1.0
    # scored as itself (right on the rows it trained on), the refit member would have kept half the weight
    seen, _ = choose_weights([np.array([systems.load(m).table[Path(w).name] for w in rows_of(val)["wav"]])
                              for m in (refit, c)],
                             np.array([classes.index(x) for x in rows_of(val)["label"]]), 0.1)
    np.testing.assert_allclose(seen, [0.5, 0.5])


def test_a_split_without_validation_rows_is_refused_when_weights_are_asked_for(demo_split, table_kind, tmp_path):
    from specct.data.splits import SplitOptions, run_split_stage

    split = run_split_stage(SplitOptions(eval_dataset="DEMOC", num_classes="4", seed=0, validation="none",
                                         datasets_dir=str(demo_split.datasets), output_dir=str(tmp_path / "data")))[0]
    train_dir = split.out_dir / "train_data"
    assert len(rows_of(train_dir / "validation.csv")) == 0
    _, a, b = validation_then_test(demo_split, tmp_path)
    with pytest.raises(InputError, match="no validation rows.*validation: none") as caught:
        ensemble(demo_split, tmp_path / "refused", [a, b], train_dir=train_dir, member_weights="validation")
    assert "\n" not in str(caught.value)
    out = ensemble(demo_split, tmp_path / "equal", [a, b], train_dir=train_dir, member_weights="equal")
    assert [m["weight"] for m in yaml.safe_load((out / RECORD).read_text())["members"]] == [0.5, 0.5]


# --------------------------------------------------------------------------- real members

@pytest.mark.slow
def test_real_members_not_refit_fused_with_weights_chosen_on_validation(demo_split, trained_run, tmp_path):
    """A tiny CCT and resemblyzer + SVM (--no_refit): weights from their validation scores, held-out
    probabilities the weighted sum of the members' own; the refit SVM is refused."""
    svm = systems.fit(default_args(demo_split.train_dir, model="resemblyzer_svm", experiment=str(tmp_path / "svm"),
                                   no_progress=True, seed=0, refit=False))
    out = ensemble(demo_split, tmp_path / "fusion", [trained_run, svm], member_weights="validation")
    record = yaml.safe_load((out / RECORD).read_text())
    weights = [m["weight"] for m in record["members"]]
    assert np.isclose(sum(weights), 1.0) and record["member_weights"] == "validation"
    assert record["validation_uar"] >= max(m["validation_uar"] for m in record["members"])   # a member alone is a candidate
    evaluate(out, output=tmp_path / "fused", bootstrap=20, progress=False)
    parts = []
    for i, member in enumerate((trained_run, svm)):
        evaluate(member, output=tmp_path / f"m{i}", bootstrap=20, progress=False)
        parts.append(pd.read_csv(tmp_path / f"m{i}" / "predictions.csv"))
    fused = pd.read_csv(tmp_path / "fused" / "predictions.csv")
    columns = [c for c in fused.columns if c.startswith("prob_")]
    expected = weights[0] * parts[0][columns].to_numpy() + weights[1] * parts[1][columns].to_numpy()
    np.testing.assert_allclose(fused[columns].to_numpy(), expected, atol=1e-5)
    performance = yaml.safe_load((tmp_path / "fused" / "performance.yaml").read_text())
    assert [m["weight"] for m in performance["members"]] == weights
    assert performance["weights_validation_uar"] == record["validation_uar"]

    refit_svm = systems.fit(default_args(demo_split.train_dir, model="resemblyzer_svm",
                                         experiment=str(tmp_path / "svm_refit"), no_progress=True, seed=0))
    with pytest.raises(InputError, match="refit on training \\+ validation rows"):
        ensemble(demo_split, tmp_path / "leak", [trained_run, refit_svm], member_weights="validation")


def fusion(members: list[str]) -> dict:
    return {"name": "fusion", "model": "ensemble", "flags": {"members": members, "member_weights": "validation"}}


def check_fusion_jobs(folder: Path, held_out: list[str], members: list[str]) -> None:
    records = sorted((folder / "jobs" / "loco" / "fusion").rglob("performance.yaml"))
    assert len(records) == len(held_out)
    for path in records:
        performance = yaml.safe_load(path.read_text())
        assert performance["member_weights"] == "validation" and "validation rows" in performance["weights_chosen_on"]
        assert [m["name"] for m in performance["members"]] == members
        assert np.isclose(sum(m["weight"] for m in performance["members"]), 1.0)
        assert 0 <= performance["weights_validation_uar"] <= 1


@pytest.mark.slow
def test_through_run_loco_with_the_weights_in_the_report(demo_split, tmp_path):
    from specct import loco
    from specct.report.document import write_report
    from training_fixtures import TINY_FLAGS, TINY_MODEL

    cct_flags = {k: v for k, v in TINY_FLAGS.items() if k not in ("no_progress", "workers")}
    spec = tmp_path / "fusion.yml"
    spec.write_text(yaml.safe_dump({"systems": [
        {"name": "cct", "model": TINY_MODEL, "flags": {**cct_flags, "epochs": 1, "max_steps": 3}},
        {"name": "svm", "model": "resemblyzer_svm", "flags": {"no_refit": True}}, fusion(["cct", "svm"])]}))
    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", "DEMOA", "--experiment_file", str(spec),
            "--name", "fusion", "--data_dir", str(tmp_path / "data"), "--output", str(tmp_path / "output"),
            "--bootstrap", "20", "--no_progress"]
    assert loco.main(argv) == 0
    folder = tmp_path / "output" / "loco" / "fusion"
    check_fusion_jobs(folder, ["DEMOA"], ["cct", "svm"])
    results = pd.read_csv(folder / loco.RESULTS_CSV)
    assert (results["system"] == "fusion").any()
    _, markdown = write_report(folder)
    text = Path(markdown).read_text()
    assert "Member weights of fusion (chosen on each fold's validation rows only, never the held-out rows): DEMOA: cct" in text


@pytest.mark.slow
def test_through_specct_run_with_a_study_file(tmp_path):
    from specct import commands

    content = {"name": "weights", "corpora": {"DEMOA": "demo", "DEMOB": "demo", "DEMOC": "demo"},
               "demo": {"speakers": 3, "sentences": 2}, "num_classes": 4, "spectrogram": {"size": 32},
               "speaker": {"n_components": 8}, "seed": 0, "bootstrap": 20, "held_out": ["DEMOB"],
               "output": str(tmp_path / "output"), "datasets_dir": str(tmp_path / "datasets"),
               "systems": [{"name": "egemaps", "model": "egemaps_svm", "flags": {"no_refit": True}},
                           {"name": "svm", "model": "resemblyzer_svm", "flags": {"no_refit": True}},
                           fusion(["egemaps", "svm"])],
               "reference": "svm"}
    path = tmp_path / "study.yml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    assert commands.main(["run", str(path), "--no_progress"]) == 0
    folder = next((tmp_path / "output").rglob("results.csv")).parent
    check_fusion_jobs(folder, ["DEMOB"], ["egemaps", "svm"])
    report = (folder / "report.md").read_text()
    assert "Member weights of fusion (chosen on each fold's validation rows only" in report
