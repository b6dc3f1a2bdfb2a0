"""Hostile runs: records that cannot be read, systems that cannot be trained. An experiment.yaml cut
to 0 bytes, or otherwise unreadable, stops run_loco.py and `specct run` in one line naming it (exit
2), never counting as "no record" (which would let a rerun with other settings mix its jobs into the
table). An experiment whose second system cannot be trained (a missing config, an unknown model, a
config key train.py does not know) is refused before any job runs, and nothing of it is recorded."""
from __future__ import annotations

import shutil

import pytest
from hostile_helpers import LOCO_FLAGS, copy_study, experiment_folder, run_loco_main, snapshot, working_dir
from hostile_helpers import root, study  # noqa: F401  (the shared fixtures)
from script_helpers import load_script, one_line_error

from specct.study.engine import main as specct_run

RECORD = "output/loco/hostile/experiment.yaml"


def finished(root) -> dict[str, bytes]:
    return snapshot(root / "output")


# --------------------------------------------------------------------------- an unreadable experiment.yaml

DAMAGES = {
    "empty": (b"", r"damaged experiment record \(empty\)"),
    "an empty mapping": (b"{}\n", r"damaged experiment record \(empty\)"),
    "not text": (b"\xff\xfe\x00garbage", r"not valid YAML \(not a text file\)"),
    "a list": (b"- a\n- b\n", r"damaged experiment record \(a list, not a mapping of keys\)"),
    "no options": (b"experiment: hostile\n", r"damaged experiment record \(no options mapping\)"),
}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("extra", [[], ["--svm_c", "1"]], ids=["same flags", "other flags"])
def test_an_unreadable_experiment_record_stops_run_loco_in_one_line(root, capsys, damage, extra):
    content, reason = DAMAGES[damage]
    (root / RECORD).write_bytes(content)
    shutil.rmtree(experiment_folder(root) / "jobs" / "loco" / "egemaps_svm" / "DEMOC")   # a job left to run
    before = finished(root)
    one_line_error(capsys, run_loco_main(*extra), rf"^run_loco\.py: error: {RECORD}: {reason}$")
    assert finished(root) == before, "no job may run beside a record that cannot be read"


def test_collect_and_report_on_an_empty_record_are_one_line(root, capsys):
    (root / RECORD).write_bytes(b"")
    before = finished(root)
    one_line_error(capsys, run_loco_main("--collect"), rf"^run_loco\.py: error: {RECORD}: damaged experiment record")
    one_line_error(capsys, lambda: load_script("report").main([str(experiment_folder(root))]),
                   r"^report\.py: error: .*experiment\.yaml: damaged experiment record \(empty\)$")
    assert finished(root) == before


STUDY_FILE = """name: records
datasets_dir: datasets
corpora: {DEMOA: demo, DEMOB: demo, DEMOC: demo}
spectrogram: {size: 32}
bootstrap: 50
report: false
systems:
  - {name: svm_a, model: egemaps_svm}
  - {name: svm_b, model: egemaps_svm}
"""
STUDY_RECORD = "output/records/loco/records/experiment.yaml"


@pytest.fixture(scope="module")
def ran_study(study, tmp_path_factory):
    """The shared study's corpora run as a study of two eGeMAPS SVMs."""
    folder = copy_study(study, tmp_path_factory.mktemp("records_study") / "study")
    (folder / "study.yml").write_text(STUDY_FILE)
    with working_dir(folder):
        assert specct_run(["study.yml", "--no_progress"]) == 0
    return folder


@pytest.fixture
def study_root(ran_study, tmp_path, monkeypatch):
    copy = copy_study(ran_study, tmp_path / "study")
    monkeypatch.chdir(copy)
    return copy


@pytest.mark.parametrize("changed", [False, True], ids=["same file", "other flags"])
def test_an_empty_experiment_record_stops_specct_run_in_one_line(study_root, capsys, changed):
    """The issue's case: experiment.yaml cut to 0 bytes, a job deleted, the settings changed."""
    (study_root / STUDY_RECORD).write_bytes(b"")
    shutil.rmtree(study_root / "output/records/loco/records/jobs/loco/svm_b/DEMOC")
    if changed:
        (study_root / "study.yml").write_text(STUDY_FILE.replace(
            "{name: svm_b, model: egemaps_svm}", "{name: svm_b, model: egemaps_svm, flags: [--svm_c, '1']}"))
    before = finished(study_root)
    one_line_error(capsys, lambda: specct_run(["study.yml", "--no_progress"]),
                   rf"^specct run: error: {STUDY_RECORD}: damaged experiment record \(empty\)$")
    assert finished(study_root) == before


# --------------------------------------------------------------------------- a second system that cannot train

BAD_SYSTEMS = {
    "missing config": ("{name: bad, model: egemaps_svm, config: missing.yml}", r"missing\.yml: config file not found"),
    "unknown model": ("{name: bad, model: no_such_model}", r"unknown model 'no_such_model'"),
    "unknown config key": ("{name: bad, model: egemaps_svm, config: odd.yml}",
                           r"odd\.yml: unknown option 'no_such_flag' \(not a train\.py flag\)"),
    "config not a mapping": ("{name: bad, model: egemaps_svm, config: list.yml}",
                             r"list\.yml: expected a mapping of flag names to values"),
}


def write_bad_configs(root) -> None:
    (root / "odd.yml").write_text("no_such_flag: 1\n")
    (root / "list.yml").write_text("- 1\n- 2\n")


@pytest.mark.parametrize("bad", BAD_SYSTEMS)
def test_run_loco_refuses_a_bad_second_system_before_any_job(root, capsys, bad):
    entry, reason = BAD_SYSTEMS[bad]
    write_bad_configs(root)
    (root / "two.yml").write_text(f"name: two\nsystems:\n  - {{name: svm, model: egemaps_svm}}\n  - {entry}\n")
    before = finished(root)
    one_line_error(capsys, lambda: load_script("run_loco").main(["--experiment_file", "two.yml", "--no_progress"]),
                   rf"^run_loco\.py: error: two\.yml: system bad: .*{reason}")
    assert finished(root) == before, "the first system's jobs ran, or something was recorded"
    assert not (root / "output" / "loco" / "two").exists()


def test_a_bad_system_added_to_a_finished_experiment_is_never_recorded(root, capsys):
    (root / "more.yml").write_text("name: hostile\nsystems:\n  - {name: egemaps_svm, model: egemaps_svm}\n"
                                   "  - {name: bad, model: egemaps_svm, config: missing.yml}\n")
    before = finished(root)
    one_line_error(capsys, lambda: load_script("run_loco").main(["--experiment_file", "more.yml", "--no_progress",
                                                                 "--bootstrap", "50"]),
                   r"^run_loco\.py: error: more\.yml: system bad: missing\.yml: config file not found$")
    assert finished(root) == before
    assert "missing.yml" not in (root / RECORD).read_text()


def test_a_bad_system_flag_on_run_loco_s_command_line_is_refused_before_any_job(root, capsys):
    before = finished(root)
    one_line_error(capsys, lambda: load_script("run_loco").main(
        [*LOCO_FLAGS[:2], "--model", "egemaps_svm", "-c", "missing.yml", *LOCO_FLAGS[2:]]),
        r"^run_loco\.py: error: run_loco\.py: system egemaps_svm-missing: missing\.yml: config file not found$")
    assert finished(root) == before


# a study names its keys (systems[2].config) where it checks them itself
STUDY_REASONS = {"missing config": r"systems\[2\]\.config: config file missing\.yml not found$",
                 "unknown model": r"systems\[2\]\.model: unknown model 'no_such_model'",
                 "unknown config key": r"two\.yml: system bad: odd\.yml: unknown option 'no_such_flag'",
                 "config not a mapping": r"two\.yml: system bad: list\.yml: expected a mapping of flag names"}


@pytest.mark.parametrize("bad", BAD_SYSTEMS)
def test_specct_run_refuses_a_bad_second_system_before_any_stage(root, capsys, bad):
    entry, reason = BAD_SYSTEMS[bad][0], STUDY_REASONS[bad]
    write_bad_configs(root)
    (root / "two.yml").write_text(STUDY_FILE.replace("name: records", "name: two").replace(
        "{name: svm_b, model: egemaps_svm}", entry))
    before = {**finished(root), **snapshot(root / "datasets")}
    one_line_error(capsys, lambda: specct_run(["two.yml", "--no_progress"]), rf"^specct run: error: .*{reason}")
    assert {**finished(root), **snapshot(root / "datasets")} == before
    assert not (root / "output" / "two").exists()
