"""Experiments over corpora: three systems x held-out demo corpora, shared test rows, resumable jobs,
printed job commands, collection, and the pairwise (one-to-one) matrix."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image
from training_fixtures import TINY_MODEL, TINY_SIZE

from specct import loco
from specct.stages.evaluate import PERFORMANCE_NAME, PREDICTIONS_NAME

SRC = Path(__file__).resolve().parents[1] / "src"
# One transformer block instead of seven: these tests check the orchestration, and a checkpoint with
# its optimizer state is then about 50 MB instead of 157 MB (a dozen runs are kept at once).
TRAIN_FLAGS = ["--input-size", "3", str(TINY_SIZE), str(TINY_SIZE), "--epochs", "1", "--max-steps", "1",
               "--batch-size", "8", "--no-progress", "--model_kwargs", "depth=1"]
HELD_OUT = ["DEMOA", "DEMOB"]
SYSTEMS = [TINY_MODEL, f"{TINY_MODEL}-fast", "cct_7_7x2_112"]


@pytest.fixture(scope="module")
def workspace(demo_split, tmp_path_factory):
    root = tmp_path_factory.mktemp("loco")
    (root / "fast.yml").write_text("lr: 0.01\n")
    yield root
    # A dozen runs' checkpoints (about 1 GB): gone when this file's tests end, not at the session's.
    shutil.rmtree(root, ignore_errors=True)


def experiment_argv(demo_split, root: Path, tag: str) -> list[str]:
    """Three systems: the tiny speaker model, the same with another config, and a plain CCT."""
    return ["--datasets_dir", str(demo_split.datasets), "--datasets", *HELD_OUT,
            "--model", TINY_MODEL, "--model", TINY_MODEL, "-c", str(root / "fast.yml"), "--model", "cct_7_7x2_112",
            "--name", "three", "--data_dir", str(root / tag / "data"), "--output", str(root / tag / "output"),
            "--bootstrap", "200", *TRAIN_FLAGS]


def job_files(folder: Path) -> dict[str, int]:
    """Modification times of every checkpoint and result of an experiment's jobs."""
    return {str(p): p.stat().st_mtime_ns for p in sorted((folder / "jobs").rglob("*"))
            if p.suffix in (".tar", ".yaml", ".csv") and p.name != loco.JOB_RECORD}


@pytest.fixture(scope="module")
def experiment(demo_split, workspace):
    """The one-process run, interrupted after its first job and run again to the end."""
    argv = experiment_argv(demo_split, workspace, "one")
    folder = workspace / "one" / "output" / "loco" / "three"
    assert loco.main(argv + ["--max_jobs", "1"]) == 0            # a kill after the first job
    finished = sorted(p.parent.parent for p in folder.rglob(PERFORMANCE_NAME))
    first = job_files(folder)
    assert loco.main(argv) == 0
    return argv, folder, finished, first


@pytest.mark.slow
def test_a_rerun_repeats_no_finished_job(experiment, capsys):
    argv, folder, finished, first = experiment
    assert [p.relative_to(folder / "jobs").as_posix() for p in finished] == [f"loco/{TINY_MODEL}/DEMOA"]
    after = job_files(folder)
    assert {k: after[k] for k in first} == first               # the first job was not run again
    assert len(list(folder.rglob(PERFORMANCE_NAME))) == len(SYSTEMS) * len(HELD_OUT)
    capsys.readouterr()
    assert loco.main(argv) == 0
    assert capsys.readouterr().out.count("finished earlier, skipped") == len(SYSTEMS) * len(HELD_OUT)
    assert job_files(folder) == after


@pytest.mark.slow
def test_every_system_is_tested_on_the_same_rows(experiment):
    _, folder, _, _ = experiment
    for corpus in HELD_OUT:
        files = [set(pd.read_csv(folder / "jobs" / "loco" / s / corpus / "test" / PREDICTIONS_NAME)["file"])
                 for s in SYSTEMS]
        assert files[0] == files[1] == files[2]
        performance = yaml.safe_load((folder / "jobs" / "loco" / SYSTEMS[0] / corpus / "test" /
                                      PERFORMANCE_NAME).read_text())
        test_rows = pd.read_csv(performance["test_csv"])
        assert set(test_rows["image"]) == files[0] and set(test_rows["corpus"]) == {corpus}
        # one split per held-out corpus, shared by every system
        splits = {yaml.safe_load((folder / "jobs" / "loco" / s / corpus / loco.JOB_RECORD).read_text())["train_data"]
                  for s in SYSTEMS}
        assert len(splits) == 1


@pytest.mark.slow
def test_results_comparison_and_heatmap(experiment):
    _, folder, _, _ = experiment
    results = pd.read_csv(folder / loco.RESULTS_CSV)
    assert list(results["system"]) == [s for s in SYSTEMS for _ in range(3)]
    assert list(results["held_out"]) == [*HELD_OUT, "mean"] * 3
    assert results[["uar", "accuracy", "macro_f1"]].apply(lambda c: c.between(0, 1)).all().all()
    assert (results["uar_ci_low"] <= results["uar"] + 1e-12).all()
    assert (results["uar"] <= results["uar_ci_high"] + 1e-12).all()
    assert (results.loc[results["held_out"] != "mean", "n"] == 32).all()
    comparison = pd.read_csv(folder / loco.COMPARISON_CSV)
    assert list(comparison["system"]) == [s for s in SYSTEMS[1:] for _ in range(3)]
    assert set(comparison["reference"]) == {TINY_MODEL}
    assert comparison["p_value"].between(0, 1).all()
    diff = comparison["uar_system"] - comparison["uar_reference"]
    assert np.allclose(diff, comparison["difference"], atol=2e-4)     # each rounded to 4 decimals
    with Image.open(folder / loco.HEATMAP) as image:
        assert image.size[0] > 100 and image.size[1] > 100
    markdown = (folder / loco.RESULTS_MD).read_text()
    assert "| UAR (95% CI) |" in markdown and "| verdict |" in markdown
    jobs = pd.read_csv(folder / loco.JOBS_CSV)
    assert jobs["finished"].all() and len(jobs) == 6
    record = yaml.safe_load((folder / loco.EXPERIMENT_FILE).read_text())
    assert [s["name"] for s in record["options"]["systems"]] == SYSTEMS
    assert {"specct", "torch", "timm", "git_commit"} <= set(record["versions"])


@pytest.mark.slow
def test_printed_jobs_run_in_a_shell_give_the_same_results(experiment, demo_split, workspace, capsys):
    argv, folder, _, _ = experiment
    shell_argv = experiment_argv(demo_split, workspace, "shell")
    capsys.readouterr()
    assert loco.main(shell_argv + ["--print-jobs"]) == 0
    commands = capsys.readouterr().out.strip().splitlines()
    assert len(commands) == 6 and all(" --job loco/" in c for c in commands)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    for command in commands:    # one by one, each its own process, as an array job would
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True, cwd="/")
        assert done.returncode == 0, done.stderr[-2000:]
    shell_folder = workspace / "shell" / "output" / "loco" / "three"
    capsys.readouterr()
    assert loco.main(shell_argv + ["--collect"]) == 0
    assert "6 of 6 job(s) finished" in capsys.readouterr().out
    for system in SYSTEMS:
        for corpus in HELD_OUT:
            mine, theirs = (pd.read_csv(f / "jobs" / "loco" / system / corpus / "test" / PREDICTIONS_NAME)
                            for f in (folder, shell_folder))
            assert [Path(f).name for f in mine["file"]] == [Path(f).name for f in theirs["file"]]
            assert list(mine["prediction"]) == list(theirs["prediction"])
            probabilities = [c for c in mine.columns if c.startswith("prob_")]
            assert np.allclose(mine[probabilities], theirs[probabilities], atol=1e-5)
    columns = ["system", "held_out", "n", "uar", "uar_ci_low", "uar_ci_high", "accuracy", "macro_f1"]
    pd.testing.assert_frame_equal(pd.read_csv(folder / loco.RESULTS_CSV)[columns],
                                  pd.read_csv(shell_folder / loco.RESULTS_CSV)[columns])


def test_collect_says_what_is_missing(demo_split, tmp_path, capsys):
    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", "DEMOA", "DEMOB",
            "--model", TINY_MODEL, "--model", "cct_7_7x2_112", "--output", str(tmp_path), "--collect"]
    assert loco.main(argv) == 0
    out = capsys.readouterr().out
    assert "0 of 4 job(s) finished" in out
    assert f"loco/{TINY_MODEL}/DEMOA" in out and "loco/cct_7_7x2_112/DEMOB" in out
    jobs = pd.read_csv(tmp_path / "loco" / f"{TINY_MODEL}+cct_7_7x2_112" / loco.JOBS_CSV)
    assert not jobs["finished"].any()


def test_systems_from_flags_and_from_an_experiment_file(tmp_path):
    parser = loco.build_parser()
    args, rest = parser.parse_known_args(["--model", "a", "-c", "x/one.yml", "--model", "b", "--lr", "0.1",
                                          "--datasets", "EMODB", "RAVDESS"])
    opts = loco.options_from_args(args, rest)
    assert [(s.name, s.model, s.config) for s in opts.systems] == [("a-one", "a", "x/one.yml"), ("b", "b", None)]
    assert opts.corpora == ["EMODB", "RAVDESS"] and opts.train_flags == {"lr": 0.1}
    assert loco.experiment_name(opts) == "a-one+b" and loco.reference_system(opts) == "a-one"
    file = tmp_path / "cmp.yml"
    file.write_text("reference: speaker\nsystems:\n"
                    "  - {name: plain, model: cct_7_7x2_112, flags: [--epochs, '3']}\n"
                    "  - {name: speaker, model: speaker_vgg_cct_7_7x2_112, config: c.yml, flags: {lr: 0.01}}\n")
    args, rest = parser.parse_known_args(["--experiment", str(file)])
    opts = loco.options_from_args(args, rest)
    assert [(s.name, s.flags) for s in opts.systems] == [("plain", {"epochs": 3}), ("speaker", {"lr": 0.01})]
    assert loco.experiment_name(opts) == "cmp" and loco.reference_system(opts) == "speaker"


@pytest.mark.parametrize("argv, message", [
    (["-c", "x.yml"], "belongs to the --model before it"),
    (["--model", "a", "--model", "a"], "listed twice"),
    (["--model", "a", "--reference", "b"], "not a system"),
    (["--model", "a", "--no_such_flag"], "not train.py flags: --no_such_flag"),
    (["--model", "a", "--epochs", "many"], "argument --epochs: invalid int value: 'many'"),
    (["--datasets", "NOPE"], "NOPE not imported"),
    (["--model", TINY_MODEL, "--protocol", "pairwise", "--datasets", "DEMOA", "DEMOB",
      "--job", f"pairwise/{TINY_MODEL}/DEMOA/fold-01"], "--folds 5 is more than the 4 speakers of DEMOA"),
])
def test_bad_experiments_are_one_line_errors(demo_split, tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        loco.main(["--datasets_dir", str(demo_split.datasets), "--output", str(tmp_path),
                   "--data_dir", str(tmp_path / "data"), "--collect", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def pairwise_experiment(demo_split, workspace) -> Path:
    """One system, both protocols: the loco jobs and the one-to-one matrix with a two-fold diagonal."""
    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", *HELD_OUT, "--model", TINY_MODEL,
            "--protocol", "loco", "pairwise", "--folds", "2", "--name", "both", "--bootstrap", "100",
            "--data_dir", str(workspace / "one" / "data"), "--output", str(workspace / "pairwise"), *TRAIN_FLAGS]
    assert loco.main(argv) == 0
    return workspace / "pairwise" / "loco" / "both"


@pytest.mark.slow
def test_pairwise_matrix_with_a_within_corpus_diagonal(pairwise_experiment):
    folder = pairwise_experiment
    table = pd.read_csv(folder / loco.PAIRWISE_CSV)
    assert [(r.train, r.test, r.kind) for r in table.itertuples()] == [
        ("DEMOA", "DEMOA", "self"), ("DEMOA", "DEMOB", "cross"),
        ("DEMOB", "DEMOA", "cross"), ("DEMOB", "DEMOB", "self")]
    assert (table["n"] == 32).all()      # the diagonal pools its folds: every row of the corpus once
    fold_rows = [set(pd.read_csv(folder / "jobs" / "pairwise" / TINY_MODEL / "DEMOA" / f / "test" /
                                 PREDICTIONS_NAME)["file"]) for f in ("fold-01", "fold-02")]
    assert not fold_rows[0] & fold_rows[1]
    loco_rows = set(pd.read_csv(folder / "jobs" / "loco" / TINY_MODEL / "DEMOA" / "test" / PREDICTIONS_NAME)["file"])
    assert fold_rows[0] | fold_rows[1] == loco_rows
    cross = pd.read_csv(folder / "jobs" / "pairwise" / TINY_MODEL / "DEMOB" / "test-DEMOA" / PREDICTIONS_NAME)
    assert set(cross["file"]) == loco_rows                   # the same rows as the loco test of DEMOA
    matrix = pd.read_csv(folder / f"pairwise_matrix_{TINY_MODEL}.csv").set_index("train")
    assert list(matrix.index) == HELD_OUT and list(matrix.columns) == HELD_OUT
    summary = pd.read_csv(folder / loco.PAIRWISE_SUMMARY_CSV)
    assert summary.loc[0, "self_uar"] == pytest.approx(table.loc[table["kind"] == "self", "uar"].mean())
    assert summary.loc[0, "cross_uar"] == pytest.approx(table.loc[table["kind"] == "cross", "uar"].mean())
    assert (folder / f"pairwise_{TINY_MODEL}.png").stat().st_size > 0
    assert (folder / loco.RESULTS_CSV).is_file()


# --------------------------------------------------------------------------- the report, in a real browser

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions", "--mute-audio",
                 # no network: every host unresolvable, every proxied request refused
                 "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
                 "--virtual-time-budget=10000"]
# Runs in the page once it has loaded: what the DOM holds, written into the DOM for --dump-dom.
DOM_CHECK = """<script>
window.addEventListener('load', () => {
  const tables = [...document.querySelectorAll('table')].map(t => ({
    caption: t.caption ? t.caption.textContent : '', rows: t.tBodies.length ? t.tBodies[0].rows.length : 0}));
  const images = [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight]);
  const rows = [...document.querySelectorAll('div.row')].map(r => r.querySelectorAll('img').length);
  const requests = performance.getEntriesByType('resource').map(e => e.name);
  const out = document.createElement('pre');
  out.id = 'dom-check';
  out.textContent = JSON.stringify({tables, images, rows, requests, real: document.querySelectorAll('tr.real').length});
  document.body.appendChild(out);
});
</script>"""


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless Chromium here and none could be installed (make setup / .ci/run install "
                "Debian's chromium package where apt-get is available)")


def render(report: Path, tmp_path: Path) -> dict:
    """Load a copy of the report (with the DOM check added) in headless Chromium; the check's result."""
    page = tmp_path / "page.html"
    page.write_text(report.read_text().replace("</body>", DOM_CHECK + "</body>"))
    done = subprocess.run([browser(), *BROWSER_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r'<pre id="dom-check">(.*?)</pre>', done.stdout, re.S)
    assert found, f"the page did not finish loading: {done.stdout[-500:]}"
    return json.loads(html.unescape(found.group(1)))


def assert_self_contained(text: str) -> None:
    """No reference leaves the file: every src/href is a data: URI; no remote style, script or font."""
    for reference in re.findall(r'(?:src|href)\s*=\s*["\']?([^"\'\s>]*)', text, re.I):
        assert reference.startswith("data:"), reference[:80]
    assert not re.search(r"https?://|url\(|@import|<link|<script|<iframe", text, re.I)


@pytest.mark.slow
def test_the_report_opens_from_a_file_in_a_headless_browser(experiment, tmp_path):
    from specct.report.document import write_report

    _, folder, _, _ = experiment
    report, markdown = write_report(folder)
    assert_self_contained(report.read_text())
    dom = render(report, tmp_path)
    assert dom["requests"] == []                               # nothing was fetched, not even locally
    assert dom["images"] and all(complete and w > 0 and h > 0 for complete, w, h in dom["images"])
    # 1 heatmap + 6 confusion matrices + 1 reliability diagram + 6 training curves + 6 saliency maps
    # + 3 speaker maps (the speaker CCTs read the speaker vectors)
    assert len(dom["images"]) == 1 + 6 + 1 + 6 + 6 + 3
    rows = {t["caption"].split(":")[0].split(";")[0]: t["rows"] for t in dom["tables"]}
    assert rows["Each metric with its 95% bootstrap interval where it has one"] == 9  # 3 systems x (2 corpora + mean)
    assert rows["Significance"] == 6                           # 2 systems x (2 corpora + mean)
    assert rows["The systems compared. Protocols run"] == 3 and rows["Versions when the experiment was run"] >= 4
    comparison = pd.read_csv(folder / loco.COMPARISON_CSV)
    assert dom["real"] == int(comparison["significant"].sum())  # real differences marked, others ties
    text = markdown.read_text()
    assert "| system | held-out corpus | n | UAR (95% CI) | accuracy | macro-F1 |" in text and "| verdict |" in text
    assert text.count("| tie |") + text.count("| **real: ") == 6
    assert "--job loco/" in report.read_text() and "git_commit" in report.read_text()
    assert "Transductive normalisation" in text and "None: no job used the unlabelled test audio" in text


@pytest.mark.slow
def test_the_report_shows_both_heatmaps_side_by_side(pairwise_experiment, tmp_path):
    from specct.commands.report import main as report_main

    assert report_main([str(pairwise_experiment)]) == 0
    report = pairwise_experiment / "report.html"
    assert_self_contained(report.read_text())
    dom = render(report, tmp_path)
    assert dom["requests"] == [] and all(w > 0 for _, w, _ in dom["images"])
    assert dom["rows"][0] == 2                                 # loco heatmap beside the pairwise matrix
    rows = {t["caption"].split(":")[0]: t["rows"] for t in dom["tables"]}
    assert rows["One-to-one"] == 1 and rows["One-to-one cells (the diagonal pools the predictions of its folds)"] == 4


def test_an_experiment_keeps_its_split_options(demo_split, tmp_path, capsys):
    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", "DEMOA", "DEMOB", "--model", TINY_MODEL,
            "--output", str(tmp_path), "--name", "fixed", "--collect"]
    assert loco.main(argv) == 0
    with pytest.raises(SystemExit) as exit_info:
        loco.main(argv + ["--seed", "5"])
    assert exit_info.value.code == 2
    assert "other split options (seed 0, now 5)" in capsys.readouterr().err


def test_report_finds_transductive_options_at_any_depth():
    from specct.report.document import transductive_options

    args = {"model": "egemaps_svm", "scaling": {"mode": "speaker", "transductive": True, "note": "..."},
            "speaker_norm_transductive": False, "nested": {"deeper": {"transductive_speaker_norm": "speaker"}}}
    assert transductive_options(args) == [("scaling.transductive", True),
                                          ("nested.deeper.transductive_speaker_norm", "speaker")]
    assert transductive_options({"scaling": {"mode": "standard", "transductive": False}}) == []


def test_a_record_from_before_flags_were_values_is_read():
    record = {"train_args": ["--epochs", "2"],
              "systems": [{"name": "a", "model": "cct_7_7x2_112", "config": None, "train_args": ["--lr", "0.1"]}]}
    opts = loco.options_from_record(record)
    assert opts.train_flags == {"epochs": 2}
    assert [(s.name, s.flags) for s in opts.systems] == [("a", {"lr": 0.1})]
