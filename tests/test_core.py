"""Shared building blocks: canonical names, class sets, atomic writes, audio checks."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from specct.audio import loading as audio
from specct.core import fileio, labels, naming, paths


def test_canonical_name_round_trip_keeps_underscores_in_stem():
    name = naming.make_name("Anger", "emodb", "03", "03a01_Wa")
    assert name.wav_name() == "anger_EMODB_03_03a01_Wa.wav"
    parsed = naming.parse_name("/x/y/anger_EMODB_03_03a01_Wa.wav")
    assert parsed == name
    assert parsed.speaker_key == "EMODB-03"


def test_fields_are_cleaned_and_bad_names_rejected():
    assert naming.make_name("sad", "crema-d", "10_01", "a").speaker == "10-01"
    with pytest.raises(naming.NameError_):
        naming.parse_name("anger_EMODB_03.wav")
    with pytest.raises(naming.NameError_):
        naming.make_name("", "EMODB", "03", "x")


def test_speaker_keys_are_unique_across_corpora():
    assert naming.speaker_key("emodb", "01") != naming.speaker_key("ravdess", "01")


@pytest.mark.parametrize("emotion,expected", [
    ("anger", "negative"), ("sad", "negative"), ("fearful", "negative"), ("disgust", "negative"),
    ("frustration", "negative"), ("happy", "positive"), ("surprised", "positive"), ("excited", "positive"),
    ("neutral", "neutral"),
])
def test_three_class_set(emotion, expected):
    names, mapping = labels.class_set("3")
    assert names == ("negative", "neutral", "positive")
    assert mapping[emotion] == expected
    assert "boredom" not in mapping and "calm" not in mapping


def test_four_all_and_custom_class_sets():
    names4, map4 = labels.class_set(4)
    assert names4 == ("anger", "happy", "neutral", "sad") and set(map4) == set(names4)
    names_all, _ = labels.class_set("all")
    assert len(names_all) == 7 and "surprised" in names_all
    custom, cmap = labels.class_set("4", classes="happy,sad")
    assert custom == ("happy", "sad") and cmap == {"happy": "happy", "sad": "sad"}
    assert labels.class_set_name(classes="happy,sad") == "happy-sad_classes"
    with pytest.raises(ValueError, match="unknown emotion"):
        labels.class_set(classes="happy,joyful")
    with pytest.raises(ValueError, match="unknown class set"):
        labels.class_set("5")


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out" / "table.csv"
    with pytest.raises(RuntimeError):
        with fileio.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []
    with fileio.atomic_path(target) as tmp:
        tmp.write_text("whole")
    assert target.read_text() == "whole"


def test_atomic_path_gives_the_mode_of_a_plainly_written_file(tmp_path):
    import os
    import stat

    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    target = tmp_path / "atomic.txt"
    fileio.write_text_atomic(target, "x")
    assert stat.S_IMODE(os.stat(target).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)


def test_skip_list_writes_one_line_reasons(tmp_path):
    skips = fileio.SkipList(tmp_path / "skipped.csv", echo=None)
    skips.add("a.wav", "unreadable\naudio")
    skips.write()
    lines = (tmp_path / "skipped.csv").read_text().splitlines()
    assert lines == ["file,reason", "a.wav,unreadable audio"]


def _tone(seconds, sr=16000, amp=0.5, freq=220.0):
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_load_trimmed_resamples_downmixes_and_trims(tmp_path):
    sr = 48000
    silence = np.zeros(sr // 2, dtype=np.float32)
    mono = np.concatenate([silence, _tone(1.0, sr), silence])
    sf.write(tmp_path / "x.wav", np.stack([mono, mono], axis=1), sr)
    signal = audio.load_trimmed(tmp_path / "x.wav")
    assert signal.dtype == np.float32
    assert abs(signal.size / 16000 - 1.0) < 0.1


@pytest.mark.parametrize("make,reason", [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("not audio at all"), "unreadable"),
    (lambda p: sf.write(p, np.zeros(16000, dtype=np.float32), 16000), "silent"),
    (lambda p: sf.write(p, _tone(0.05), 16000), "too short"),
])
def test_bad_audio_gets_a_one_line_reason(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(audio.AudioError) as err:
        audio.load_trimmed(path)
    assert reason in str(err.value) and "\n" not in str(err.value)


def test_nan_samples_are_rejected():
    signal = _tone(1.0)
    signal[100] = np.nan
    with pytest.raises(audio.AudioError, match="NaN"):
        audio.check_signal(signal, 16000)


def test_layout_paths(tmp_path):
    assert paths.wav_dir(tmp_path, "emodb") == tmp_path / "EMODB" / "EMODB_wav"
    paths.wav_dir(tmp_path, "EMODB").mkdir(parents=True)
    (tmp_path / "notes").mkdir()
    assert paths.list_corpora(tmp_path) == ["EMODB"]
    assert paths.split_dir("data", "emodb", "4_classes", "no_aug", "no_balanced").as_posix() == \
        "data/EMODB/4_classes/no_aug/no_balanced"


def test_named_random_streams_keep_the_numbers_of_every_stage():
    """Pinned draws: augmented images, demo corpora and splits stay byte-identical across releases."""
    from specct.data.augment import file_rng
    from specct.data.demo import derive_rng
    from specct.core.seeding import crc32_words, rng_for

    draw = lambda rng: rng.integers(0, 1000, 4).tolist()  # noqa: E731
    assert draw(file_rng(0, "anger_EMODB_03_a01", "noise")) == [941, 735, 950, 752]
    assert draw(derive_rng(3, "DEMOA", "channel")) == [434, 679, 991, 741]
    assert draw(rng_for(1, "validation", "EMODB", words=crc32_words)) == [704, 510, 972, 933]
    assert draw(rng_for(0, "a", "b")) != draw(rng_for(0, "b", "a")) != draw(rng_for(1, "a", "b"))
    with pytest.raises(ValueError, match="non-negative"):
        rng_for(-1, "x")
