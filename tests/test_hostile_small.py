"""Hostile runs, the smaller cases: audio of other formats beside a corpus's wavs is imported or listed
with a reason; clipped and very long files import with a warning; predict.py on a file that is not
audio, or not there, is one line and exit 2; --no_progress reaches every training and evaluation of
`specct run`; temporaries of a killed training or evaluation go at the next run of that stage; a model
tested on fewer classes than it has says which ones the test set lacks. Each through the real command."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import yaml
from hostile_helpers import experiment_folder
from hostile_helpers import root, study  # noqa: F401  (the shared fixtures)
from script_helpers import load_script, one_line_error

REPO_ROOT = Path(__file__).resolve().parents[1]


def tone(seconds: float, sr: int, amplitude: float = 0.3, freq: float = 180.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def prepare(source: Path, datasets: Path, capsys) -> str:
    capsys.readouterr()
    assert load_script("prepare_corpus").main(["emodb", str(source), "--datasets_dir", str(datasets)]) == 0
    return capsys.readouterr().out


# --------------------------------------------------------------------------- import

def test_flac_ogg_and_mp3_beside_the_wavs_are_imported_or_listed_as_copies(tmp_path, capsys):
    source = tmp_path / "emodb" / "wav"
    source.mkdir(parents=True)
    sf.write(source / "03a01Wa.wav", tone(0.5, 16000), 16000, subtype="PCM_16")
    sf.write(source / "03a01Wa.flac", tone(0.5, 16000), 16000)           # the same recording twice
    sf.write(source / "08a02Fa.flac", tone(0.5, 44100, freq=220), 44100)
    sf.write(source / "16a03Ta.ogg", tone(0.5, 16000, freq=260), 16000)
    sf.write(source / "03a04Na.mp3", tone(0.5, 16000, freq=300), 16000, format="MP3")
    (source / "notes.txt").write_text("not audio\n")
    datasets = tmp_path / "datasets"
    out = prepare(source.parent, datasets, capsys)
    assert "EMODB: 4 files" in out and "1 skipped" in out
    imported = {r["source"].rsplit("/", 1)[-1]: r for r in rows(datasets / "EMODB" / "manifest.csv")}
    assert sorted(imported) == ["03a01Wa.wav", "03a04Na.mp3", "08a02Fa.flac", "16a03Ta.ogg"]
    assert imported["08a02Fa.flac"]["orig_sr"] == "44100"
    for row in imported.values():
        info = sf.info(str(datasets / "EMODB" / "EMODB_wav" / row["file"]))
        assert info.samplerate == 16000 and info.frames > 7000
    assert rows(datasets / "EMODB" / "skipped.csv") == [
        {"file": "wav/03a01Wa.flac", "reason": "a .flac copy of 03a01Wa.wav (the file beside it that is read)"}]
    # run again: every file is there, nothing is written again, the copy is listed again
    again = prepare(source.parent, datasets, capsys)
    assert "(0 written now, 4 already there), 1 skipped" in again


def test_clipped_and_very_long_files_are_imported_with_a_warning(tmp_path, capsys):
    source = tmp_path / "emodb"
    source.mkdir()
    clipped = np.clip(tone(1.0, 16000, amplitude=2.0), -1.0, 1.0)
    sf.write(source / "03a01Wa.wav", clipped, 16000, subtype="PCM_16")
    sf.write(source / "08a02Fa.wav", tone(601.0, 8000), 8000, subtype="PCM_16")   # ten minutes and one second
    sf.write(source / "16a03Ta.wav", tone(1.0, 16000), 16000, subtype="PCM_16")
    datasets = tmp_path / "datasets"
    out = prepare(source, datasets, capsys)
    lines = out.splitlines()
    assert any(line.startswith("warning: 03a01Wa.wav: clipped (") and "of the samples at full scale)" in line
               for line in lines), out
    assert "warning: 08a02Fa.wav: 10.0 min long (over 10 min: one spectrogram squeezes all of it; cut it into " \
           "utterances)" in lines
    assert not any("16a03Ta" in line for line in lines if line.startswith("warning"))
    assert "  warnings: 2 imported files to check (clipped or very long)" in out
    assert len(rows(datasets / "EMODB" / "manifest.csv")) == 3 and "0 skipped" in out


# --------------------------------------------------------------------------- predict

def trained_run(root) -> Path:
    return experiment_folder(root) / "jobs" / "loco" / "egemaps_svm" / "DEMOA" / "train"


def test_predict_on_a_text_file_named_wav_is_one_line_and_exit_2(root, capsys):
    fake = root / "notes.wav"
    fake.write_text("these are my notes, not audio\n")
    one_line_error(capsys, lambda: load_script("predict").main([str(fake), "--model_dir", str(trained_run(root))]),
                   r"^predict\.py: error: .*notes\.wav: unreadable audio \(")
    assert capsys.readouterr().out == ""


def test_predict_on_a_missing_file_is_one_line_and_exit_2(root, capsys):
    good = next((root / "datasets" / "DEMOA" / "DEMOA_wav").glob("*.wav"))
    one_line_error(capsys, lambda: load_script("predict").main([str(root / "missing.wav"), str(good),
                                                                "--model_dir", str(trained_run(root))]),
                   r"^predict\.py: error: .*/missing\.wav: no such file or folder$")


def test_predict_with_one_good_file_still_prints_its_table_and_the_skip(root, capsys):
    fake = root / "notes.wav"
    fake.write_text("not audio\n")
    good = next((root / "datasets" / "DEMOA" / "DEMOA_wav").glob("*.wav"))
    capsys.readouterr()
    assert load_script("predict").main([str(fake), str(good), "--model_dir", str(trained_run(root))]) == 0
    out = capsys.readouterr()
    assert good.name in out.out and "notes.wav" in out.out
    assert "skip " in out.err and "1 of 2 files classified, 1 skipped" in out.err


# --------------------------------------------------------------------------- specct run --no_progress

STUDY_FILE = """name: quiet
datasets_dir: datasets
corpora: {DEMOA: demo, DEMOB: demo, DEMOC: demo}
spectrogram: {size: 32}
bootstrap: 50
report: false
systems:
  - {name: svm, model: egemaps_svm}
"""


def test_no_progress_reaches_every_training_and_evaluation_of_specct_run(root, capsys, monkeypatch):
    from specct.stages import evaluate as evaluate_module
    from specct import systems
    from specct.study.engine import main as specct_run

    trainings, evaluations = [], []
    train, evaluate = systems.ensure_trained, evaluate_module.evaluate
    monkeypatch.setattr(systems, "ensure_trained", lambda args, **kw: (trainings.append(args.no_progress),
                                                                      train(args, **kw))[1])
    monkeypatch.setattr(evaluate_module, "evaluate", lambda *a, **kw: (evaluations.append(kw.get("progress")),
                                                                       evaluate(*a, **kw))[1])
    (root / "study.yml").write_text(STUDY_FILE)
    assert specct_run(["study.yml", "--no_progress"]) == 0
    assert trainings == [True, True, True] and evaluations == [False, False, False]
    assert "%|" not in capsys.readouterr().err   # no bar of any stage


# --------------------------------------------------------------------------- temporaries of killed runs

def killed_at_first_write(script: str, *args: str, cwd: Path) -> None:
    """Run a script in its own process that SIGKILLs itself before its first atomic rename."""
    env = {**os.environ, "SPECCT_KILL_AT_WRITE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(REPO_ROOT / script), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == -9, done.stderr


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.rglob(".*.tmp*"))


def test_a_killed_training_s_temporaries_go_at_the_next_training(root, capsys):
    train_data = next((root / "data" / "DEMOB").rglob("train_data"))
    run = root / "killed_run"
    flags = [str(train_data), "--model", "egemaps_svm", "--experiment", str(run), "--no_progress"]
    killed_at_first_write("train.py", *flags, cwd=root)
    assert temporaries(run), "the kill left no temporary to clean"
    assert load_script("train").main(flags) in (0, None)
    assert temporaries(run) == [] and (run / "model_best.skops").is_file()


def test_a_killed_evaluation_s_temporaries_go_at_the_next_evaluation(root, capsys):
    output = root / "killed_eval"
    flags = [str(trained_run(root)), "--output", str(output), "--no_progress", "--bootstrap", "20"]
    killed_at_first_write("eval.py", *flags, cwd=root)
    assert temporaries(output), "the kill left no temporary to clean"
    assert load_script("eval").main(flags) in (0, None)
    assert temporaries(output) == [] and (output / "performance.yaml").is_file()


# --------------------------------------------------------------------------- fewer test classes

def test_a_four_class_model_on_a_three_class_test_set_names_the_missing_class(root, capsys):
    test_csv = root / "data" / "DEMOA" / "4_classes" / "no_aug" / "no_balanced" / "eval_data" / "test.csv"
    kept = [row for row in rows(test_csv) if row["label"] != "neutral"]
    three = root / "three_classes.csv"
    with open(three, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(kept)
    output = root / "three_eval"
    capsys.readouterr()
    assert load_script("eval").main([str(trained_run(root)), "--data_test_path", str(three), "--output", str(output),
                                     "--no_progress", "--bootstrap", "20"]) in (0, None)
    warning = ("the test rows hold no neutral (the model has 4 classes, the test set 3): the UAR averages the "
               "recall of the 3 present")
    assert f"WARNING: {output}: {warning}" in capsys.readouterr().out
    assert warning in yaml.safe_load((output / "performance.yaml").read_text())["warnings"]
    # the full test set says nothing of the kind
    capsys.readouterr()
    assert load_script("eval").main([str(trained_run(root)), "--output", str(root / "four_eval"), "--no_progress",
                                     "--bootstrap", "20"]) in (0, None)
    assert "the test rows hold no" not in capsys.readouterr().out
