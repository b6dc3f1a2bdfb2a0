"""Hostile runs, class 1: every failure the system raises (disk full, permission denied, a name too
long, a missing or damaged file) ends a script in one line and exit status 2; a stage over several
corpora keeps every corpus it finished and goes on with the others."""
from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from script_helpers import REPO_ROOT, load_script, one_line_error

CORPORA = ["DEMOA", "DEMOB", "DEMOC"]


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory) -> Path:
    """Three demo corpora of 8 wavs each, made once for this file (copied per test)."""
    from specct.data.demo import CORE_EMOTIONS, generate_demo

    root = tmp_path_factory.mktemp("hostile_demo") / "datasets"
    generate_demo(root, seed=0, speakers=2, sentences=1, emotions=CORE_EMOTIONS, progress=False)
    return root


@pytest.fixture
def datasets(small_demo, tmp_path) -> Path:
    copy = tmp_path / "datasets"
    shutil.copytree(small_demo, copy)
    return copy


def cache(datasets: Path, corpus: str) -> Path:
    return datasets / corpus / f"{corpus}_features" / "egemaps.npz"


def features(datasets: Path, *extra: str):
    return lambda: load_script("preprocess_features").main(["--datasets_dir", str(datasets), "--no_progress", *extra])


def fail_writes_into(monkeypatch, folder_part: str, error: OSError) -> None:
    """Every numpy write into a file whose path holds ``folder_part`` raises ``error`` (the disk, as seen by np.savez)."""
    real = np.savez

    def savez(file, *args, **kwargs):
        if folder_part in str(getattr(file, "name", file)):
            raise error
        return real(file, *args, **kwargs)

    monkeypatch.setattr(np, "savez", savez)


def test_disk_full_names_the_folder_keeps_finished_corpora_and_stops(datasets, monkeypatch, capsys):
    fail_writes_into(monkeypatch, "DEMOB_features", OSError(errno.ENOSPC, "No space left on device"))
    line = one_line_error(capsys, features(datasets), r"^preprocess_features\.py: error: 2 of 3 corpora failed")
    folder = datasets / "DEMOB" / "DEMOB_features"
    assert f"DEMOB ({folder / 'egemaps.npz'}: disk full (no space left on the device of {folder}))" in line
    assert "DEMOC (not processed)" in line and line.endswith("kept: DEMOA")
    assert cache(datasets, "DEMOA").is_file() and not cache(datasets, "DEMOB").exists()
    assert not list(folder.glob(".*tmp*")), "a failed write leaves no temporary behind"
    before = cache(datasets, "DEMOA").read_bytes()
    monkeypatch.undo()
    features(datasets)()   # the rerun extracts only what is missing
    out = capsys.readouterr().out
    assert "DEMOA egemaps: 8 wavs, 0 extracted, 8 already done" in out
    assert "DEMOB egemaps: 8 wavs, 8 extracted" in out
    assert cache(datasets, "DEMOA").read_bytes() == before


def test_disk_full_on_overwrite_leaves_every_finished_cache_byte_identical(datasets, monkeypatch, capsys):
    features(datasets)()
    before = {c: cache(datasets, c).read_bytes() for c in CORPORA}
    fail_writes_into(monkeypatch, "_features", OSError(errno.ENOSPC, "No space left on device"))
    one_line_error(capsys, features(datasets, "--overwrite"), r"disk full.*DEMOB \(not processed\); DEMOC \(not processed\)$")
    assert {c: cache(datasets, c).read_bytes() for c in CORPORA} == before


def test_permission_denied_on_one_corpus_the_others_go_on(datasets, monkeypatch, capsys):
    import tempfile

    from specct.core import fileio

    real = tempfile.mkstemp
    denied = datasets / "DEMOA" / "DEMOA_features"

    def mkstemp(*args, dir=None, **kwargs):
        if Path(dir) == denied:   # root ignores chmod, so the refusal is the file system's answer, simulated
            raise PermissionError(errno.EACCES, "Permission denied", str(Path(dir) / ".egemaps.x.tmp.npz"))
        return real(*args, dir=dir, **kwargs)

    monkeypatch.setattr(fileio.tempfile, "mkstemp", mkstemp)
    line = one_line_error(capsys, features(datasets), r"^preprocess_features\.py: error: 1 of 3 corpora failed")
    assert f"DEMOA ({denied / 'egemaps.npz'}: permission denied)" in line and line.endswith("kept: DEMOB, DEMOC")
    assert cache(datasets, "DEMOB").is_file() and cache(datasets, "DEMOC").is_file()


def test_an_error_mid_corpus_keeps_the_vectors_already_extracted(datasets, monkeypatch, capsys):
    from specct.audio import loading as audio

    real, calls = audio.load_trimmed, []

    def load_trimmed(path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 5:
            raise OSError(errno.EIO, "Input/output error", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(audio, "load_trimmed", load_trimmed)
    line = one_line_error(capsys, features(datasets, "--datasets", "DEMOA"), r"Input/output error")
    assert "DEMOA_wav" in line
    from specct.baselines.features import read_features_file

    names, *_ = read_features_file(cache(datasets, "DEMOA"))
    assert len(names) == 4, "the four vectors made before the failure are kept"


def test_a_file_name_too_long_is_one_line(tmp_path, capsys):
    from specct.data import demo

    too_long = tmp_path / ("d" * 300)
    one_line_error(capsys, lambda: demo.main(["--datasets_dir", str(too_long), "--datasets", "DEMOA",
                                              "--speakers", "1", "--sentences", "1"]),
                   r"^python -m specct\.data\.demo: error: .*d{300}.*: file name too long$")
    assert list(tmp_path.iterdir()) == []


def test_a_torch_write_failure_on_a_full_disk_says_disk_full(tmp_path, monkeypatch):
    import torch

    from specct.core import checkpoint, fileio

    def save(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . unexpected pos 83448320 vs 83448212")

    monkeypatch.setattr(torch, "save", save)
    monkeypatch.setattr(fileio, "disk_nearly_full", lambda folder: True)
    target = tmp_path / "run" / "checkpoint.pth.tar"
    with pytest.raises(OSError) as caught:
        checkpoint.save_checkpoint(target, {"epoch": 1})
    from specct.core.errors import describe

    assert describe(caught.value).startswith(f"{target}: disk full (no space left on the device of {target.parent})")
    assert not list(target.parent.glob(".*tmp*"))


def test_a_damaged_yaml_of_a_model_folder_is_one_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "args.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff binary, not yaml")
    one_line_error(capsys, lambda: load_script("eval").main([str(run)]),
                   r"^eval\.py: error: .*run/args\.yaml: not valid YAML \(not a text file\)$")


def test_debug_flag_and_environment_show_the_traceback(datasets, monkeypatch, capsys):
    fail_writes_into(monkeypatch, "DEMOA_features", OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(Exception) as caught:
        features(datasets, "--datasets", "DEMOA", "--debug")()
    assert not isinstance(caught.value, SystemExit)
    monkeypatch.setenv("SPECCT_DEBUG", "1")
    with pytest.raises(Exception) as caught:
        features(datasets, "--datasets", "DEMOA")()
    assert not isinstance(caught.value, SystemExit)
    monkeypatch.delenv("SPECCT_DEBUG")
    one_line_error(capsys, features(datasets, "--datasets", "DEMOA"), "disk full")   # --debug did not outlive its run


def test_as_a_real_process_the_error_is_one_line_on_stderr(datasets):
    result = subprocess.run([sys.executable, str(REPO_ROOT / "report.py"), str(datasets / "no_such_experiment")],
                            capture_output=True, text=True, cwd=datasets.parent)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("report.py: error: "), result.stderr


def test_the_speaker_stage_keeps_finished_corpora_too(datasets, monkeypatch, capsys):
    fail_writes_into(monkeypatch, "DEMOC_speaker", OSError(errno.ENOSPC, "No space left on device"))
    line = one_line_error(capsys, lambda: load_script("preprocess_embedding").main(
        ["--datasets_dir", str(datasets), "--no_progress", "--threads", "1"]),
        r"^preprocess_embedding\.py: error: 1 of 3 corpora failed: DEMOC \(.*embeddings\.npz: disk full")
    assert line.endswith("kept: DEMOA, DEMOB")
    assert all((datasets / c / f"{c}_speaker" / "embeddings.npz").is_file() for c in ("DEMOA", "DEMOB"))
