"""Hostile runs, class 2: every file specct reads back is checked before use. A damaged features
cache is reported with its path and rebuilt; a damaged baseline model, experiment record or results
table is one line; a finished job whose predictions were damaged counts as unfinished and is redone."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hostile_helpers import LOCO_FLAGS, experiment_folder, snapshot, working_dir
from hostile_helpers import root, study  # noqa: F401  (the shared fixtures)
from script_helpers import load_script, one_line_error




def egemaps(root, corpus="DEMOA"):
    return root / "datasets" / corpus / f"{corpus}_features" / "egemaps.npz"


def run_features(capsys, *extra) -> str:
    capsys.readouterr()
    assert load_script("preprocess_features").main(["--no_progress", *extra]) == 0
    return capsys.readouterr().out


def read_cache(path):
    from specct.baselines.features import read_features_file

    return read_features_file(path)


DAMAGES = {
    "truncated": (lambda data: data[: len(data) // 2], r"truncated or empty"),
    "empty": (lambda data: b"", r"truncated or empty"),
    "random bytes": (lambda data: np.random.default_rng(0).bytes(len(data)), r"not a numpy \.npz archive"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_a_damaged_features_cache_is_named_and_rebuilt(root, capsys, damage):
    import re

    spoil, reason = DAMAGES[damage]
    good, others = egemaps(root).read_bytes(), {c: egemaps(root, c).read_bytes() for c in ("DEMOB", "DEMOC")}
    names_before, matrix_before, *_ = read_cache(egemaps(root))
    egemaps(root).write_bytes(spoil(good))
    out = run_features(capsys)
    assert re.search(rf"datasets/DEMOA/DEMOA_features/egemaps\.npz: damaged egemaps features file \({reason}.*\); "
                     r"extracting every file again", out), out
    assert "DEMOA egemaps: 32 wavs, 32 extracted, 0 already done" in out
    names_after, matrix_after, *_ = read_cache(egemaps(root))
    assert names_after == names_before and np.array_equal(matrix_after, matrix_before)
    assert {c: egemaps(root, c).read_bytes() for c in ("DEMOB", "DEMOC")} == others


def rewrite_cache(path, names, matrix, feature_names, meta):
    from specct.baselines.features import write_features_file

    write_features_file(path, dict(zip(names, matrix)), feature_names, meta)


def test_nan_rows_are_extracted_again_and_refused_in_training(root, capsys):
    names, matrix, feature_names, meta = read_cache(egemaps(root))
    spoiled = matrix.copy()
    spoiled[[0, 5]] = np.nan
    rewrite_cache(egemaps(root), names, spoiled, feature_names, meta)
    # training reads the cache as it is: the NaN rows are one line, not a scikit-learn traceback
    train_data = next((root / "data" / "DEMOB").rglob("train_data"))
    one_line_error(capsys, lambda: load_script("train").main([str(train_data), "--model", "egemaps_svm",
                                                              "--experiment", str(root / "nan_run"), "--no_progress"]),
                   rf"^train\.py: error: .*DEMOA_features/egemaps\.npz: the egemaps features of {names[0]} hold NaN "
                   r"or inf values \(run preprocess_features\.py --features egemaps to extract them again\)$")
    out = run_features(capsys)
    assert f"2 egemaps features with NaN or inf values ({names[0]}, {names[5]}); extracting them again" in out
    assert "DEMOA egemaps: 32 wavs, 2 extracted, 30 already done" in out
    _, repaired, *_ = read_cache(egemaps(root))
    assert np.allclose(repaired, matrix, atol=1e-5)


def test_a_cache_whose_width_disagrees_with_its_feature_names_is_rebuilt(root, capsys):
    names, matrix, feature_names, meta = read_cache(egemaps(root))
    rewrite_cache(egemaps(root), names, matrix[:, :10], feature_names[:10], meta)
    egemaps(root).write_bytes(egemaps(root).read_bytes())
    import zipfile

    # the same file with all 88 feature names but vectors of width 10: inconsistent on its face
    with zipfile.ZipFile(egemaps(root), "a") as archive:
        pass
    from specct.data.vectors import VectorTable, write_table
    from specct.baselines.features import FEATURES_FILE

    table = VectorTable(dict(zip(names, matrix[:, :10])), list(feature_names), meta)
    write_table(egemaps(root), FEATURES_FILE, table)
    out = run_features(capsys)
    assert "egemaps.npz: damaged egemaps features file (vectors of width 10 but 88 feature names); extracting every " \
           "file again" in out
    assert read_cache(egemaps(root))[1].shape == (32, 88)


def test_a_cache_of_another_width_is_rebuilt_when_a_wav_is_added(root, capsys):
    import shutil

    names, matrix, feature_names, meta = read_cache(egemaps(root))
    rewrite_cache(egemaps(root), names, matrix[:, :10], feature_names[:10], meta)   # consistent, but not eGeMAPS
    wavs = root / "datasets" / "DEMOA" / "DEMOA_wav"
    shutil.copy(wavs / f"{names[0]}.wav", wavs / f"{names[0]}-copy.wav")
    out = run_features(capsys, "--datasets", "DEMOA")
    assert "egemaps.npz: damaged egemaps features file (vectors of width 10, not 88); extracting every file " \
           "again" in out
    assert "DEMOA egemaps: 33 wavs, 33 extracted, 0 already done" in out
    assert read_cache(egemaps(root))[1].shape == (33, 88)


def edit_baseline(model_file, change) -> None:
    import skops.io as sio

    state = sio.load(model_file, trusted=sio.get_untrusted_types(file=model_file))
    change(state)
    sio.dump(state, model_file)


@pytest.mark.parametrize("case, change, reason", [
    ("missing keys", lambda s: (s.pop("scaling"), s.pop("classifier")), r"damaged baseline \(no scaling, classifier\)"),
    ("fewer class names", lambda s: s.update(class_names=s["class_names"][:2]),
     r"damaged baseline \(2 class names but a classifier of classes \[0, 1, 2, 3\]\)"),
    ("one class name", lambda s: s.update(class_names=["anger"]), r"damaged baseline \(class_names \[.anger.\] is not a list of two or more names\)"),
])
def test_a_damaged_baseline_model_is_one_line(root, capsys, case, change, reason):
    run = experiment_folder(root) / "jobs" / "loco" / "egemaps_svm" / "DEMOA" / "train"
    edit_baseline(run / "model_best.skops", change)
    one_line_error(capsys, lambda: load_script("eval").main([str(run), "--output", str(root / "eval_out")]),
                   rf"^eval\.py: error: .*DEMOA/train/model_best\.skops: {reason}$")
    one_line_error(capsys, lambda: load_script("predict").main(
        [str(next((root / "datasets" / "DEMOA" / "DEMOA_wav").glob("*.wav"))), "--model_dir", str(run)]),
        rf"^predict\.py: error: .*model_best\.skops: {reason}$")


@pytest.mark.parametrize("damage", ["truncated", "no rows", "column lost", "binary"])
def test_a_finished_job_with_damaged_predictions_is_redone(root, capsys, damage):
    jobs = experiment_folder(root) / "jobs"
    predictions = jobs / "loco" / "egemaps_svm" / "DEMOB" / "test" / "predictions.csv"
    before = snapshot(jobs)
    text = predictions.read_text()
    spoiled = {"truncated": text[: len(text) // 3] + '"unclosed,\n',
               "no rows": text.splitlines()[0] + "\n",
               "column lost": text.replace("truth,", "truht,", 1),
               "binary": None}[damage]
    if spoiled is None:
        predictions.write_bytes(b"\x00\xff\xfe" * 100)
    else:
        predictions.write_text(spoiled)
    capsys.readouterr()
    assert load_script("run_loco").main(LOCO_FLAGS) == 0
    out = capsys.readouterr().out
    assert "job loco/egemaps_svm/DEMOB: " in out and "predictions.csv: damaged predictions" in out
    assert "evaluating again" in out and "3 of 3 job(s) finished" in out
    assert "job loco/egemaps_svm/DEMOA: finished earlier, skipped" in out
    after = snapshot(jobs)   # job.yaml records the latest run (its command and time), so it is left out
    changed = sorted(k for k in before if before[k] != after.get(k) and not k.endswith("job.yaml"))
    assert changed == [], f"redoing the evaluation changed {changed}"


def test_report_on_a_damaged_experiment_record_or_table_is_one_line(root, capsys):
    folder = experiment_folder(root)
    results = folder / "results.csv"
    good = results.read_bytes()
    results.write_text("system,held_out,uar\negemaps_svm,DEMOA,not-a-number\n")
    one_line_error(capsys, lambda: load_script("report").main([str(folder)]),
                   r"^report\.py: error: .*hostile/results\.csv: damaged results table \(column uar holds text")
    results.write_bytes(b"\x1f\x8b\x08 gzip, not csv \xff\xfe")
    one_line_error(capsys, lambda: load_script("report").main([str(folder)]), r"^report\.py: error: .*results\.csv: damaged")
    results.write_bytes(good)
    record = folder / "experiment.yaml"
    for spoiled in (b"options: [unclosed\n", b"\xff\xfe\x00binary", b"- just\n- a list\n", b"options: 3\n"):
        record.write_bytes(spoiled)
        one_line_error(capsys, lambda: load_script("report").main([str(folder)]),
                       r"^report\.py: error: .*hostile/experiment\.yaml: (not valid YAML|damaged experiment record)")
        one_line_error(capsys, lambda: load_script("run_loco").main(LOCO_FLAGS),
                       r"^run_loco\.py: error: .*experiment\.yaml: (not valid YAML|damaged experiment record)")


@pytest.mark.parametrize("spoiled", [b'{"validation": "corpus", ', b"\xff\xfe binary", b"[1, 2]"])
def test_a_damaged_split_record_is_one_line_naming_it(root, capsys, spoiled):
    record = root / "data" / "DEMOA" / "4_classes" / "no_aug" / "no_balanced" / "split_options.json"
    record.write_bytes(spoiled)
    for job in ("DEMOA", "DEMOB", "DEMOC"):   # unfinished jobs, so that the split is read again
        (experiment_folder(root) / "jobs" / "loco" / "egemaps_svm" / job / "test" / "performance.yaml").unlink()
    before = snapshot(root / "data")
    one_line_error(capsys, lambda: load_script("run_loco").main(LOCO_FLAGS),
                   r"^run_loco\.py: error: data/DEMOA/4_classes/no_aug/no_balanced/split_options\.json: damaged split "
                   r"record \(.*\); remove the split folder data/DEMOA/4_classes/no_aug/no_balanced to make it again$")
    assert snapshot(root / "data") == before
