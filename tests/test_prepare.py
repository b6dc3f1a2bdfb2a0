"""The import engine: real corpora, re-runs, interrupted runs, bad audio, stereo, resampling, the CLI."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from specct.data import prepare
from specct.data.corpora import CorpusError
from specct.core.naming import parse_name
from specct.data.prepare import MANIFEST_COLUMNS, import_corpus
from script_helpers import load_script

REPO_ROOT = Path(__file__).resolve().parents[1]


def write_tone(path: Path, sr: int = 16000, seconds: float = 0.25, channels: int = 1, freq: float = 220.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    tone = 0.3 * np.sin(2 * np.pi * freq * t)
    if channels > 1:  # channels differ, so that a downmix is visible
        tone = np.stack([tone * (c + 1) / channels for c in range(channels)], axis=1)
    sf.write(str(path), tone, sr, subtype="PCM_16")
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def wav_files(datasets: Path, corpus: str) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((datasets / corpus / f"{corpus}_wav").iterdir())}


@pytest.fixture
def emodb_like(tmp_path) -> Path:
    """Twelve EmoDB-named tones at mixed sample rates, one of them stereo."""
    source = tmp_path / "source"
    for i, (speaker, code) in enumerate([(s, c) for s in ("03", "08", "16") for c in "WFTN"]):
        sr = (16000, 44100, 48000)[i % 3]
        write_tone(source / f"{speaker}a0{i % 5 + 1}{code}a.wav", sr=sr, freq=150 + 20 * i, channels=2 if i == 7 else 1)
    return source


# --- the real corpora --------------------------------------------------------------------------

def test_real_emodb_imports_every_file(real_datasets):
    rows = read_csv(real_datasets / "EMODB" / "manifest.csv")
    assert len(rows) == 535
    assert Counter(r["emotion"] for r in rows) == {"anger": 127, "boredom": 81, "disgust": 46, "fearful": 69,
                                                   "happy": 71, "neutral": 79, "sad": 62}
    assert len({r["speaker"] for r in rows}) == 10
    assert read_csv(real_datasets / "EMODB" / "skipped.csv") == []
    wav_dir = real_datasets / "EMODB" / "EMODB_wav"
    assert sorted(p.name for p in wav_dir.glob("*.wav")) == sorted(r["file"] for r in rows)
    for row in rows:
        info = sf.info(str(wav_dir / row["file"]))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert parse_name(row["file"]).corpus == "EMODB"
    assert {r["gender"] for r in rows if r["speaker"] in ("03", "10")} == {"male"}
    assert {r["gender"] for r in rows if r["speaker"] in ("08", "16")} == {"female"}


def test_real_ravdess_subset_resampled_and_mono(real_datasets, ravdess_source):
    rows = read_csv(real_datasets / "RAVDESS" / "manifest.csv")
    assert len(rows) == 240
    assert Counter(r["speaker"] for r in rows) == {"01": 60, "02": 60, "03": 60, "04": 60}
    assert {r["orig_sr"] for r in rows} == {"48000"}
    wav_dir = real_datasets / "RAVDESS" / "RAVDESS_wav"
    stereo_sources = {str(p.resolve()) for p in ravdess_source.rglob("*.wav") if sf.info(str(p)).channels > 1}
    assert stereo_sources, "the RAVDESS subset is known to hold a few stereo files"
    for row in rows:
        info = sf.info(str(wav_dir / row["file"]))
        assert (info.samplerate, info.channels) == (16000, 1)
        assert abs(info.frames / 16000 - float(row["duration"])) < 1e-3
    assert stereo_sources <= {r["source"] for r in rows}  # downmixed, not skipped


def test_real_rerun_rewrites_nothing(real_datasets, emodb_source):
    wav_dir = real_datasets / "EMODB" / "EMODB_wav"
    before = {p.name: p.stat().st_mtime_ns for p in wav_dir.iterdir()}
    manifest_before = (real_datasets / "EMODB" / "manifest.csv").read_bytes()
    summary = import_corpus("EMODB", emodb_source, real_datasets, progress=False)
    assert (summary.written, summary.already_done, summary.imported, summary.skipped) == (0, 535, 535, 0)
    assert {p.name: p.stat().st_mtime_ns for p in wav_dir.iterdir()} == before
    assert (real_datasets / "EMODB" / "manifest.csv").read_bytes() == manifest_before


def test_real_turevdb_imports_every_file(turevdb_datasets, turevdb_source):
    rows = read_csv(turevdb_datasets / "TUREVDB" / "manifest.csv")
    assert len(rows) == 1735
    assert Counter(r["emotion"] for r in rows) == {"anger": 487, "calm": 408, "happy": 357, "sad": 483}
    assert {r["speaker"] for r in rows} == {"1157", "1234", "1358", "1984", "6783", "7895"}
    assert read_csv(turevdb_datasets / "TUREVDB" / "skipped.csv") == []
    # the distribution's folder name has a space; every source is read from it
    sound_source = (turevdb_source / "Sound Source").resolve()
    assert all(Path(r["source"]).parent.parent == sound_source for r in rows)
    assert {r["orig_sr"] for r in rows} == {"44100"}
    wav_dir = turevdb_datasets / "TUREVDB" / "TUREVDB_wav"
    assert sorted(p.name for p in wav_dir.glob("*.wav")) == sorted(r["file"] for r in rows)
    assert "calm_TUREVDB_1234_1234_sk_acik.wav" in {r["file"] for r in rows}
    for row in rows[::97]:
        info = sf.info(str(wav_dir / row["file"]))
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
    assert json.loads((turevdb_datasets / "TUREVDB" / "import_options.json").read_text())["options"] == {
        "merge_calm": False}


def test_real_turevdb_rerun_rewrites_nothing(turevdb_datasets, turevdb_source):
    corpus_dir = turevdb_datasets / "TUREVDB"
    files = [*(corpus_dir / "TUREVDB_wav").iterdir(), corpus_dir / "manifest.csv", corpus_dir / "import_options.json"]
    before = {p: p.stat().st_mtime_ns for p in files}
    manifest_before = (corpus_dir / "manifest.csv").read_bytes()
    summary = import_corpus("TurEV-DB", turevdb_source, turevdb_datasets, progress=False)
    assert (summary.written, summary.already_done, summary.imported, summary.skipped) == (0, 1735, 1735, 0)
    assert {p: p.stat().st_mtime_ns for p in files} == before
    assert (corpus_dir / "manifest.csv").read_bytes() == manifest_before


# --- re-runs and interrupted runs --------------------------------------------------------------

def test_summary_counts_and_manifest_columns(emodb_like, tmp_path):
    summary = import_corpus("emodb", emodb_like, tmp_path / "out", progress=False)
    assert (summary.imported, summary.written, summary.already_done, summary.skipped) == (12, 12, 0, 0)
    assert summary.resampled == 8 and summary.downmixed == 1
    assert summary.per_emotion == {"anger": 3, "happy": 3, "neutral": 3, "sad": 3}
    assert summary.per_speaker == {"03": 4, "08": 4, "16": 4}
    text = str(summary)
    assert "12 files" in text and "anger 3" in text and "speakers (3)" in text and "downmixed" in text
    with open(tmp_path / "out/EMODB/manifest.csv", newline="") as fh:
        assert tuple(next(csv.reader(fh))) == MANIFEST_COLUMNS


def test_existing_wavs_are_not_rewritten(emodb_like, tmp_path):
    import_corpus("emodb", emodb_like, tmp_path / "out", progress=False)
    wav_dir = tmp_path / "out/EMODB/EMODB_wav"
    before = {p.name: p.stat().st_mtime_ns for p in wav_dir.iterdir()}
    summary = import_corpus("emodb", emodb_like, tmp_path / "out", progress=False)
    assert (summary.written, summary.already_done, summary.imported) == (0, 12, 12)
    assert {p.name: p.stat().st_mtime_ns for p in wav_dir.iterdir()} == before


def test_interrupted_run_resumes_to_the_same_files(emodb_like, tmp_path, monkeypatch):
    import_corpus("emodb", emodb_like, tmp_path / "clean", progress=False)

    real_write, calls = prepare.write_wav, []

    def write_then_die(*args, **kwargs):
        if len(calls) == 5:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C during the sixth file
        calls.append(args[0])
        real_write(*args, **kwargs)

    monkeypatch.setattr(prepare, "write_wav", write_then_die)
    with pytest.raises(KeyboardInterrupt):
        import_corpus("emodb", emodb_like, tmp_path / "resumed", progress=False)
    wav_dir = tmp_path / "resumed/EMODB/EMODB_wav"
    assert len(list(wav_dir.iterdir())) == 5  # finished files only, no temporaries
    assert len(read_csv(tmp_path / "resumed/EMODB/manifest.csv")) == 5  # what was finished is recorded

    monkeypatch.setattr(prepare, "write_wav", real_write)
    summary = import_corpus("emodb", emodb_like, tmp_path / "resumed", progress=False)
    assert (summary.written, summary.already_done) == (7, 5)
    assert wav_files(tmp_path / "resumed", "EMODB") == wav_files(tmp_path / "clean", "EMODB")
    assert (tmp_path / "resumed/EMODB/manifest.csv").read_bytes() == (tmp_path / "clean/EMODB/manifest.csv").read_bytes()


def test_killed_run_without_manifest_is_rebuilt(emodb_like, tmp_path):
    """A run killed hard leaves finished wavs, a temporary and no manifest; the next run recovers."""
    import_corpus("emodb", emodb_like, tmp_path / "out", progress=False)
    manifest = tmp_path / "out/EMODB/manifest.csv"
    clean_manifest = manifest.read_bytes()
    manifest.unlink()
    wav_dir = tmp_path / "out/EMODB/EMODB_wav"
    victim = sorted(wav_dir.iterdir())[3]
    victim.unlink()
    stale = wav_dir / ".happy_EMODB_03_x.tmp.wav"
    stale.write_bytes(b"RIFF half a file")

    summary = import_corpus("emodb", emodb_like, tmp_path / "out", progress=False)
    assert (summary.written, summary.already_done) == (1, 11)
    assert not stale.exists() and victim.exists()
    assert manifest.read_bytes() == clean_manifest


def test_other_sample_rate_rewrites(emodb_like, tmp_path):
    import_corpus("emodb", emodb_like, tmp_path / "out", sample_rate=8000, progress=False)
    wav = sorted((tmp_path / "out/EMODB/EMODB_wav").iterdir())[0]
    assert sf.info(str(wav)).samplerate == 8000
    summary = import_corpus("emodb", emodb_like, tmp_path / "out", progress=False)
    assert summary.written == 12 and sf.info(str(wav)).samplerate == 16000


# --- bad input and channel handling ------------------------------------------------------------

def test_bad_audio_is_skipped_with_a_reason(tmp_path):
    source = tmp_path / "source"
    write_tone(source / "03a01Wa.wav")
    (source / "03a02Wa.wav").write_bytes(b"")
    (source / "03a04Wa.wav").write_text("this is not audio, only text named .wav\n")
    sf.write(str(source / "03a05Wa.wav"), np.zeros(4000), 16000, subtype="PCM_16")
    summary = import_corpus("emodb", source, tmp_path / "out", progress=False)
    assert summary.imported == 1
    reasons = {r["file"]: r["reason"] for r in read_csv(tmp_path / "out/EMODB/skipped.csv")}
    assert "empty file" in reasons["03a02Wa.wav"]
    assert "unreadable audio" in reasons["03a04Wa.wav"]
    assert "silent" in reasons["03a05Wa.wav"]
    assert [p.name for p in (tmp_path / "out/EMODB/EMODB_wav").iterdir()] == ["anger_EMODB_03_03a01Wa.wav"]


def test_stereo_is_downmixed_to_mono(tmp_path):
    source = tmp_path / "source"
    write_tone(source / "Actor_01/03-01-05-01-01-01-01.wav", sr=48000, channels=2)
    summary = import_corpus("ravdess", source, tmp_path / "out", progress=False)
    assert summary.downmixed == 1 and summary.imported == 1
    out, sr = sf.read(str(tmp_path / "out/RAVDESS/RAVDESS_wav/anger_RAVDESS_01_03-01-05-01-01-01-01.wav"))
    assert sr == 16000 and out.ndim == 1
    # channels were tone/2 and tone: the mono mix peaks near 0.75 * 0.3
    assert abs(np.max(np.abs(out[100:-100])) - 0.225) < 0.01


def test_output_inside_source_is_not_reimported(tmp_path):
    write_tone(tmp_path / "03a01Wa.wav")
    import_corpus("emodb", tmp_path, tmp_path / "datasets", progress=False)
    summary = import_corpus("emodb", tmp_path, tmp_path / "datasets", progress=False)
    assert (summary.imported, summary.skipped) == (1, 0)


def test_missing_source_folder_is_an_argument_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        import_corpus("emodb", tmp_path / "nowhere", tmp_path / "out", progress=False)


# --- the command line --------------------------------------------------------------------------



def test_cli_list_names_every_corpus():
    result = subprocess.run([sys.executable, "prepare_corpus.py", "--list"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    names = ("EMODB", "EMOVO", "RAVDESS", "TESS", "SAVEE", "CREMAD", "IEMOCAP", "ESD", "SUBESCO", "URDU",
             "JTES", "MESD", "OREAU", "EMOUERJ", "TUREVDB", "ASED", "CAFE", "SHEMO", "AESDD")
    assert len(names) == 19
    listed = {line.split()[0] for line in result.stdout.splitlines()[1:] if line.startswith("  ") and line[2] != " "}
    assert listed == set(names)
    assert "--merge_excited" in result.stdout and "--merge_calm" in result.stdout
    assert "Sound Source" in result.stdout and "Colère/Faible/01-C-1-1.wav" in result.stdout


def test_cli_exit_status(tmp_path, capsys):
    script = load_script("prepare_corpus")
    write_tone(tmp_path / "src/03a01Wa.wav")
    (tmp_path / "junk").mkdir()
    write_tone(tmp_path / "junk/not_emodb.wav")
    out = str(tmp_path / "datasets")

    assert script.main(["EmoDB", str(tmp_path / "src"), "--datasets_dir", out, "--no_progress"]) == 0
    assert (tmp_path / "datasets/EMODB/EMODB_wav/anger_EMODB_03_03a01Wa.wav").is_file()
    assert script.main(["emodb", str(tmp_path / "junk"), "--datasets_dir", out, "--no_progress"]) == 1
    assert "nothing could be imported" in capsys.readouterr().err
    for argv, message in ([["nosuchcorpus", str(tmp_path)], "unknown corpus 'nosuchcorpus'"],
                          [["emodb", str(tmp_path / "missing")], "does not exist"],
                          [["emodb"], "give CORPUS and SOURCE_DIR"],
                          [["emodb", str(tmp_path / "src"), "--merge_calm"], "EMODB does not take --merge_calm"]):
        with pytest.raises(SystemExit) as stop:
            script.main(argv + ["--datasets_dir", out])
        assert stop.value.code == 2
        assert message in capsys.readouterr().err


# --- import_once: what an experiment's own import stage calls -----------------------------------

def test_import_once_imports_then_uses_what_is_there(emodb_like, tmp_path):
    datasets = tmp_path / "datasets"
    assert prepare.import_once("emodb", emodb_like, datasets, progress=False) is None
    imported = wav_files(datasets, "EMODB")
    assert len(imported) == 12
    # A second call reads nothing from the source (it may be gone by now) and rewrites nothing.
    assert prepare.import_once("EMODB", tmp_path / "gone", datasets, progress=False) is None
    assert wav_files(datasets, "EMODB") == imported


def test_import_once_says_why_a_corpus_is_missing(tmp_path):
    datasets = tmp_path / "datasets"
    assert "not found" in prepare.import_once("emodb", tmp_path / "nowhere", datasets, progress=False)
    assert "unknown corpus" in prepare.import_once("no_such_corpus", tmp_path, datasets, progress=False)
    (tmp_path / "empty").mkdir()
    assert "EMODB" in prepare.import_once("emodb", tmp_path / "empty", datasets, progress=False)
    assert not any((datasets / "EMODB" / "EMODB_wav").glob("*.wav"))
