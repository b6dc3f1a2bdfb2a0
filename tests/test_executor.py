"""``specct run --executor local --jobs N``: a demo baselines study run two jobs at a time, each in its
own process, against the serial run of the same study; a failing job; ``kill -9`` in the middle."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from specct.study import engine as study_module
from specct.core.errors import InputError
from specct.loco.executor import Executor, executor_from_args
from specct.loco.job_progress import Progress, duration_text

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICK = REPO_ROOT / "src" / "specct" / "examples" / "quick_baselines.yml"
NAME = "quick-baselines"
JOB_IDS = ["loco/egemaps_svm/DEMOA", "loco/resemblyzer_svm/DEMOA", "loco/egemaps_svm/DEMOB",
           "loco/resemblyzer_svm/DEMOB"]


def write_study(folder: Path, datasets: Path) -> Path:
    """The quick baselines example on two demo corpora (four jobs), reading the corpora made once."""
    content = yaml.safe_load(QUICK.read_text())
    content.update(output=str(folder / "out"), datasets_dir=str(datasets), corpora={"DEMOA": "demo", "DEMOB": "demo"},
                   split={"percent_subject_validation": 0.4})   # one training corpus: a speaker to validate on
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "study.yml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    return path


def experiment(path: Path) -> Path:
    return path.parent / "out" / NAME / "loco" / NAME


def specct_run(path: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "specct", "run", str(path), "--no_progress", *flags]


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> Path:
    """The demo corpora with their images, speaker vectors and eGeMAPS features, made once."""
    folder = tmp_path_factory.mktemp("corpora")
    datasets = folder / "datasets"
    study_module.run_study(write_study(folder, datasets), until="features", progress=False)
    return datasets


@pytest.fixture(scope="module")
def serial_results(corpora, tmp_path_factory) -> bytes:
    """results.csv of the study run as before: one job after another, in one process."""
    path = write_study(tmp_path_factory.mktemp("serial"), corpora)
    study_module.run_study(path, progress=False)
    return (experiment(path) / "results.csv").read_bytes()


@pytest.mark.slow
def test_two_jobs_at_a_time_give_the_serial_results_byte_for_byte(corpora, serial_results, tmp_path):
    path = write_study(tmp_path, corpora)
    completed = subprocess.run(specct_run(path, "--executor", "local", "--jobs", "2"), cwd=tmp_path,
                               capture_output=True, text=True, timeout=1200)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert (experiment(path) / "results.csv").read_bytes() == serial_results
    out = completed.stdout
    assert "4 of 4 job(s) to run, 2 at once with" in out
    assert "jobs: 4 done, 0 running, 0 failed, 0 left" in out
    for job_id in JOB_IDS:   # each job in its own process, its output in its own log
        log = experiment(path) / "jobs" / job_id / "job.log"
        assert f"--job {job_id}" in log.read_text() and f"training {job_id.split('/')[1]} on" in log.read_text()
        assert f"job {job_id}: finished in" in out
    # the estimate of the time left appears once a job has finished
    assert any("left; about" in line for line in out.splitlines())


@pytest.mark.slow
def test_a_failing_job_does_not_stop_the_others_and_is_listed_with_its_log(corpora, serial_results, tmp_path):
    path = write_study(tmp_path, corpora)
    failing = experiment(path) / "jobs" / "loco" / "egemaps_svm" / "DEMOA"
    failing.mkdir(parents=True)
    (failing / "train").write_text("a file where the job's training folder goes")   # the first job started fails
    completed = subprocess.run(specct_run(path, "--executor", "local", "--jobs", "2"), cwd=tmp_path,
                               capture_output=True, text=True, timeout=1200)
    assert completed.returncode == 2, completed.stdout[-3000:] + completed.stderr[-3000:]
    # the three others ran to the end, those started after the failure included
    for job_id in JOB_IDS[1:]:
        assert (experiment(path) / "jobs" / job_id / "test" / "performance.yaml").is_file(), job_id
    assert not (failing / "test").exists()
    log = failing / "job.log"
    assert "error" in log.read_text()
    assert "1 job(s) failed:" in completed.stdout
    assert "loco/egemaps_svm/DEMOA: exit status 2" in completed.stdout
    assert f"log: {log}" in completed.stdout
    assert "jobs: 3 done, 0 running, 1 failed, 0 left" in completed.stdout
    error = completed.stderr.strip().splitlines()
    assert len(error) == 1 and "1 of 4 job(s) failed (loco/egemaps_svm/DEMOA" in error[0], completed.stderr

    # the cause removed, the same command runs the failed job alone and the tables are the serial run's
    (failing / "train").unlink()
    again = subprocess.run(specct_run(path, "--executor", "local", "--jobs", "2"), cwd=tmp_path,
                           capture_output=True, text=True, timeout=1200)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "1 of 4 job(s) to run" in again.stdout
    assert (experiment(path) / "results.csv").read_bytes() == serial_results


@pytest.mark.slow
@pytest.mark.parametrize("killed", ["the command", "the command and its jobs"])
def test_killed_in_the_middle_the_same_command_ends_with_the_serial_results(corpora, serial_results, tmp_path,
                                                                          killed):
    path = write_study(tmp_path, corpora)
    command = specct_run(path, "--executor", "local", "--jobs", "2")
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    deadline = time.monotonic() + 900
    while (not list(experiment(path).rglob("performance.yaml")) and process.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before it could be killed"
    if killed == "the command":      # its jobs go on as orphans, holding their locks
        process.send_signal(signal.SIGKILL)
    else:                            # the jobs die too, their locks left behind
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    finished = {p: p.stat().st_mtime_ns for p in experiment(path).rglob("performance.yaml")}
    assert 0 < len(finished) < 4

    completed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=1200)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert (experiment(path) / "results.csv").read_bytes() == serial_results
    assert all(p.stat().st_mtime_ns == mtime for p, mtime in finished.items()), "a finished job was redone"


def test_help_shows_the_executor_flags():
    for command in ([sys.executable, "-m", "specct", "run", "--help"], [sys.executable, "run_loco.py", "--help"]):
        out = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120).stdout
        for flag in ("--executor", "--jobs", "--detach"):
            assert flag in out, (command, flag)


def flags(**given) -> argparse.Namespace:
    return argparse.Namespace(**{"executor": "serial", "jobs": None, "detach": False, **given})


def test_executor_flags_are_checked_in_one_line():
    assert executor_from_args(flags()) == Executor("serial", 1)
    assert executor_from_args(flags(executor="local")) == Executor("local", 2)
    assert executor_from_args(flags(executor="local", jobs=3)) == Executor("local", 3)
    for wrong, said in ((flags(jobs=2), "--jobs 2: jobs run side by side with --executor local"),
                        (flags(executor="local", jobs=0), "--jobs 0: expected at least 1"),
                        (flags(executor="local", detach=True), "--detach: submits to a cluster"),
                        (flags(executor="slurm", jobs=4), "--jobs 4: with --executor slurm, at most array_parallelism")):
        with pytest.raises(InputError, match=said):
            executor_from_args(wrong)


def test_a_wrong_executor_flag_stops_specct_run_before_anything_is_written(tmp_path):
    path = write_study(tmp_path, tmp_path / "datasets")
    completed = subprocess.run(specct_run(path, "--jobs", "2"), cwd=tmp_path, capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "specct run: error: --jobs 2: jobs run side by side with --executor local (add it), or one after another "
        "without it"]
    assert not (tmp_path / "out").exists() and not (tmp_path / "datasets").exists()


def test_the_progress_line_counts_the_jobs_and_estimates_the_time_left_from_the_finished_ones():
    job = ("svm", "DEMOA")
    progress = Progress.of([job] * 4, done=1, workers=2)    # one job finished before this run
    progress.start(job)
    progress.start(job)
    assert progress.line([(job, 5.0)] * 2) == "jobs: 1 done, 2 running, 0 failed, 2 left"   # nothing timed yet
    progress.end(10.0, job)
    progress.end(None, job, failed=True)
    progress.start(job)
    # one left, one running for 4 s of the 10 s a job took: (1 x 10 + 6) / 2 workers
    assert progress.line([(job, 4.0)]) == "jobs: 2 done, 1 running, 1 failed, 1 left; about 8 s left"
    assert duration_text(3725) == "1 h 02 min" and duration_text(125) == "2 min 05 s"


def test_the_time_left_takes_each_job_as_long_as_the_finished_jobs_most_like_it():
    cct_a, cct_b, svm_a, svm_b = ("cct", "A"), ("cct", "B"), ("svm", "A"), ("svm", "B")
    progress = Progress.of([cct_a, cct_a, svm_a, cct_b, svm_b], done=0, workers=1)
    progress.start(cct_a)
    progress.end(1000.0, cct_a)
    progress.start(svm_a)
    progress.end(10.0, svm_a)
    # left: cct on A (1000 s, its own fold), cct on B (1000 s, its system), svm on B (10 s, its system),
    # not the 505 s mean of every job
    assert progress.seconds_left([]) == 2010.0
    progress.start(cct_b)
    progress.end(200.0, cct_b)         # a fold with a small training corpus: its own time from now on
    assert progress.seconds_left([]) == 1010.0
    progress.start(cct_a)
    assert progress.seconds_left([(cct_a, 400.0)]) == 600.0 + 10.0
    progress.put_back(cct_a)               # another process took it: left again, then finished there
    progress.finished_elsewhere(cct_a)
    assert progress.line([]) == "jobs: 4 done, 0 running, 0 failed, 1 left; about 10 s left"


def slurm_problem() -> str | None:
    """Why no Slurm cluster can run jobs here, or None (.ci/slurm_up.sh starts a one-node one)."""
    from specct.loco.slurm import sbatch_missing

    missing = sbatch_missing()
    if missing:
        return missing
    nodes = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=60)
    if nodes.returncode != 0 or not any(s.startswith(("idle", "mixed", "alloc")) for s in nodes.stdout.split()):
        return f"no Slurm node up ({(nodes.stderr or nodes.stdout).strip() or 'sinfo lists none'}); start one with .ci/slurm_up.sh"
    return None


@pytest.mark.slow
def test_slurm_detached_then_picked_up_gives_the_serial_results_byte_for_byte(corpora, serial_results, tmp_path):
    problem = slurm_problem()
    if problem:
        pytest.skip(f"Slurm: {problem}")
    path = write_study(tmp_path, corpora)
    content = yaml.safe_load(path.read_text())
    content["cluster"] = {"cpus_per_job": 1, "mem_gb": 2, "time_min": 30, "array_parallelism": 2}
    path.write_text(yaml.safe_dump(content, sort_keys=False))

    detached = subprocess.run(specct_run(path, "--executor", "slurm", "--detach"), cwd=tmp_path,
                              capture_output=True, text=True, timeout=600)
    assert detached.returncode == 0, detached.stdout[-3000:] + detached.stderr[-3000:]
    assert "submitted 4 job(s) as Slurm array" in detached.stdout and "detached" in detached.stdout
    assert not (experiment(path) / "results.csv").exists()
    submitted = yaml.safe_load((experiment(path) / "slurm" / "submitted.yaml").read_text())
    assert sorted(submitted) == sorted(JOB_IDS) and len({t.split("_")[0] for t in submitted.values()}) == 1

    # the same command waits for the array it submitted, submits nothing again, and collects
    picked = subprocess.run(specct_run(path, "--executor", "slurm"), cwd=tmp_path, capture_output=True, text=True,
                            timeout=1200)
    assert picked.returncode == 0, picked.stdout[-3000:] + picked.stderr[-3000:]
    assert "submitted" not in picked.stdout
    assert yaml.safe_load((experiment(path) / "slurm" / "submitted.yaml").read_text()) == submitted
    assert (experiment(path) / "results.csv").read_bytes() == serial_results
    for job_id, task in submitted.items():   # each job ran in its array task, its output in the task's log
        log = experiment(path) / "slurm" / task / f"{task}_0_log.out"
        assert f"training {job_id.split('/')[1]} on" in log.read_text()


@pytest.mark.slow
def test_a_preempted_slurm_task_is_requeued_and_its_job_finishes(corpora, serial_results, tmp_path):
    problem = slurm_problem()
    if problem:
        pytest.skip(f"Slurm: {problem}")
    path = write_study(tmp_path, corpora)
    content = yaml.safe_load(path.read_text())
    content["cluster"] = {"cpus_per_job": 1, "mem_gb": 2, "time_min": 30, "array_parallelism": 1}
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    process = subprocess.Popen(specct_run(path, "--executor", "slurm"), cwd=tmp_path, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    submitted_file = experiment(path) / "slurm" / "submitted.yaml"
    deadline = time.monotonic() + 600
    while not submitted_file.is_file() and time.monotonic() < deadline:
        time.sleep(0.5)
    task = yaml.safe_load(submitted_file.read_text())[JOB_IDS[0]]
    log = experiment(path) / "slurm" / task / f"{task}_0_log.out"
    # once the job speaks, submitit's handler is set: Slurm's warning of the end (time limit, pre-emption) now
    while (not any(not line.startswith("submitit") for line in (log.read_text() if log.is_file() else "").splitlines())
           and time.monotonic() < deadline):
        time.sleep(0.2)
    # scancel retries until the requeued task can be altered again: it is not waited for
    signalled = subprocess.Popen(["scancel", "--signal=USR2", task], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    try:
        out, _ = process.communicate(timeout=1200)
    finally:
        for started in (process, signalled):
            if started.poll() is None:
                started.kill()
                started.wait()
    assert process.returncode == 0, out[-3000:]
    assert "Requeued job" in log.read_text()
    assert (experiment(path) / "results.csv").read_bytes() == serial_results


def test_a_wrong_cluster_key_is_one_line(tmp_path):
    path = write_study(tmp_path, tmp_path / "datasets")
    content = yaml.safe_load(path.read_text())
    content["cluster"] = {"partition": "gpu", "cpus_per_tsk": 8}
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    completed = subprocess.run(specct_run(path, "--dry_run"), cwd=tmp_path, capture_output=True, text=True,
                               timeout=300)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines() == [
        "specct run: error: cluster: unknown key 'cpus_per_tsk' (did you mean 'cpus_per_job'?); allowed: partition, "
        "gpus_per_job, cpus_per_job, mem_gb, time_min, array_parallelism, sbatch"]
