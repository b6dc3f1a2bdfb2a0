"""The built-in demo corpora: layout, determinism, emotion cues, and a difficulty like the real task's."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from specct.core import paths
from specct.audio.loading import DEFAULT_SR, load_trimmed
from specct.data.demo import (CORE_EMOTIONS, DEMO_CORPORA, PROFILES, SETTINGS_FILE, derive_rng, generate_demo, main,
    read_demo_manifest)
from specct.audio.demo_voice import draw_delivery, draw_sentence, draw_speaker, synthesize
from specct.core.naming import parse_name
from specct.data.prepare import MANIFEST_COLUMNS

SMALL = dict(speakers=2, sentences=1, progress=False)


def _wav_bytes(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.wav"))}


def _mtimes(root) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in root.rglob("*.wav")}


# ---------------------------------------------------------------------------- determinism and re-runs

def test_same_seed_gives_identical_files_another_seed_different_ones(tmp_path):
    for folder, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert generate_demo(tmp_path / folder, seed=seed, **SMALL) == list(DEMO_CORPORA)
    first, again, other = (_wav_bytes(tmp_path / f) for f in "abc")
    assert len(first) == 3 * 2 * 5  # corpora x speakers x (four core emotions + one extra)
    assert first == again
    for corpus in DEMO_CORPORA:
        assert ((tmp_path / "a" / corpus / "manifest.csv").read_bytes()
                == (tmp_path / "b" / corpus / "manifest.csv").read_bytes())
    assert set(other) == set(first)  # the same names: the seed changes the audio, not the layout
    assert all(other[name] != first[name] for name in first)


def test_rerun_leaves_files_alone_and_other_settings_replace_them(tmp_path):
    generate_demo(tmp_path, seed=1, corpora=("DEMOB",), **SMALL)
    before, stamps = _wav_bytes(tmp_path), _mtimes(tmp_path)
    generate_demo(tmp_path, seed=1, corpora=("DEMOB",), **SMALL)
    assert _mtimes(tmp_path) == stamps
    # Without the settings record every file is rendered again; identical bytes are not rewritten.
    (tmp_path / "DEMOB" / SETTINGS_FILE).unlink()
    generate_demo(tmp_path, seed=1, corpora=("DEMOB",), **SMALL)
    assert _wav_bytes(tmp_path) == before and _mtimes(tmp_path) == stamps
    # Fewer speakers: the second speaker's files leave the folder and the manifest.
    generate_demo(tmp_path, seed=1, corpora=("DEMOB",), speakers=1, sentences=1, progress=False)
    names = {p.name for p in paths.wav_dir(tmp_path, "DEMOB").glob("*.wav")}
    assert len(names) == 5 and {parse_name(n).speaker for n in names} == {"01"}
    assert set(read_demo_manifest(tmp_path / "DEMOB")["file"]) == names
    assert not list(paths.wav_dir(tmp_path, "DEMOB").glob(".*tmp*"))


def test_derived_generators_depend_on_every_key():
    draw = lambda *keys: derive_rng(*keys).random(4).tolist()  # noqa: E731
    assert draw(0, "DEMOA", "x.wav") == draw(0, "DEMOA", "x.wav")
    assert draw(0, "DEMOA", "x.wav") != draw(1, "DEMOA", "x.wav")
    assert draw(0, "DEMOA", "x.wav") != draw(0, "DEMOB", "x.wav")
    assert draw(0, "DEMOA", "x.wav") != draw(0, "DEMOA", "y.wav")


# ---------------------------------------------------------------------------- bad arguments

def test_corpus_name_with_underscore_is_refused(tmp_path):
    with pytest.raises(ValueError, match="split on '_'"):
        generate_demo(tmp_path, corpora=("DEMO_A",), **SMALL)
    assert not (tmp_path / "DEMO_A").exists()


def test_an_imported_corpus_is_never_overwritten(tmp_path):
    corpus_root = tmp_path / "DEMOA"
    corpus_root.mkdir()
    pd.DataFrame([{"file": "anger_DEMOA_01_a.wav", "source": "/corpora/a.wav", "emotion": "anger",
                   "speaker": "01", "gender": "male", "duration": 1.0, "orig_sr": 16000}]).to_csv(
        corpus_root / "manifest.csv", index=False)
    with pytest.raises(ValueError, match="imported corpus"):
        generate_demo(tmp_path, corpora=("DEMOA",), **SMALL)


def test_unknown_emotion_and_bad_seed_are_refused(tmp_path):
    with pytest.raises(ValueError, match="no emotion elation"):
        generate_demo(tmp_path, corpora=("DEMOA",), emotions=("anger", "elation"), **SMALL)
    with pytest.raises(ValueError, match="seed"):
        generate_demo(tmp_path, seed=-1, **SMALL)


def test_command_line_prints_a_summary(tmp_path, capsys):
    assert main(["--datasets_dir", str(tmp_path), "--seed", "2", "--datasets", "democ", "--speakers", "2",
                 "--sentences", "1"]) == 0
    out = capsys.readouterr().out
    assert "DEMOC: 10 files, 2 speakers (1 female, 1 male)" in out
    assert "anger 2, disgust 2, happy 2, neutral 2, sad 2" in out
    assert f"recorded at {PROFILES['DEMOC'].channel.orig_sr} Hz, written at 16000 Hz mono PCM_16" in out
    assert len(list(paths.wav_dir(tmp_path, "DEMOC").glob("*.wav"))) == 10


# ---------------------------------------------------------------------------- layout (default demo)

def test_layout_and_manifest_follow_the_importer(demo_datasets):
    assert paths.list_corpora(demo_datasets) == sorted(DEMO_CORPORA)
    total = 0
    for corpus in DEMO_CORPORA:
        manifest = read_demo_manifest(paths.corpus_dir(demo_datasets, corpus))
        assert list(manifest.columns) == list(MANIFEST_COLUMNS)
        files = {p.name for p in paths.wav_dir(demo_datasets, corpus).iterdir()}
        assert files == set(manifest["file"])
        for row in manifest.itertuples():
            name = parse_name(row.file)
            assert (name.emotion, name.corpus, name.speaker) == (row.emotion, corpus, row.speaker)
            info = sf.info(str(paths.wav_dir(demo_datasets, corpus) / row.file))
            assert (info.samplerate, info.channels, info.subtype) == (DEFAULT_SR, 1, "PCM_16")
            assert abs(info.frames / DEFAULT_SR - row.duration) < 1e-3
            assert 0.8 < row.duration < 4.0
        assert (manifest["source"] == "synthetic").all()
        assert (manifest["orig_sr"] == PROFILES[corpus].channel.orig_sr).all()
        counts = manifest["emotion"].value_counts()
        assert set(CORE_EMOTIONS) <= set(counts.index) and counts.nunique() == 1  # balanced
        speakers = manifest.drop_duplicates("speaker")
        assert len(speakers) >= 4 and set(speakers["gender"]) == {"female", "male"}
        total += len(manifest)
    assert 200 <= total <= 600
    assert len({PROFILES[c].channel.orig_sr for c in DEMO_CORPORA}) == 3


# ---------------------------------------------------------------------------- the voice carries its cues

def _median_f0(signal: np.ndarray) -> float:
    import librosa

    f0 = librosa.yin(signal, fmin=60, fmax=500, sr=DEFAULT_SR, frame_length=1024)
    rms = librosa.feature.rms(y=signal, frame_length=1024, hop_length=256)[0][: f0.size]
    return float(np.median(f0[rms > 0.3 * rms.max()]))


def _alpha_ratio_db(signal: np.ndarray) -> float:
    """Energy of 1-5 kHz over 50 Hz-1 kHz in the long-term spectrum: high when the voice is pressed."""
    frames = np.lib.stride_tricks.sliding_window_view(signal, 1024)[::256] * np.hanning(1024)
    power = (np.abs(np.fft.rfft(frames, axis=1)) ** 2).mean(axis=0)
    freqs = np.fft.rfftfreq(1024, 1 / DEFAULT_SR)
    high, low = power[(freqs > 1000) & (freqs < 5000)].sum(), power[(freqs > 50) & (freqs < 1000)].sum()
    return float(10 * np.log10(high / low))


def _cues(speaker, emotion, n=6):
    """Median pitch, level (dB) and alpha ratio (dB), averaged over ``n`` sentences said dry."""
    pitch, level, alpha = [], [], []
    for k in range(n):
        sentence = draw_sentence(derive_rng(0, "cue-test", "sentence", k))
        rng = derive_rng(0, "cue-test", speaker.speaker_id, emotion, k)
        signal = synthesize(sentence, draw_delivery(rng, speaker, emotion), rng, DEFAULT_SR)
        pitch.append(_median_f0(signal))
        level.append(10 * np.log10(np.mean(signal ** 2)))
        alpha.append(_alpha_ratio_db(signal))
    return np.mean(pitch), np.mean(level), np.mean(alpha)


def test_speakers_and_emotions_move_the_cues_real_speech_uses():
    woman = draw_speaker(derive_rng(0, "cue-test", "w"), "w", "female")
    man = draw_speaker(derive_rng(0, "cue-test", "m"), "m", "male")
    cues = {e: _cues(man, e) for e in CORE_EMOTIONS}
    pitch, level, alpha = (dict(zip(CORE_EMOTIONS, values)) for values in zip(*cues.values()))
    # Measured on the audio, against the traits the voice was drawn with.
    assert abs(pitch["neutral"] / man.f0_hz - 1) < 0.15
    assert pitch["happy"] > pitch["neutral"] > pitch["sad"] and pitch["anger"] > pitch["neutral"]
    assert level["anger"] > level["happy"] > level["neutral"] > level["sad"]
    assert alpha["anger"] > alpha["neutral"] + 2 and alpha["neutral"] > alpha["sad"]
    woman_pitch = _cues(woman, "neutral")[0]
    assert woman_pitch > 1.4 * pitch["neutral"]
    # A high voice's neutral is higher than a low voice's happy: the speaker matters.
    assert woman_pitch > pitch["happy"]


# ---------------------------------------------------------------------------- neither trivial nor impossible

def _features(demo_datasets):
    """Mean and standard deviation of 40 log-mel bands per utterance, four classes."""
    import librosa

    rows, features = [], []
    for corpus in DEMO_CORPORA:
        manifest = read_demo_manifest(paths.corpus_dir(demo_datasets, corpus))
        for row in manifest[manifest["emotion"].isin(CORE_EMOTIONS)].itertuples():
            signal = load_trimmed(paths.wav_dir(demo_datasets, corpus) / row.file)
            mel = librosa.feature.melspectrogram(y=signal, sr=DEFAULT_SR, n_fft=512, hop_length=160, n_mels=40)
            log_mel = librosa.power_to_db(mel, top_db=80)
            features.append(np.concatenate([log_mel.mean(axis=1), log_mel.std(axis=1)]))
            rows.append((corpus, f"{corpus}-{row.speaker}", row.emotion))
    corpora, speakers, emotions = (np.array(column) for column in zip(*rows))
    return np.stack(features), corpora, speakers, emotions


def _leave_one_corpus_out(features, corpora, emotions) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    uar = {}
    for held_out in DEMO_CORPORA:
        train, test = corpora != held_out, corpora == held_out
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        model.fit(features[train], emotions[train])
        uar[held_out] = float(balanced_accuracy_score(emotions[test], model.predict(features[test])))
    return uar


@pytest.mark.slow
def test_cross_corpus_emotion_is_learnable_but_hard(demo_datasets):
    features, corpora, speakers, emotions = _features(demo_datasets)
    uar = _leave_one_corpus_out(features, corpora, emotions)
    print("leave-one-corpus-out UAR (4 classes, log-mel mean+std, logistic regression):",
          {c: round(v, 3) for c, v in uar.items()})
    for corpus, value in uar.items():
        assert 0.35 < value < 0.95, f"held-out {corpus}: UAR {value:.3f} (chance 0.25)"
    # Knowing the speaker helps: the same features standardised per speaker read emotion better.
    per_speaker = features.copy()
    for speaker in np.unique(speakers):
        rows = speakers == speaker
        per_speaker[rows] = (features[rows] - features[rows].mean(0)) / (features[rows].std(0) + 1e-6)
    uar_speaker = _leave_one_corpus_out(per_speaker, corpora, emotions)
    print("with per-speaker standardisation:", {c: round(v, 3) for c, v in uar_speaker.items()})
    assert np.mean(list(uar_speaker.values())) > np.mean(list(uar.values())) + 0.03
