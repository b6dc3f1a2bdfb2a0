"""Hostile runs, class 3: a rerun with other settings never mixes results. An experiment records its
train.py flags (the experiment's and each system's), its bootstrap and its inputs' fingerprints;
a rerun that differs stops in one line naming the differences, leaving every finished file as it
was, unless --force_new (a new experiment beside it) or --redo names the jobs to do again. A split
made while a corpus had no images is made again once they exist, never reused silently. A study
(`specct run FILE`) run again after its file changed stops the same way, naming `specct run FILE
--force_new` and `--redo`, which it takes as run_loco.py does."""
from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from hostile_helpers import EXPERIMENT, LOCO_FLAGS, copy_study, experiment_folder, run_loco_main, snapshot, working_dir
from hostile_helpers import root, study  # noqa: F401  (the shared fixtures)
from script_helpers import load_script, one_line_error

from specct.study.engine import main as specct_run

STOPS = r"^run_loco\.py: error: output/loco/hostile/experiment\.yaml: experiment hostile was run with other settings \("
REMEDY = r"\); --force_new starts a new experiment beside it, --redo SYSTEM\[/CORPUS\] redoes the jobs they touch$"




def finished(root) -> dict[str, bytes]:
    return snapshot(root / "output")


def run_ok(capsys, *extra) -> str:
    capsys.readouterr()
    assert run_loco_main(*extra)() == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("extra, difference", [
    (["--svm_c", "1"], r"train\.py flags \(none\), now --svm_c 1\.0"),
    (["--no_refit"], r"train\.py flags \(none\), now --no_refit"),
    (["--bootstrap", "60"], r"bootstrap 50, now 60"),
])
def test_a_finished_experiment_rerun_with_other_flags_stops_and_keeps_every_file(root, capsys, extra, difference):
    before = finished(root)
    one_line_error(capsys, run_loco_main(*extra), STOPS + difference + REMEDY)
    assert finished(root) == before


def test_a_half_finished_experiment_resumed_with_other_flags_runs_nothing(root, capsys):
    shutil.rmtree(experiment_folder(root) / "jobs" / "loco" / "egemaps_svm" / "DEMOC")
    before = finished(root)
    one_line_error(capsys, run_loco_main("--svm_c", "1"), STOPS + r"train\.py flags \(none\), now --svm_c 1\.0")
    assert finished(root) == before, "no job may run with settings the finished ones did not use"
    assert "3 of 3 job(s) finished" not in capsys.readouterr().out


def test_a_system_whose_own_flags_changed_is_named(root, capsys):
    spec = root / "systems.yml"
    spec.write_text("name: hostile\nsystems:\n  - name: egemaps_svm\n    model: egemaps_svm\n    flags: [--svm_c, '0.1']\n")
    flags = ["--experiment_file", str(spec), "--no_progress", "--bootstrap", "50"]
    before = finished(root)
    one_line_error(capsys, lambda: load_script("run_loco").main(flags),
                   STOPS + r"system egemaps_svm: flags \(none\), now --svm_c 0\.1" + REMEDY)
    assert finished(root) == before


@pytest.mark.parametrize("change, difference", [
    ("image added", r"inputs: DEMOA images: 34 files, now 35 files"),
    ("wav removed", r"inputs: DEMOB wavs: 32 files, now 31 files"),
    ("features rebuilt", r"inputs: DEMOC features egemaps: changed \(31694 bytes\)"),
    ("speaker vectors gone", r"inputs: DEMOA speaker vectors: 35844 bytes, now absent"),
])
def test_changed_inputs_stop_the_rerun(root, capsys, change, difference):
    corpus = root / "datasets"
    if change == "image added":
        image = next((corpus / "DEMOA" / "DEMOA_img").glob("*.png"))
        shutil.copy(image, image.with_name("extra.png"))
    elif change == "wav removed":
        next((corpus / "DEMOB" / "DEMOB_wav").glob("*.wav")).unlink()
    elif change == "features rebuilt":
        cache = corpus / "DEMOC" / "DEMOC_features" / "egemaps.npz"
        data = bytearray(cache.read_bytes())
        data[-30] ^= 0xFF   # the same size, other bytes
        cache.write_bytes(bytes(data))
    else:
        (corpus / "DEMOA" / "DEMOA_speaker" / "embeddings.npz").unlink()
    before = finished(root)
    one_line_error(capsys, run_loco_main(), STOPS + difference)
    assert finished(root) == before


def test_augmented_images_made_later_do_not_stop_an_experiment_whose_splits_read_none(root, capsys):
    from specct.core import paths
    from specct.core.input_fingerprints import inputs_fingerprint, read_now, reads_augmented_images

    datasets = root / "datasets"
    image = next(paths.img_dir(datasets, "DEMOA").glob("*.png"))
    augmented = paths.augmented_dir(datasets, "DEMOA")
    augmented.mkdir(exist_ok=True)
    shutil.copy(image, augmented / f"{image.stem}_another_group.png")   # another split's group, made later
    out = run_ok(capsys)
    assert out.count("finished earlier, skipped") == 3 and "making it again" not in out
    # a split that reads augmented images still sees them change
    assert reads_augmented_images("freq_aug", "no_balanced") and reads_augmented_images("no_aug", "balanced_aug")
    assert not reads_augmented_images("no_aug", "undersampling")
    with_them = inputs_fingerprint(datasets, ["DEMOA"], features=False)
    without = inputs_fingerprint(datasets, ["DEMOA"], features=False, augmented=False)
    assert "augmented images" in with_them["DEMOA"] and "augmented images" not in without["DEMOA"]
    assert read_now(with_them, without) == without
    assert read_now(with_them, with_them) == with_them


def test_a_feature_cache_no_system_reads_does_not_stop_the_rerun(root, capsys):
    """A cache made for another experiment (here ComParE beside the SVM's eGeMAPS) cannot change this
    one's results: the rerun goes on; the cache the SVM reads, changed, still stops it."""
    caches = root / "datasets" / "DEMOC" / "DEMOC_features"
    shutil.copy(caches / "egemaps.npz", caches / "compare.npz")
    jobs = experiment_folder(root) / "jobs"
    before = snapshot(jobs)
    out = run_ok(capsys)
    assert "3 of 3 job(s) finished" in out and out.count("finished earlier, skipped") == 3 and snapshot(jobs) == before
    (caches / "compare.npz").write_bytes(b"another experiment's cache, rebuilt")
    run_ok(capsys)
    data = bytearray((caches / "egemaps.npz").read_bytes())
    data[-30] ^= 0xFF
    (caches / "egemaps.npz").write_bytes(bytes(data))
    one_line_error(capsys, run_loco_main(), STOPS + r"inputs: DEMOC features egemaps: changed")


def test_collect_reads_finished_results_whatever_the_inputs_but_not_with_other_flags(root, capsys):
    image = next((root / "datasets" / "DEMOA" / "DEMOA_img").glob("*.png"))
    shutil.copy(image, image.with_name("extra.png"))
    out = run_ok(capsys, "--collect")
    assert "3 of 3 job(s) finished" in out
    one_line_error(capsys, run_loco_main("--collect", "--svm_c", "1"), STOPS + r"train\.py flags")


def test_a_job_run_from_the_record_stops_when_the_inputs_changed(root, capsys):
    shutil.rmtree(experiment_folder(root) / "jobs" / "loco" / "egemaps_svm" / "DEMOA" / "test")
    next((root / "datasets" / "DEMOB" / "DEMOB_wav").glob("*.wav")).unlink()
    before = finished(root)
    one_line_error(capsys, lambda: load_script("run_loco").main(
        ["--from_record", str(experiment_folder(root)), "--job", "loco/egemaps_svm/DEMOA", "--no_progress"]),
        r"^run_loco\.py: error: .*hostile/experiment\.yaml: experiment hostile was run with other settings "
        r"\(inputs: DEMOB wavs: 32 files, now 31 files\)")
    assert finished(root) == before


def test_force_new_starts_a_new_experiment_beside_and_the_same_command_resumes_it(root, capsys):
    before = finished(root)
    out = run_ok(capsys, "--svm_c", "1", "--force_new")
    assert "new experiment: output/loco/hostile-2" in out and "3 of 3 job(s) finished" in out
    after = finished(root)
    assert {k: v for k, v in after.items() if k.startswith(f"loco/{EXPERIMENT}/")} == before
    new = root / "output" / "loco" / "hostile-2"
    assert "svm_c" in (new / "experiment.yaml").read_text()
    results = new / "results.csv"
    kept = results.read_bytes()
    out = run_ok(capsys, "--svm_c", "1", "--force_new")   # killed or not, the same command resumes hostile-2
    assert "new experiment: output/loco/hostile-2" in out and out.count("finished earlier, skipped") == 3
    assert results.read_bytes() == kept and not (root / "output" / "loco" / "hostile-3").exists()


def test_an_experiment_whose_split_changed_goes_on_by_every_remedy_its_message_names(study, tmp_path, monkeypatch,
                                                                                    capsys):
    import re

    changed = ["--validation", "speakers"]
    asked = copy_study(study, tmp_path / "asked")
    monkeypatch.chdir(asked)
    before = finished(asked)
    message = one_line_error(capsys, run_loco_main(*changed),
                             r"^run_loco\.py: error: output/loco/hostile/experiment\.yaml: experiment hostile was run "
                             r"with other split options \(validation 'auto', now 'speakers'\); ")
    assert finished(asked) == before
    remedies = message.split("; ", 1)[1].split(", or ")
    assert [re.findall(r"--\w+", remedy) for remedy in remedies] == [["--force_new"], ["--name", "--data_dir"]], message
    for i, flags in enumerate([["--force_new"], ["--name", "other", "--data_dir", "other_data"]]):
        root = copy_study(study, tmp_path / f"remedy-{i}")
        monkeypatch.chdir(root)
        out = run_ok(capsys, *changed, *flags)
        assert "3 of 3 job(s) finished" in out, flags
        assert finished(root)["loco/hostile/results.csv"] == before["loco/hostile/results.csv"]
        made = list(root.glob("*/DEMOA/**/split_options.json"))
        assert len(made) == 2 and sorted(p.parts[len(root.parts)] for p in made) == sorted(
            ["data", "data-2" if "--force_new" in flags else "other_data"])


def test_redo_must_name_every_job_the_change_touches(root, capsys):
    before = finished(root)
    one_line_error(capsys, run_loco_main("--svm_c", "1", "--redo", "egemaps_svm/DEMOA"),
                   r"^run_loco\.py: error: --redo: the changed settings touch job\(s\) it does not name: "
                   r"loco/egemaps_svm/DEMOB, loco/egemaps_svm/DEMOC \(name them too, or --force_new")
    assert finished(root) == before
    one_line_error(capsys, run_loco_main("--redo", "no_such_system"),
                   r"^run_loco\.py: error: --redo no_such_system: no_such_system is not a system of the experiment")


def test_redo_of_every_touched_job_runs_them_again_with_the_new_flags(root, capsys):
    out = run_ok(capsys, "--svm_c", "1", "--redo", "egemaps_svm")
    assert out.count("cleared, to be done again (--redo)") == 3 and "3 of 3 job(s) finished" in out
    for corpus in ("DEMOA", "DEMOB", "DEMOC"):
        args = (experiment_folder(root) / "jobs" / "loco" / "egemaps_svm" / corpus / "train" / "args.yaml").read_text()
        assert "svm_c:\n- 1.0\n" in args, args
    record = (experiment_folder(root) / "experiment.yaml").read_text()
    assert "svm_c" in record
    out = run_ok(capsys, "--svm_c", "1")   # the record now holds the new flags: a plain rerun resumes
    assert out.count("finished earlier, skipped") == 3


def test_redo_without_changes_redoes_one_job_and_keeps_the_others(root, capsys):
    jobs = experiment_folder(root) / "jobs" / "loco" / "egemaps_svm"
    before = snapshot(jobs / "DEMOB")
    out = run_ok(capsys, "--redo", "egemaps_svm/demoa")
    assert "job loco/egemaps_svm/DEMOA: cleared, to be done again (--redo)" in out
    assert "job loco/egemaps_svm/DEMOB: finished earlier, skipped" in out
    assert snapshot(jobs / "DEMOB") == before
    assert (jobs / "DEMOA" / "test" / "performance.yaml").is_file()


def test_a_split_made_while_a_corpus_had_no_images_is_made_again_once_they_exist(root, capsys):
    images = root / "datasets" / "DEMOC" / "DEMOC_img"
    images.rename(images.with_name("away"))
    flags = ["--model", "egemaps_svm", "--name", "early", "--no_progress", "--bootstrap", "50", "--datasets", "DEMOA",
             "--data_dir", "early_data"]
    capsys.readouterr()
    assert load_script("run_loco").main(flags) == 0
    train = root / "early_data" / "DEMOA" / "4_classes" / "no_aug" / "no_balanced" / "train_data"
    corpora_then = set(pd.concat([pd.read_csv(train / "train.csv"), pd.read_csv(train / "validation.csv")])["corpus"])
    assert corpora_then == {"DEMOB"}
    images.with_name("away").rename(images)
    before = finished(root)
    one_line_error(capsys, lambda: load_script("run_loco").main(flags),
                   r"^run_loco\.py: error: output/loco/early/experiment\.yaml: experiment early was run with other "
                   r"settings \(inputs: DEMOC images: 0 files, now 34 files\)")
    assert finished(root) == before
    out = (capsys.readouterr(), load_script("run_loco").main([*flags, "--force_new"]), capsys.readouterr().out)[2]
    assert "early_data/DEMOA/4_classes/no_aug/no_balanced: made from other inputs (DEMOC images: 0 files, now " \
           "34 files); making it again" in out
    corpora_now = set(pd.concat([pd.read_csv(train / "train.csv"), pd.read_csv(train / "validation.csv")])["corpus"])
    assert corpora_now == {"DEMOB", "DEMOC"}


def test_the_recorded_flags_are_the_ones_every_job_ran_with(root):
    from specct.core.records import read_record

    record = read_record(experiment_folder(root) / "experiment.yaml", "experiment record")
    assert record["options"]["train_flags"] == {} and record["options"]["bootstrap"] == 50
    assert set(record["inputs"]) == {"DEMOA", "DEMOB", "DEMOC"}
    assert record["inputs"]["DEMOA"]["wavs"].startswith("32 files ")
    assert LOCO_FLAGS[1] == record["options"]["systems"][0]["model"]


def test_a_redo_from_python_records_the_settings_it_ran_with(root, capsys):
    from specct import loco
    from specct.core.records import read_record

    opts = loco.recorded_options(experiment_folder(root))
    opts.train_flags, opts.progress = {"svm_c": [1.0]}, False
    loco.run_jobs(opts, redo=["egemaps_svm"])   # no shell command to record: the settings still are
    record = read_record(experiment_folder(root) / "experiment.yaml", "experiment record")
    assert record["options"]["train_flags"] == {"svm_c": [1.0]}
    loco.write_experiment_record(opts, None)    # the same settings now pass the check
    capsys.readouterr()
    one_line_error(capsys, run_loco_main(), r"train\.py flags --svm_c 1\.0, now \(none\)")


def test_a_system_config_file_edited_after_its_jobs_ran_is_named(root, capsys):
    config = root / "svm.yml"
    config.write_text("svm_c: [0.1]\n")
    spec = root / "configured.yml"
    spec.write_text("name: configured\nsystems:\n  - name: svm\n    model: egemaps_svm\n    config: svm.yml\n")
    flags = ["--experiment_file", str(spec), "--no_progress", "--bootstrap", "50"]
    capsys.readouterr()
    assert load_script("run_loco").main(flags) == 0
    before = finished(root)
    config.write_text("svm_c: [1.0]\n")
    one_line_error(capsys, lambda: load_script("run_loco").main(flags),
                   r"^run_loco\.py: error: output/loco/configured/experiment\.yaml: experiment configured was run "
                   r"with other settings \(system svm: config file svm\.yml edited since\)")
    assert finished(root) == before


# --------------------------------------------------------------------------- the same through `specct run`

STUDY_FILE = """name: rerun
datasets_dir: datasets
corpora: {DEMOA: demo, DEMOB: demo, DEMOC: demo}
spectrogram: {size: 32}
bootstrap: 50
report: false
systems:
  - {name: svm_a, model: egemaps_svm}
  - {name: svm_b, model: egemaps_svm}
"""
STUDY_EXPERIMENT = "output/rerun/loco/rerun"


@pytest.fixture(scope="module")
def ran_study(study, tmp_path_factory):
    """The shared study's corpora (every stage before the jobs done) run as a study of two eGeMAPS SVMs."""
    folder = copy_study(study, tmp_path_factory.mktemp("ran_study") / "study")
    (folder / "study.yml").write_text(STUDY_FILE)
    with working_dir(folder):
        assert specct_run(["study.yml", "--no_progress"]) == 0
    return folder


@pytest.fixture
def study_root(ran_study, tmp_path, monkeypatch):
    """A copy of the run study, its file changed: svm_b's own flags."""
    copy = copy_study(ran_study, tmp_path / "study")
    monkeypatch.chdir(copy)
    (copy / "study.yml").write_text(STUDY_FILE.replace("{name: svm_b, model: egemaps_svm}",
                                                       "{name: svm_b, model: egemaps_svm, flags: [--svm_c, '1']}"))
    return copy


def run_study_ok(capsys, *extra) -> str:
    capsys.readouterr()
    assert specct_run(["study.yml", "--no_progress", *extra]) == 0
    return capsys.readouterr().out


def test_a_study_rerun_after_its_file_changed_stops_naming_specct_run_s_flags(study_root, capsys):
    before = finished(study_root)
    one_line_error(capsys, lambda: specct_run(["study.yml", "--no_progress"]),
                   r"^specct run: error: output/rerun/loco/rerun/experiment\.yaml: experiment rerun was run with other "
                   r"settings \(system svm_b: flags \(none\), now --svm_c 1\.0\); specct run study\.yml --force_new "
                   r"starts a new experiment beside it, specct run study\.yml --redo SYSTEM\[/CORPUS\] redoes the jobs "
                   r"they touch$")
    assert finished(study_root) == before


@pytest.mark.parametrize("extra, message", [
    (["--redo", "svm_c"], r"^specct run: error: --redo svm_c: svm_c is not a system of the experiment "
                          r"\(svm_a, svm_b\)$"),
    (["--redo", "svm_b", "--force_new"], r"^specct run: error: --force_new starts a new experiment; it does not go "
                                         r"with --redo$"),
    (["--redo", "svm_b", "--until", "features"], r"--redo runs jobs again; --until features stops before them$"),
])
def test_a_study_s_redo_is_checked_before_anything_runs(study_root, capsys, extra, message):
    before = finished(study_root)
    one_line_error(capsys, lambda: specct_run(["study.yml", "--no_progress", *extra]), message)
    assert finished(study_root) == before


def test_a_study_s_redo_of_a_system_redoes_its_jobs_only(study_root, capsys):
    jobs = study_root / STUDY_EXPERIMENT / "jobs" / "loco"
    kept = snapshot(jobs / "svm_a")
    predictions = {p: p.read_bytes() for p in (jobs / "svm_a").rglob("predictions.csv")}
    assert len(predictions) == 3
    out = run_study_ok(capsys, "--redo", "svm_b")
    assert "=== jobs: --redo svm_b" in out and out.count("cleared, to be done again (--redo)") == 3
    assert all("job loco/svm_b/" in line for line in out.splitlines() if "cleared, to be done again" in line)
    assert snapshot(jobs / "svm_a") == kept
    assert {p: p.read_bytes() for p in predictions} == predictions
    for corpus in ("DEMOA", "DEMOB", "DEMOC"):
        assert "svm_c:\n- 1.0\n" in (jobs / "svm_b" / corpus / "train" / "args.yaml").read_text()
    out = run_study_ok(capsys)   # the record holds the file's settings now: a plain rerun resumes
    assert "=== jobs: done" in out


def test_a_study_s_force_new_starts_name_2_beside_it_and_the_same_command_resumes_it(study_root, capsys):
    old = study_root / STUDY_EXPERIMENT
    before = snapshot(old)
    out = run_study_ok(capsys, "--force_new")
    assert f"new experiment: {STUDY_EXPERIMENT}-2" in out and "6 of 6 job(s) finished" in out
    assert snapshot(old) == before
    new = study_root / f"{STUDY_EXPERIMENT}-2"
    assert "svm_c" in (new / "experiment.yaml").read_text() and (new / "results.csv").is_file()
    out = run_study_ok(capsys, "--force_new")
    assert f"new experiment: {STUDY_EXPERIMENT}-2" in out and "=== jobs: done" in out
    assert not (study_root / f"{STUDY_EXPERIMENT}-3").exists()


def test_a_changed_study_from_python_raises_until_force_new_or_redo_is_given(study_root):
    import specct
    from specct.core.errors import InputError

    before = finished(study_root)
    with pytest.raises(InputError, match="run with other settings"):
        specct.run_experiment("study.yml")
    assert finished(study_root) == before
    result = specct.run_experiment("study.yml", force_new=True)
    assert Path(result.folder).name == "rerun-2" and len(result.results)
    result = specct.run_experiment("study.yml", redo=["svm_b"])
    assert Path(result.folder).name == "rerun" and set(result.results["system"]) == {"svm_a", "svm_b"}


def follow(remedy_root: Path, monkeypatch, capsys, argv: list[str]) -> str:
    monkeypatch.chdir(remedy_root)
    capsys.readouterr()
    assert specct_run([*argv, "--no_progress"]) == 0
    return capsys.readouterr().out


def test_a_study_whose_split_changed_goes_on_by_every_remedy_its_message_names(ran_study, tmp_path, monkeypatch,
                                                                               capsys):
    import json
    import re
    import shlex

    changed = STUDY_FILE + "split: {validation: speakers}\n"

    def copy(name: str, content: str = changed) -> Path:
        folder = copy_study(ran_study, tmp_path / name)
        (folder / "study.yml").write_text(content)
        return folder

    asked = copy("asked")
    monkeypatch.chdir(asked)
    before = finished(asked)
    message = one_line_error(capsys, lambda: specct_run(["study.yml", "--no_progress"]),
                             r"^specct run: error: output/rerun/loco/rerun/experiment\.yaml: experiment rerun was run "
                             r"with other split options \(validation 'auto', now 'speakers'\); ")
    assert finished(asked) == before

    # each command the message names, run as it is written, from a copy of the study as it was
    commands = re.findall(r"specct run \S+(?: --\w+)+", message)
    assert commands == ["specct run study.yml --force_new"], message
    for i, command in enumerate(commands):
        root = copy(f"command-{i}")
        old = snapshot(root / STUDY_EXPERIMENT)
        out = follow(root, monkeypatch, capsys, shlex.split(command)[2:])
        assert f"new experiment: {STUDY_EXPERIMENT}-2 (its splits in output/rerun/data-2" in out
        assert snapshot(root / STUDY_EXPERIMENT) == old
        assert (root / f"{STUDY_EXPERIMENT}-2" / "results.csv").is_file()
        made = list((root / "output" / "rerun" / "data-2").rglob("split_options.json"))
        assert len(made) == 3 and all(json.loads(p.read_text())["validation"] == "speakers" for p in made)
        out = follow(root, monkeypatch, capsys, shlex.split(command)[2:])   # the same command resumes it
        assert f"new experiment: {STUDY_EXPERIMENT}-2" in out and "=== jobs: done" in out
        assert not (root / f"{STUDY_EXPERIMENT}-3").exists()

    # each key the message names, given another value in the file the message names
    keys = re.search(r"change name: (\S+) or output: (\S+) in (\S+) ", message)
    assert keys and keys.groups() == ("rerun", "output", "study.yml"), message
    for key, value, folder in (("name", "other", "output/other/loco/other"), ("output", "elsewhere",
                                                                              "elsewhere/rerun/loco/rerun")):
        root = copy(f"key-{key}", changed + f"{key}: {value}\n")
        follow(root, monkeypatch, capsys, [keys.group(3)])
        assert (root / folder / "results.csv").is_file(), key
