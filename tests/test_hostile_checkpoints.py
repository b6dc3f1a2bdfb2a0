"""Hostile runs: a kill at any file write of a training. A run_loco.py job of a tiny network (three
epochs, so that writes of an epoch that improved and of one that did not are both hit) is killed
(SIGKILL) just before each of its atomic writes in turn, through the test-only ``SPECCT_KILL_AT_WRITE``
(specct.core.fileio); each time the same command run again must end with the files of a run never killed,
byte for byte: the checkpoints, the summary, the predictions, the tables. "Finished" is one write
(last.pth.tar of the final epoch, written after every other file of it), so no kill leaves a
training that looks finished but tests another epoch's weights."""
from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import sys

import pytest
from hostile_helpers import copy_study, snapshot, working_dir
from hostile_helpers import study  # noqa: F401  (the shared fixture)
from script_helpers import REPO_ROOT, load_script

from specct.core.fileio import KILL_AT_WRITE_VARIABLE, TEMPORARY_WRITER

EXPERIMENT = "killed"
FLAGS = ["--model", "cct_2_3x2_32", "--datasets", "DEMOA", "--name", EXPERIMENT, "--no_progress", "--bootstrap", "50",
         "--epochs", "3", "--batch-size", "8", "--workers", "0", "--precision", "float32", "--warmup-epochs", "0",
         "--lr", "1e-3", "--input-size", "3", "32", "32"]


def finished_files(root) -> dict[str, bytes]:
    """The experiment's files, without the temporaries a killed writer left behind and the lock of a
    job it killed after the job's last file (a dead holder's lock, taken over by whoever runs the job)."""
    return {name: data for name, data in snapshot(root / "output" / "loco" / EXPERIMENT).items()
            if not TEMPORARY_WRITER.search(name) and not name.endswith("/job.lock")}


def first_difference(expected: bytes, now: bytes) -> str:
    """The lines that differ, for a text file; the sizes, for another."""
    import difflib

    try:
        lines = difflib.unified_diff(expected.decode().splitlines(), now.decode().splitlines(), lineterm="", n=0)
        return " ".join(line for line in lines if line[:1] in "+-" and line[:3] not in ("---", "+++"))[:300]
    except UnicodeDecodeError:
        return f"{len(expected)} bytes, now {len(now)}"


def run_in_process(root, monkeypatch) -> None:
    # as the script itself: the commands recorded in experiment.yaml and job.yaml name run_loco.py
    monkeypatch.setattr(sys, "argv", [str(REPO_ROOT / "run_loco.py")])
    with working_dir(root):
        assert load_script("run_loco").main(FLAGS) == 0


def run_killed_at(root, write: int) -> subprocess.CompletedProcess:
    import torch

    env = {**os.environ, KILL_AT_WRITE_VARIABLE: str(write), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    return subprocess.run([sys.executable, str(REPO_ROOT / "run_loco.py"), *FLAGS], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_kill_at_every_write_of_a_training_then_a_rerun_gives_an_uninterrupted_run_s_files(study, tmp_path,
                                                                                              monkeypatch):
    root = tmp_path / "study"

    def fresh():
        if root.exists():
            shutil.rmtree(root)
        return copy_study(study, root)

    run_in_process(fresh(), monkeypatch)
    expected = finished_files(root)
    assert any(name.endswith("train/model_best.pth.tar") for name in expected)
    for write in itertools.count(1):
        killed = run_killed_at(fresh(), write)
        if killed.returncode == 0:    # fewer writes than ``write``: every one has been tried
            break
        assert killed.returncode == -signal.SIGKILL, f"write {write}: {killed.stderr[-2000:]}"
        run_in_process(root, monkeypatch)
        now = finished_files(root)
        assert sorted(now) == sorted(expected), f"killed before write {write}"
        differ = [f"{name} ({first_difference(expected[name], now[name])})" for name in expected
                  if now[name] != expected[name]]
        assert not differ, f"killed before write {write}, the rerun's files differ: {differ}"
    assert write > 15, f"only {write - 1} writes: the kill never reached the training"
