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

from script_helpers import REPO_ROOT, load_script

EMODB_CODES = "WFTN"   # anger, happy (Freude), sad (Trauer), neutral


@pytest.fixture(scope="module")
def emodb_source(tmp_path_factory) -> Path:
    """Demo speech under EmoDB's file names (speaker, text, emotion code, version): 3 speakers x 4
    emotions x 3 sentences, the source folder prepare_corpus.py reads."""
    from specct.demo import CORE_EMOTIONS, generate_demo

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
    from specct.fileio import host_tag

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
    from specct.fileio import remove_stale_temporaries

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
