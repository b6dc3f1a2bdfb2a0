"""Hostile runs, class 4: names that become folders (an experiment's --name or its file's ``name:``,
a system's name, a corpus folder) are checked before any path is made: a separator, ``..``, a
character that cannot be printed or an empty name is one line, and nothing is written anywhere."""
from __future__ import annotations

import re
import shutil

import pytest
from hostile_helpers import experiment_folder, run_loco_main, snapshot
from hostile_helpers import root, study  # noqa: F401  (the shared fixtures)
from script_helpers import load_script, one_line_error




def everything(root) -> dict[str, bytes]:
    """Every file of the study and of the folder around it (a name escaping the study would land there)."""
    return snapshot(root.parent)


BAD_NAMES = {
    "parent folders": ("../../../x", r"holds '/'; it must be one folder name"),
    "nested": ("a/b", r"holds '/'"),
    "angle bracket": ("a<b", r"holds '<'"),
    "dot dot": ("..", r"holds '\.\.'; it must name a folder inside its parent"),
    "dots inside": ("a..b", r"holds '\.\.'"),
    "empty": ("", r"is empty"),
    "blank": ("   ", r"is empty"),
    "tab": ("a\tb", r"cannot be printed"),
    "newline": ("a\nb", r"cannot be printed"),
    "hidden": (".hidden", r"starts with '-' or '\.'"),
    "too long": ("n" * 300, r"is longer than 255 bytes"),
}


@pytest.mark.parametrize("case", sorted(BAD_NAMES))
def test_a_bad_experiment_name_is_one_line_and_writes_nothing(root, capsys, case):
    name, reason = BAD_NAMES[case]
    before = everything(root)
    flags = ["--model", "egemaps_svm", "--name", name, "--no_progress", "--bootstrap", "50"]
    one_line_error(capsys, lambda: load_script("run_loco").main(flags), r"^run_loco\.py: error: --name .* " + reason)
    assert everything(root) == before


@pytest.mark.parametrize("name", ["../../../x", "a<b", "x/y"])
def test_a_bad_name_in_an_experiment_file_names_the_file(root, capsys, name):
    spec = root / "systems.yml"
    spec.write_text(f"name: '{name}'\nsystems:\n  - model: egemaps_svm\n")
    before = everything(root)
    one_line_error(capsys, lambda: load_script("run_loco").main(["--experiment_file", str(spec), "--no_progress"]),
                   rf"^run_loco\.py: error: .*systems\.yml: experiment name '{name}' holds")
    assert everything(root) == before


def test_an_empty_name_in_an_experiment_file_is_refused_not_replaced(root, capsys):
    spec = root / "systems.yml"
    spec.write_text("name: ''\nsystems:\n  - model: egemaps_svm\n")
    one_line_error(capsys, lambda: load_script("run_loco").main(["--experiment_file", str(spec), "--no_progress"]),
                   r"systems\.yml: experiment name '' is empty$")


@pytest.mark.parametrize("name", ["../up", "a/b", "x<y", ".."])
def test_a_bad_system_name_is_one_line(root, capsys, name):
    spec = root / "systems.yml"
    spec.write_text(f"name: fine\nsystems:\n  - name: '{name}'\n    model: egemaps_svm\n")
    before = everything(root)
    one_line_error(capsys, lambda: load_script("run_loco").main(["--experiment_file", str(spec), "--no_progress"]),
                   rf"^run_loco\.py: error: .*systems\.yml: system name '{name}' must be a plain folder name")
    assert everything(root) == before


@pytest.mark.parametrize("corpus", ["DEMO<D", "DEMO\tD", "-DEMOD"])
def test_a_corpus_folder_whose_name_cannot_be_a_path_part_is_one_line(root, capsys, corpus):
    bad = root / "datasets" / corpus
    shutil.copytree(root / "datasets" / "DEMOA" / "DEMOA_wav", bad / f"{corpus}_wav")
    before = snapshot(root / "output")
    one_line_error(capsys, run_loco_main(), rf"^run_loco\.py: error: datasets: corpus name {re.escape(repr(corpus))} ")
    assert snapshot(root / "output") == before


def test_the_report_of_a_finished_experiment_finds_it(root, capsys):
    """The case the bad names broke: --report read another (nested) folder and called a finished job unfinished."""
    capsys.readouterr()
    assert run_loco_main("--report")() == 0
    out = capsys.readouterr().out
    assert "3 of 3 job(s) finished" in out
    assert (experiment_folder(root) / "report.html").is_file()
    folder = experiment_folder(root).relative_to(root)   # as the command was given it: output/...
    report_lines = [line for line in out.splitlines() if line.startswith("report: ")]
    assert report_lines == [f"report: {folder / 'report.html'} and {folder / 'report.md'}"], out
