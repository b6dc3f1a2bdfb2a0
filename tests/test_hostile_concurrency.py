"""Hostile runs, class 5: two runs of one stage at once. Two imports of one corpus leave each other's
temporaries alone (only those of a dead writer, or an old one, are cleaned up); two run_loco.py runs
on one experiment folder share its jobs through a lock per job instead of both doing every job."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hostile_helpers import root, study  # noqa: F401  (the shared fixtures)

from script_helpers import REPO_ROOT, load_script

EMODB_CODES = "WFTN"   # anger, happy (Freude), sad (Trauer), neutral


@pytest.fixture(scope="module")
def emodb_source(tmp_path_factory) -> Path:
    """Demo speech under EmoDB's file names (speaker, text, emotion code, version): 3 speakers x 4
    emotions x 3 sentences, the source folder prepare_corpus.py reads."""
    from specct.data.demo import CORE_EMOTIONS, generate_demo

    demo = tmp_path_factory.mktemp("demo_speech")
    generate_demo(demo, seed=1, corpora=["DEMOA"], speakers=3, sentences=3, emotions=CORE_EMOTIONS, progress=False)
    source = tmp_path_factory.mktemp("emodb_source")
    code = {"anger": "W", "happy": "F", "sad": "T", "neutral": "N"}
    wavs = sorted((demo / "DEMOA" / "DEMOA_wav").glob("*.wav"))
    for i, wav in enumerate(wavs):
        emotion = wav.name.split("_")[0]
        speaker = ("03", "08", "16")[i % 3]
        shutil.copy(wav, source / f"{speaker}a{i:02d}{code[emotion]}a.wav")
    assert len(wavs) == 36
    return source


def import_main(source: Path, datasets: Path):
    return lambda: load_script("prepare_corpus").main(["emodb", str(source), "--datasets_dir", str(datasets),
                                                       "--no_progress"])


@pytest.fixture
def live_pid():
    """The pid of a process that runs while the test does (another importer, for the file system)."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield sleeper.pid
    sleeper.kill()
    sleeper.wait()


def dead_pid() -> int:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    return finished.pid


def temporary(folder: Path, stem: str, pid: int) -> Path:
    from specct.core.fileio import host_tag

    path = folder / f".{stem}.w{pid}@{host_tag()}.abc123xy.tmp.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF half a file")
    return path


def test_an_import_leaves_a_running_writers_temporary_and_removes_a_dead_ones(emodb_source, tmp_path, live_pid):
    wav_dir = tmp_path / "datasets" / "EMODB" / "EMODB_wav"
    running = temporary(wav_dir, "anger_EMODB_03_a00", live_pid)
    killed = temporary(wav_dir, "happy_EMODB_08_a01", dead_pid())
    old = temporary(wav_dir, "sad_EMODB_16_a02", live_pid)
    day_ago = time.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))   # a temporary this old is abandoned whoever wrote it (a reused pid)
    assert import_main(emodb_source, tmp_path / "datasets")() == 0
    assert running.read_bytes() == b"RIFF half a file", "a running writer's temporary was removed"
    assert not killed.exists() and not old.exists()
    assert len(list(wav_dir.glob("[!.]*.wav"))) == 36


def test_a_temporary_of_this_process_is_its_own_and_kept(tmp_path):
    from specct.core.fileio import remove_stale_temporaries

    mine = temporary(tmp_path, "x", os.getpid())
    legacy = tmp_path / ".y.abc123.tmp.wav"   # a name from before temporaries named their writer
    legacy.write_bytes(b"half")
    assert remove_stale_temporaries(tmp_path) == 1
    assert mine.exists() and not legacy.exists()


def test_two_imports_of_one_corpus_at_once_both_finish_with_every_file(emodb_source, tmp_path):
    datasets = tmp_path / "datasets"
    command = [sys.executable, str(REPO_ROOT / "prepare_corpus.py"), "emodb", str(emodb_source),
               "--datasets_dir", str(datasets), "--no_progress"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err for _, err in outputs]
    import soundfile as sf

    wavs = sorted((datasets / "EMODB" / "EMODB_wav").glob("[!.]*.wav"))
    assert len(wavs) == 36 and all(sf.info(str(w)).frames > 0 for w in wavs)
    assert not list((datasets / "EMODB" / "EMODB_wav").glob(".*tmp*"))


# --- two run_loco.py runs on one experiment folder ----------------------------------------------------



def job_folder(root: Path, corpus: str) -> Path:
    from hostile_helpers import experiment_folder

    return experiment_folder(root) / "jobs" / "loco" / "egemaps_svm" / corpus


def hold(folder: Path, pid: int) -> None:
    """A lock as another run holding the job writes it."""
    from specct.core.fileio import host_tag

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.lock").write_text(f"{pid} {host_tag()}\n")


def when_the_run_waits(monkeypatch, action) -> None:
    """Call ``action`` once the run under test has skipped the held jobs and waits for them."""
    from specct.loco import jobs

    real = jobs.wait_for_jobs
    monkeypatch.setattr(jobs, "WAIT_SECONDS", 0.2)

    def wait_for_jobs(*args, **kwargs):
        if args[1]:
            action()
        return real(*args, **kwargs)

    monkeypatch.setattr(jobs, "wait_for_jobs", wait_for_jobs)


def test_a_job_another_run_holds_is_left_to_it_and_collected_when_it_ends(root, capsys, live_pid, monkeypatch):
    from hostile_helpers import run_loco_main, snapshot

    held = job_folder(root, "DEMOB")
    finished_by_other = snapshot(held)   # what the other run writes when it finishes
    away = root / "other_run"
    held.rename(away)
    hold(held, live_pid)

    def other_run_finishes():
        time.sleep(1)
        for item in away.iterdir():
            item.rename(held / item.name)
        (held / "job.lock").unlink()

    other = threading.Thread(target=other_run_finishes)
    when_the_run_waits(monkeypatch, other.start)
    shutil.rmtree(job_folder(root, "DEMOC"))   # a job nobody holds: this run does it
    capsys.readouterr()
    assert run_loco_main()() == 0
    other.join()
    out = capsys.readouterr().out
    assert f"job loco/egemaps_svm/DEMOB: running in another process (pid {live_pid} on " in out
    assert "waiting for 1 job(s) run by other processes: loco/egemaps_svm/DEMOB" in out
    assert "job loco/egemaps_svm/DEMOB: finished by another process" in out
    assert "=== job 3/3: loco/egemaps_svm/DEMOC" in out and "3 of 3 job(s) finished" in out
    assert "=== job 2/3" not in out, "the held job was not run a second time"
    assert snapshot(held) == finished_by_other
    assert not (job_folder(root, "DEMOC") / "job.lock").exists()


def test_a_lock_whose_holder_died_is_taken_over(root, capsys):
    from hostile_helpers import run_loco_main

    folder = job_folder(root, "DEMOA")
    shutil.rmtree(folder)
    hold(folder, dead_pid())
    capsys.readouterr()
    assert run_loco_main()() == 0
    out = capsys.readouterr().out
    assert "=== job 1/3: loco/egemaps_svm/DEMOA" in out and "3 of 3 job(s) finished" in out
    assert (folder / "test" / "performance.yaml").is_file() and not (folder / "job.lock").exists()


def test_a_holder_that_stops_without_finishing_leaves_the_job_to_the_waiting_run(root, capsys, monkeypatch):
    from hostile_helpers import run_loco_main

    folder = job_folder(root, "DEMOC")
    shutil.rmtree(folder)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    hold(folder, holder.pid)
    when_the_run_waits(monkeypatch, holder.kill)   # killed, not yet reaped: a zombie is no holder either
    capsys.readouterr()
    try:
        assert run_loco_main()() == 0
    finally:
        holder.kill()
        holder.wait()
    out = capsys.readouterr().out
    assert "job loco/egemaps_svm/DEMOC: running in another process" in out
    assert "=== job loco/egemaps_svm/DEMOC: its other process stopped without finishing it; running it here" in out
    assert (folder / "test" / "performance.yaml").is_file()


def test_redo_of_a_job_another_run_holds_is_one_line(root, capsys, live_pid):
    from hostile_helpers import run_loco_main, snapshot

    from script_helpers import one_line_error

    folder = job_folder(root, "DEMOA")
    hold(folder, live_pid)
    before = snapshot(root / "output")
    one_line_error(capsys, run_loco_main("--redo", "egemaps_svm/DEMOA"),
                   rf"^run_loco\.py: error: --redo: job loco/egemaps_svm/DEMOA is running in another process "
                   rf"\(pid {live_pid} on .*\); redo it once that ends$")
    assert snapshot(root / "output") == before


def test_two_identical_runs_at_once_do_each_job_once(root):
    for corpus in ("DEMOA", "DEMOB", "DEMOC"):
        shutil.rmtree(job_folder(root, corpus))
    from hostile_helpers import LOCO_FLAGS

    command = [sys.executable, str(REPO_ROOT / "run_loco.py"), *LOCO_FLAGS]
    runs = [subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=600) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    both = "".join(out for out, _ in outputs)
    for corpus in ("DEMOA", "DEMOB", "DEMOC"):
        trained = both.count(f"output/loco/hostile/jobs/loco/egemaps_svm/{corpus}/train/model_best.skops")
        assert trained == 1, f"job {corpus} trained {trained} times"
        assert (job_folder(root, corpus) / "test" / "performance.yaml").is_file()
    assert all("3 of 3 job(s) finished" in out for out, _ in outputs)


def test_an_unreadable_lock_is_held_while_young_and_taken_over_when_old(root, capsys):
    from hostile_helpers import run_loco_main

    from specct.core import job_lock

    folder = job_folder(root, "DEMOA")
    shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "job.lock").write_bytes(b"")   # a holder killed between making its lock and writing it
    assert job_lock.locked_by_other(folder)
    old = time.time() - job_lock.STALE_UNREADABLE_SECONDS - 5
    os.utime(folder / "job.lock", (old, old))
    assert not job_lock.locked_by_other(folder)
    capsys.readouterr()
    assert run_loco_main()() == 0
    assert "=== job 1/3: loco/egemaps_svm/DEMOA" in capsys.readouterr().out
    assert (folder / "test" / "performance.yaml").is_file() and not (folder / "job.lock").exists()
