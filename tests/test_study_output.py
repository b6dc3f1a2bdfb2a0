"""What `specct run` tells a new user, on the quick baselines example (demo corpora, two SVMs):
the results table and verdict at the end, the plan of --dry_run (folds and their corpora, as the
splits then make them), the packaged examples found from any folder, one line on Ctrl-C that names
the command going on, and a report whose words and paths hold (refit titles, p < 0.05, paths
relative to the study folder, each fold's training and validation corpora as its split holds them)."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from specct.study import engine as study_module

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICK = REPO_ROOT / "src" / "specct" / "examples" / "quick_baselines.yml"
EXPERIMENT = Path("output") / "quick-baselines" / "loco" / "quick-baselines"


def env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def as_in_a_terminal():
    """Ctrl-C's default in the child, as a terminal gives it: a test run started in the background (a
    non-interactive shell's ``&``) ignores SIGINT, and a child inherits that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory):
    """The quick example, run whole by `specct run` from a folder outside the checkout; its output."""
    folder = tmp_path_factory.mktemp("quick")
    shutil.copy(QUICK, folder / "study.yml")
    done = subprocess.run([sys.executable, "-m", "specct.study.engine", "study.yml", "--no_progress"], cwd=folder,
                          capture_output=True, text=True, timeout=900, env=env())
    assert done.returncode == 0, done.stderr[-3000:]
    return folder, done.stdout


@pytest.mark.slow
def test_a_run_ends_with_the_results_table_and_the_verdict(finished_study):
    folder, out = finished_study
    lines = out.strip().splitlines()
    assert lines[-1] == f"report: {EXPERIMENT / 'report.html'}"
    verdict = [line for line in lines if line.startswith("verdict: ")]
    assert len(verdict) == 1 and verdict[0].startswith("verdict: By the mean over 3 held-out corpora")
    results = pd.read_csv(folder / EXPERIMENT / "results.csv")
    for row in results.itertuples():   # every row of results.csv, as the table prints it
        assert re.search(rf"^\| {row.system} \| {row.held_out} \| {row.n} \| {row.uar:.3f} ", out, re.M), row
    assert out.index("| egemaps_svm |") < out.index("verdict: ") < out.index("report: ")


@pytest.mark.slow
def test_the_dry_run_names_each_fold_s_corpora_as_the_split_makes_them(finished_study, capsys):
    folder, _ = finished_study
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        assert study_module.main(["study.yml", "--dry_run"]) == 0
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    assert "output folder    output/quick-baselines (experiment output/quick-baselines/loco/quick-baselines)" in out
    assert "corpora          DEMOA (demo), DEMOB (demo), DEMOC (demo)" in out
    assert "jobs             egemaps_svm, resemblyzer_svm on each held-out corpus (6 pairs, seed 0)" in out
    for held in ("DEMOA", "DEMOB", "DEMOC"):
        summary = pd.read_csv(next((folder / "output" / "quick-baselines" / "data" / held).rglob("split_summary.csv")))
        used = summary[summary["count"] > 0]
        trained = sorted(set(used.loc[used["split"] == "train", "corpus"]))
        validated = sorted(set(used.loc[used["split"] == "validation", "corpus"]))
        assert len(validated) == 1 and not set(trained) & set(validated)
        line = next(line for line in out.splitlines() if line.startswith(f"held out {held}"))
        assert f"trains on {', '.join(trained)}; validates on the whole of {validated[0]}, never trained on" in line


def test_the_packaged_examples_are_found_from_any_folder(tmp_path, capsys):
    cwd = os.getcwd()
    os.chdir(tmp_path)    # no examples/ here: the package's own
    try:
        assert study_module.main(["examples/quick_baselines.yml", "--dry_run"]) == 0
    finally:
        os.chdir(cwd)
    assert "output folder    output/quick-baselines" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("spelling", ["speaker_vectors", "speaker-vectors", "speaker vectors"])
def test_until_takes_a_stage_in_one_shell_word_and_the_old_spelling(spelling):
    args = study_module.build_parser().parse_args(["study.yml", "--until", spelling])
    assert args.until == "speaker_vectors" and study_module.stage_name(args.until) == "speaker vectors"
    assert "speaker vectors" not in " ".join(study_module.UNTIL_CHOICES)


@pytest.mark.slow
def test_ctrl_c_says_in_one_line_what_was_kept_and_its_command_goes_on(tmp_path):
    shutil.copy(QUICK, tmp_path / "study.yml")
    process = subprocess.Popen([sys.executable, "-m", "specct.study.engine", "study.yml", "--no_progress"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env(),
                               preexec_fn=as_in_a_terminal)
    deadline = time.monotonic() + 600
    while not list(tmp_path.rglob("performance.yaml")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert process.poll() is None, "the run ended before a job finished"
    process.send_signal(signal.SIGINT)
    err = process.communicate(timeout=300)[1]
    assert process.returncode == 130
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    found = re.fullmatch(r"specct run: interrupted in the jobs stage \((\d) of 6 jobs finished\); every finished "
                         r"file is kept and each stage goes on where it stopped: run (.+) again", lines[0])
    assert found, lines[0]
    finished = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("performance.yaml")}
    assert len(finished) == int(found.group(1)) >= 1

    # the command the line names, run as it is written, finishes the study and redoes nothing finished
    argv = shlex.split(found.group(2))
    assert argv[:2] == ["specct", "run"]
    done = subprocess.run([sys.executable, "-m", "specct.study.engine", *argv[2:]], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900, env=env())
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list(tmp_path.rglob("performance.yaml"))) == 6
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in finished.items())


@pytest.mark.slow
def test_ctrl_c_in_a_terminal_reaches_every_process_and_still_prints_one_line(tmp_path):
    # a terminal's Ctrl-C goes to the whole process group: here while the images stage starts its pool
    shutil.copy(QUICK, tmp_path / "study.yml")
    process = subprocess.Popen([sys.executable, "-m", "specct.study.engine", "study.yml", "--no_progress"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
                               start_new_session=True, preexec_fn=as_in_a_terminal)
    for line in process.stdout:
        if line.startswith("=== images"):
            break
    os.killpg(process.pid, signal.SIGINT)
    err = process.communicate(timeout=300)[1]   # to the end: the server and workers hold stderr too
    assert process.returncode == 130
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("specct run: interrupted in the "), err


# --------------------------------------------------------------------------- the report's words and paths

def section(markdown: str, title: str) -> str:
    return markdown.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


@pytest.mark.slow
def test_the_report_writes_paths_relative_to_the_study_folder_and_its_commands_work_there(finished_study):
    folder, _ = finished_study
    markdown = (folder / EXPERIMENT / "report.md").read_text()
    study_folder = folder / "output" / "quick-baselines"
    for title in ("Rows used", "Reproduction"):
        assert str(folder) not in section(markdown, title), title
    assert "| loco/egemaps_svm/DEMOA | DEMOA | data/DEMOA/4_classes/no_aug/no_balanced/eval_data/test.csv | 24 |" in \
        markdown
    assert "*Split data/DEMOA/4_classes/no_aug/no_balanced (used by 2 job(s))*" in markdown
    code = section(markdown, "Reproduction").split("```\n", 1)[1].split("```", 1)[0]
    assert "(the study folder is output/quick-baselines)\nspecct run study.yml --no_progress\n" in code
    jobs = [line for line in code.splitlines() if line.startswith("specct loco ")]
    assert len(jobs) == 6
    for line in jobs[:1]:   # run from the study folder, a job command finds its finished job
        argv = shlex.split(line)
        done = subprocess.run([sys.executable, "-m", "specct.loco", *argv[2:]], cwd=study_folder,
                              capture_output=True, text=True, timeout=300, env=env())
        assert done.returncode == 0, done.stderr[-2000:]
        assert f"job {argv[-1]}: finished earlier, skipped" in done.stdout
    trains = [line for line in code.splitlines() if line.startswith("#   train.py ")]
    for line in trains:
        train_data = shlex.split(line)[2]
        assert (study_folder / train_data).is_dir(), line


@pytest.mark.slow
def test_the_report_says_what_a_refit_baseline_was_fitted_on_and_keeps_p_below_0_05_as_written(finished_study):
    from specct.loco.results import read_collected
    from specct.report.facts import finished_loco_runs
    from specct.report.figures import confusion_title

    folder, _ = finished_study
    experiment = folder / EXPERIMENT
    markdown = (experiment / "report.md").read_text()
    assert "real when p < 0.05 and the 95% interval excludes 0" in markdown and "&lt;" not in markdown
    verdict = section(markdown, "Verdict")
    assert "Systems;" not in verdict and "*The systems compared. Protocols run: loco; held-out corpora:" in verdict
    runs = finished_loco_runs(experiment, read_collected(experiment).jobs)
    assert len(runs) == 6
    for run in runs:
        performance = yaml.safe_load((run.test_dir / "performance.yaml").read_text())
        assert performance["refit"] is True   # the baselines refit on training + validation rows by default
        job = yaml.safe_load((run.folder / "job.yaml").read_text())
        summary = pd.read_csv(Path(job["train_data"]).parent / "split_summary.csv")
        used = summary[(summary["count"] > 0) & (summary["split"] != "test")]
        both = "+".join(sorted(set(used["corpus"])))
        validated = "+".join(sorted(set(used.loc[used["split"] == "validation", "corpus"])))
        title = confusion_title(run, performance)
        assert title.startswith(f"{run.system} (refit on {both} after the choice on {validated})\n"
                                f"tested on {run.corpus}: UAR "), title
        assert "trained on" not in title


@pytest.mark.slow
def test_the_report_s_protocol_names_each_fold_s_training_and_validation_corpora_as_its_split_holds_them(tmp_path):
    content = yaml.safe_load(QUICK.read_text())
    content["split"] = {"validation": "corpus"}
    (tmp_path / "study.yml").write_text(yaml.safe_dump(content, sort_keys=False))
    done = subprocess.run([sys.executable, "-m", "specct.study.engine", "study.yml", "--no_progress"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=900, env=env())
    assert done.returncode == 0, done.stderr[-3000:]
    protocol = section((tmp_path / EXPERIMENT / "report.md").read_text(), "Protocol")
    assert "| held-out corpus | trained on | validated on | fitted on the training rows only | " \
           "refit on training + validation rows |" in protocol
    for held in ("DEMOA", "DEMOB", "DEMOC"):
        split = next((tmp_path / "output" / "quick-baselines" / "data" / held).rglob("split_summary.csv")).parent
        assert json.loads((split / "split_options.json").read_text())["validation_used"] == "corpus"
        trained = pd.read_csv(split / "train_data" / "train.csv")["corpus"].value_counts()
        validated = pd.read_csv(split / "train_data" / "validation.csv")["corpus"].value_counts()
        assert len(trained) == 1 and len(validated) == 1 and held not in {*trained.index, *validated.index}
        (train, n_train), (validation, n_validation) = next(trained.items()), next(validated.items())
        row = next(line for line in protocol.splitlines() if line.startswith(f"| {held} | "))
        both = "+".join(sorted([train, validation]))
        assert row == (f"| {held} | {train} ({n_train} rows) | the whole of {validation} ({n_validation} rows) | - | "
                       f"egemaps_svm, resemblyzer_svm: {both} ({n_train + n_validation} rows) |"), row
    assert "Refit on the training and validation rows together, after the choice on the validation rows: " \
           "egemaps_svm, resemblyzer_svm." in protocol


@pytest.mark.slow
def test_a_second_reference_compares_on_the_same_rows(finished_study):
    """benchmarks/compare_reference.py: with the study's own reference it writes comparison.csv as the
    study did; with another, each difference is the same pair of systems on the same draws, turned round."""
    folder, _ = finished_study
    experiment, script = folder / EXPERIMENT, REPO_ROOT / "benchmarks" / "compare_reference.py"

    def compare(reference: str, out: str):
        return subprocess.run([sys.executable, str(script), str(experiment), "--reference", reference,
                               "--out", str(folder / out)], capture_output=True, text=True, timeout=300, env=env())

    own = compare("egemaps_svm", "own.csv")
    assert own.returncode == 0, own.stderr
    assert (folder / "own.csv").read_text() == (experiment / "comparison.csv").read_text()
    other = compare("resemblyzer_svm", "other.csv")
    assert other.returncode == 0, other.stderr
    before = pd.read_csv(folder / "own.csv").set_index("held_out")
    after = pd.read_csv(folder / "other.csv").set_index("held_out")
    assert set(after["system"]) == {"egemaps_svm"} and set(after["reference"]) == {"resemblyzer_svm"}
    assert list(after.index) == list(before.index) == ["DEMOA", "DEMOB", "DEMOC", "mean"]
    assert (after["uar_system"] == before["uar_reference"]).all()
    assert ((after["difference"] + before["difference"]).abs() <= 1e-4).all()
    assert ((after["ci_low"] + before["ci_high"]).abs() <= 1e-4).all()
    wrong = compare("no_such_system", "wrong.csv")
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1 and "no_such_system" in wrong.stderr
