"""Hostile runs, class 6: degenerate data never passes as success. Training rows of one class are an
error (where the split is made, and where train.csv is read); a held-out corpus of one class, or a
class no training corpus has, is a warning in the split's record, in performance.yaml, below
run_loco.py's table, in results.csv's warnings column (listed below results.md's and results.tex's
table) and in the report."""
from __future__ import annotations

import json

import pytest
from hostile_helpers import snapshot
from hostile_helpers import root, study  # noqa: F401  (the shared fixtures)
from script_helpers import load_script, one_line_error

SPLIT = "4_classes/no_aug/no_balanced"




def keep_only(root, corpus: str, emotions: set[str]) -> None:
    """Remove the corpus's wavs of every other emotion (as a corpus of fewer classes would be)."""
    for wav in (root / "datasets" / corpus / f"{corpus}_wav").glob("*.wav"):
        if wav.name.split("_")[0] not in emotions:
            wav.unlink()


def loco(name: str, *extra: str):
    flags = ["--model", "egemaps_svm", "--name", name, "--no_progress", "--bootstrap", "50",
             "--data_dir", f"{name}_data", *extra]
    return lambda: load_script("run_loco").main(flags)


def test_training_rows_of_one_class_stop_the_split_in_one_line(root, capsys):
    for corpus in ("DEMOB", "DEMOC"):
        keep_only(root, corpus, {"anger"})
    before = snapshot(root / "output")
    one_line_error(capsys, loco("one_class", "--datasets", "DEMOA"),
                   rf"^run_loco\.py: error: one_class_data/DEMOA/{SPLIT}: the training rows hold 1 class \(anger\); "
                   r"a classifier needs rows of two or more")
    after = snapshot(root / "output")
    assert {k: after.get(k) for k in before} == before, "a finished file changed"
    assert not [k for k in after if k not in before and not k.endswith("experiment.yaml")], "a job left files"
    assert not (root / "one_class_data" / "DEMOA" / SPLIT / "split_options.json").exists()


def test_a_train_csv_of_one_class_made_by_hand_is_refused_by_train(root, capsys):
    train_data = root / "data" / "DEMOA" / SPLIT / "train_data"
    csv = train_data / "train.csv"
    lines = csv.read_text().splitlines()
    label = lines[0].split(",").index("label")
    kept = [lines[0]] + [line for line in lines[1:] if line.split(",")[label] == "happy"]
    csv.write_text("\n".join(kept) + "\n")
    before = snapshot(root / "output")
    one_line_error(capsys, lambda: load_script("train").main(
        [str(train_data), "--model", "egemaps_svm", "--experiment", str(root / "one_class_run"), "--no_progress"]),
        r"^train\.py: error: .*DEMOA/4_classes/no_aug/no_balanced/train_data/train\.csv: the training rows hold one "
        r"class \(happy\); a classifier needs rows of two or more$")
    assert snapshot(root / "output") == before and not (root / "one_class_run").exists()


def performance(root, name: str, corpus: str) -> dict:
    from specct.core.records import read_record

    return read_record(root / "output" / "loco" / name / "jobs" / "loco" / "egemaps_svm" / corpus / "test" /
                       "performance.yaml", "evaluation record")


def test_a_held_out_corpus_of_one_class_is_a_warning_in_every_output(root, capsys):
    keep_only(root, "DEMOA", {"sad"})
    capsys.readouterr()
    assert loco("one_test_class")() == 0
    out = capsys.readouterr().out
    warning = "the test rows hold one class (sad)"
    assert f"WARNING: output/loco/one_test_class/jobs/loco/egemaps_svm/DEMOA/test: {warning}" in out
    below_table = out[out.index("| egemaps_svm | mean"):]
    assert f"WARNING: loco/egemaps_svm/DEMOA (test DEMOA): {warning}" in below_table
    assert any(warning in w for w in performance(root, "one_test_class", "DEMOA")["warnings"])
    assert "warnings" not in performance(root, "one_test_class", "DEMOB")
    info = json.loads((root / "one_test_class_data" / "DEMOA" / SPLIT / "split_options.json").read_text())
    assert any("hold one class (sad)" in w for w in info["warnings"])
    folder = root / "output" / "loco" / "one_test_class"
    cells = results_warnings(folder)
    assert cells["DEMOA"].startswith(warning) and cells["DEMOB"] == cells["DEMOC"] == ""
    assert cells["mean"].startswith(f"DEMOA: {warning}")   # the mean holds DEMOA's numbers
    note = f"egemaps_svm, DEMOA: {warning}"
    assert f"- {note}" in (folder / "results.md").read_text()
    assert out.count(note) == 0, "run_loco.py's table says it once, below, not twice"
    assert (folder / "results.tex").read_text().count(r"Warning: egemaps\_svm, DEMOA: " + warning) == 1
    from specct.report.document import write_report

    _, markdown = write_report(folder)   # reads results.csv back, its warnings column too
    text = markdown.read_text()
    assert "## Warnings" in text and warning in text
    assert text.index("## Warnings") < text.index("## Results (leave-one-corpus-out)")
    assert (folder / "results.tex").read_text().count("Warning: egemaps") == 1


def results_warnings(folder) -> dict[str, str]:
    """results.csv's warnings column (its last), by held-out corpus, "" where empty."""
    import pandas as pd

    results = pd.read_csv(folder / "results.csv", keep_default_na=False)
    assert list(results.columns)[-1] == "warnings"
    return dict(zip(results["held_out"], results["warnings"]))


def test_a_class_no_training_corpus_has_is_named_in_every_output(root, capsys):
    for corpus in ("DEMOB", "DEMOC"):
        keep_only(root, corpus, {"anger", "happy", "neutral"})
    capsys.readouterr()
    assert loco("no_sad", "--datasets", "DEMOA")() == 0
    out = capsys.readouterr().out
    assert f"WARNING: class(es) sad have no training rows in no_sad_data/DEMOA/{SPLIT}" in out
    untrained = "class(es) sad had no training rows (no training corpus has them)"
    assert f"WARNING: loco/egemaps_svm/DEMOA (test DEMOA): {untrained}" in out
    assert any(untrained in w for w in performance(root, "no_sad", "DEMOA")["warnings"])
    assert results_warnings(root / "output" / "loco" / "no_sad")["DEMOA"].startswith(untrained)
    info = json.loads((root / "no_sad_data" / "DEMOA" / SPLIT / "split_options.json").read_text())
    assert any("class(es) sad have no training rows" in w for w in info["warnings"])
    # the class never trained still has its column: the baseline scores every class of the set
    import pandas as pd

    predictions = pd.read_csv(root / "output" / "loco" / "no_sad" / "jobs" / "loco" / "egemaps_svm" / "DEMOA" / "test"
                              / "predictions.csv")
    assert (predictions["prob_sad"] == 0).all() and (predictions["prediction"] != "sad").all()
    assert predictions[[c for c in predictions if c.startswith("prob_")]].sum(axis=1).round(6).eq(1).all()


def test_the_split_script_refuses_training_rows_of_one_class_too(root, capsys):
    for corpus in ("DEMOB", "DEMOC"):
        keep_only(root, corpus, {"neutral"})
    one_line_error(capsys, lambda: load_script("preprocess_split_dataset").main(
        ["--eval_dataset", "DEMOA", "--data_dir", "split_here"]),
        r"^preprocess_split_dataset\.py: error: split_here/DEMOA/4_classes/no_aug/no_balanced: the training rows "
        r"hold 1 class \(neutral\)")
    assert not (root / "split_here").exists() or not list((root / "split_here").rglob("*.csv"))
