"""A whole study from one experiment file (``specct run``): real demo audio, real (small) baselines,
stops and kills between and inside stages, broken files, the Python API of docs/api.md."""
from __future__ import annotations

import os
import re
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
from specct.core.errors import MissingInputError

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "src" / "specct" / "examples"
QUICK = EXAMPLES / "quick_baselines.yml"


def quick_study(output: Path, **changes) -> dict:
    """The quick baselines example, writing under ``output``."""
    content = yaml.safe_load(QUICK.read_text())
    content.update(output=str(output), **changes)
    return content


def snapshot(folder: Path, suffixes=(".wav", ".png", ".npz", ".skops", ".yaml")) -> dict[str, int]:
    """mtime of every finished file a stage writes (tables and the report are rewritten on purpose)."""
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in folder.rglob("*")
            if p.is_file() and p.suffix in suffixes and p.parent.parent.name != "loco"}


def write_file(tmp_path: Path, content: dict | str, name: str = "study.yml") -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def docs_example(tmp_path_factory):
    """The example of docs/api.md, run as it is written from a folder holding examples/."""
    folder = tmp_path_factory.mktemp("api")
    shutil.copytree(EXAMPLES, folder / "examples")
    code = re.search(r"```python\n(.*?)```", (REPO_ROOT / "docs" / "api.md").read_text(), re.S).group(1)
    completed = subprocess.run([sys.executable, "-c", code], cwd=folder, capture_output=True, text=True,
                               timeout=900)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return folder, completed.stdout


@pytest.mark.slow
def test_docs_api_example_runs(docs_example):
    folder, out = docs_example
    experiment = folder / "output" / "quick-baselines" / "loco" / "quick-baselines"
    results = pd.read_csv(experiment / "results.csv")
    # two systems x three held-out corpora, and the mean of each system over them
    assert sorted(results["held_out"].unique()) == ["DEMOA", "DEMOB", "DEMOC", "mean"]
    assert sorted(results["system"].unique()) == ["egemaps_svm", "resemblyzer_svm"]
    assert results["uar"].between(0, 1).all()
    assert (results["uar_ci_low"] <= results["uar"]).all() and (results["uar"] <= results["uar_ci_high"]).all()
    # the test rows are each held-out corpus's whole set (24 wavs: 3 speakers x 4 classes x 2 sentences)
    assert (results.loc[results["held_out"] != "mean", "n"] == 24).all()
    assert (experiment / "report.html").is_file() and "report.html" in out
    assert len(pd.read_csv(experiment / "comparison.csv")) == 4     # resemblyzer vs egemaps on 3 + mean
    assert len([line for line in out.splitlines() if "DEMOC_wav" in line]) == 3   # three labelled wavs
    assert any(emotion in out for emotion in ("anger", "happy", "neutral", "sad"))


@pytest.mark.slow
def test_a_second_run_redoes_nothing_and_ends_naming_the_report(docs_example, capsys):
    folder, _ = docs_example
    before = snapshot(folder / "output")
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        assert study_module.main(["examples/quick_baselines.yml", "--no_progress"]) == 0
    finally:
        os.chdir(cwd)
    out = capsys.readouterr().out
    for stage in ("import", "images", "speaker vectors", "features", "jobs"):
        assert f"=== {stage}: done" in out
    assert out.strip().splitlines()[-1] == "report: output/quick-baselines/loco/quick-baselines/report.html"
    assert sum(line.startswith("report: ") for line in out.splitlines()) == 1, out
    assert snapshot(folder / "output") == before


@pytest.mark.slow
def test_stopped_after_each_stage_and_killed_in_the_jobs_it_goes_on_from_there(tmp_path):
    content = quick_study(tmp_path / "out")
    path = write_file(tmp_path, content)
    workdir = tmp_path / "out" / "quick-baselines"
    kept: dict[str, int] = {}
    for stage in ("import", "images", "speaker vectors", "features"):
        study_module.run_study(path, until=stage, progress=False)
        now = snapshot(workdir)
        assert all(now[name] == mtime for name, mtime in kept.items()), f"{stage} rewrote an earlier file"
        assert len(now) > len(kept), f"{stage} wrote nothing"
        kept = now
    assert not (workdir / "loco").exists() or not any((workdir / "loco").rglob("predictions.csv"))

    # killed while the jobs run: started as `specct run` would be, stopped with SIGKILL once one job finished
    process = subprocess.Popen([sys.executable, "-m", "specct.study.engine", str(path), "--no_progress"], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not list(workdir.rglob("performance.yaml")) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {str(p.relative_to(workdir)): p.stat().st_mtime_ns for p in workdir.rglob("performance.yaml")}
    assert finished, "no job finished before the kill"

    result = study_module.run_study(path, progress=False)
    assert all(snapshot(workdir)[name] == mtime for name, mtime in kept.items())
    assert all((workdir / name).stat().st_mtime_ns == mtime for name, mtime in finished.items())
    assert len(list(workdir.rglob("performance.yaml"))) == 6
    assert len(result.results) == 8 and result.report.is_file()


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path, capsys):
    path = write_file(tmp_path, quick_study(tmp_path / "out"))
    assert study_module.main([str(path), "--dry_run"]) == 0
    lines = capsys.readouterr().out.strip().split("\n\n")[-1].splitlines()   # the stages, below the plan
    assert [line.split("  ")[0].strip() for line in lines] == list(study_module.STAGES)
    assert "3 corpora to do" in lines[0] and "6 jobs to do" in lines[4]
    assert not (tmp_path / "out").exists()


BROKEN = {
    "typo key": ({"sytems": []}, "unknown key 'sytems' (did you mean 'systems'?)"),
    "missing folder": ({"corpora": {"EMODB": "/no/such/folder", "DEMOA": "demo"}}, "corpora.EMODB: folder"),
    "unknown model": ({"systems": [{"model": "egemaps_svn"}]},
                      "systems[1].model: unknown model 'egemaps_svn': neither a baseline nor a timm model "
                      "(docs/models.md); did you mean 'egemaps_svm'?"),
    "unknown corpus": ({"corpora": {"NOSUCH": "/tmp", "DEMOA": "demo"}}, "corpora.NOSUCH: unknown corpus"),
    "empty systems": ({"systems": []}, "systems: expected a list of systems"),
    "duplicate names": ({"systems": [{"name": "a", "model": "egemaps_svm"}, {"name": "a", "model": "compare_svm"}]},
                        "system a listed twice"),
    "class no corpus has": ({"num_classes": None, "classes": ["anger", "frustration"]},
                            "no corpus of this study has 'frustration'"),
    "bad seed": ({"seed": [0, -1]}, "seed: expected a non-negative integer"),
    "missing config": ({"systems": [{"model": "cct_7_7x2_112", "config": "configs/nope.yml"}]},
                       "systems[1].config: config file configs/nope.yml not found"),
    "yaml syntax": ("name: x\nsystems: [\n", "study.yml"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_file_is_one_line_exit_2_and_writes_nothing(case, tmp_path, capsys):
    change, expected = BROKEN[case]
    if isinstance(change, str):
        path = write_file(tmp_path, change)
    else:
        content = quick_study(tmp_path / "out")
        content.update(change)
        content = {k: v for k, v in content.items() if v is not None}
        if case == "typo key":
            content.pop("systems")
        path = write_file(tmp_path, content)
    with pytest.raises(SystemExit) as exit_info:
        study_module.main([str(path), "--no_progress"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("specct run: error: ")
    assert expected in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.yml"]


def test_configs_not_in_the_working_directory_come_from_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    found = Path(study_module.resolve_config("configs/scratch/cct_7-7x2_112.yml", "systems[1].config"))
    assert found.is_file() and found.is_relative_to(study_module.PACKAGE_DIR)
    with pytest.raises(MissingInputError, match="not found"):
        study_module.resolve_config("configs/scratch/none.yml", "systems[1].config")


def test_features_are_extracted_once_per_set_the_baselines_read(tmp_path):
    systems = [{"name": "svm", "model": "egemaps_svm"}, {"name": "logreg", "model": "egemaps_logreg"},
               {"name": "compare", "model": "egemaps_svm", "flags": {"features": "compare"}},
               {"name": "speaker", "model": "resemblyzer_svm"}]
    study = study_module.read_study(quick_study(tmp_path / "out", systems=systems))
    assert [spec.name for spec in study_module.feature_sets(study)] == ["egemaps", "compare"]


def test_a_sweep_over_the_whisper_input_extracts_and_fingerprints_each_input(tmp_path):
    # the padded window is another cache: the features stage makes it, and the variant's jobs are
    # fingerprinted on it, not on the real-length cache the base reads
    from specct.loco.settings import feature_caches_read

    systems = [{"name": "whisper_svm", "model": "whisper_svm", "flags": {"features": "whisper:some/whisper"},
                "sweep": {"whisper_input": ["real", "padded"]}}]
    study = study_module.read_study(quick_study(tmp_path / "out", systems=systems))
    sets = study_module.feature_sets(study)
    assert [(spec.name, spec.input) for spec in sets] == [("whisper_some--whisper_real", "real"),
                                                           ("whisper_some--whisper_padded", "padded")]
    assert feature_caches_read(study.loco) == {"whisper_some--whisper_real", "whisper_some--whisper_padded"}


def test_every_example_file_is_a_valid_study(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    for example in sorted(EXAMPLES.glob("*.yml")):
        content = yaml.safe_load(example.read_text())
        real = [source for source in content["corpora"].values() if source != "demo"]
        if real and not all(Path(source).is_dir() for source in real):
            continue   # paper_protocol.yml needs ../shared/corpora
        study = study_module.read_study(example)
        assert study.loco.systems and len(study.corpora) >= 2


def test_every_example_system_has_training_options_that_pass_the_checks(tmp_path, monkeypatch):
    # the checks train.py makes before anything runs: a config that switched on mixup, and a system
    # adding domain-adversarial training to it, stop there, with one line, rather than mid-study
    from specct.core.errors import InputError
    from specct.loco.experiment import flags_of_entry
    from specct.train.options import training_options

    monkeypatch.chdir(REPO_ROOT)
    checked = []
    for example in sorted(EXAMPLES.glob("*.yml")):
        for system in yaml.safe_load(example.read_text())["systems"]:
            if system.get("config"):
                flags = flags_of_entry(system.get("flags"), str(example))
                args = training_options(tmp_path, system["config"], **flags)
                checked.append((example.stem, system["name"], args.domain_adversarial, args.mixup))
    assert ("adaptation", "speaker_cct_dann", 1.0, 0.0) in checked
    assert ("adaptation", "speaker_cct", 0.0, 0.2) in checked
    with pytest.raises(InputError, match="add --mixup 0"):
        training_options(tmp_path, "configs/scratch/speaker_vgg_cct_7-7x2_112.yml", domain_adversarial=1.0)
