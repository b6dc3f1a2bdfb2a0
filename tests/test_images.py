"""The corpus-level engine: layout, determinism, resumability, bad input, the script."""
from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

import preprocess_spectrograms
from specct.data import images
from specct.core import paths
from specct.audio.loading import write_wav
from specct.data.augment import AUGMENTATIONS
from specct.data.images import preprocess_corpora
from specct.data.spectrogram import SpectrogramConfig
from script_helpers import one_line_error
from specct.core.errors import MissingInputError
from audio_helpers import SR, make_voice_corpus, voice

CORPUS = "TESTC"


def make_corpus(root: Path, count: int = 3, corpus: str = CORPUS) -> list[Path]:
    return make_voice_corpus(root, corpus, count, ('anger', 'sad', 'happy'))


def outputs(root: Path, corpus: str = CORPUS) -> dict[str, bytes]:
    """Every image of a corpus, by path relative to the corpus folder."""
    base = paths.corpus_dir(root, corpus)
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.glob(f"{corpus}_*/*.png"))}


def skipped(root: Path, corpus: str = CORPUS) -> dict[str, str]:
    with open(paths.img_dir(root, corpus) / "skipped.csv", newline="") as fh:
        return {row["file"]: row["reason"] for row in csv.DictReader(fh)}


def run(root: Path, **kwargs):
    kwargs.setdefault("workers", 1)
    kwargs.setdefault("progress", False)
    return preprocess_corpora(root, **kwargs)


def test_writes_one_plain_and_one_image_per_augmentation(tmp_path):
    wavs = make_corpus(tmp_path)
    summary = run(tmp_path)
    for wav in wavs:
        plain = Image.open(paths.img_dir(tmp_path, CORPUS) / f"{wav.stem}.png")
        assert plain.size == (224, 224) and plain.mode == "P"  # a palette PNG of the colour map
        for name in AUGMENTATIONS:
            augmented = Image.open(paths.augmented_dir(tmp_path, CORPUS) / f"{wav.stem}_{name}.png")
            assert augmented.size == (224, 224) and augmented.mode == "P"
            assert np.asarray(augmented).tobytes() != np.asarray(plain).tobytes(), name
    assert len(outputs(tmp_path)) == len(wavs) * (1 + len(AUGMENTATIONS))
    assert (summary.files, summary.processed, summary.skipped) == (3, 3, 0)
    assert summary.images_written == 3 * 10
    assert set(summary.stage_seconds) == set(images.STAGES)
    assert skipped(tmp_path) == {}
    assert "30 images written" in str(summary)


def test_size_and_augmentation_choice(tmp_path):
    wavs = make_corpus(tmp_path, count=1)
    run(tmp_path, augmentations=["freq_aug"], size=(64, 96))
    written = outputs(tmp_path)
    assert sorted(written) == sorted([f"{CORPUS}_img/{wavs[0].stem}.png"] + [
        f"{CORPUS}_augmented/{wavs[0].stem}_{n}.png" for n in ("pitch", "maskfreq", "telephone")])
    assert Image.open(paths.img_dir(tmp_path, CORPUS) / f"{wavs[0].stem}.png").size == (96, 64)


@pytest.mark.slow  # starts a process pool
def test_same_seed_gives_identical_bytes_whatever_the_worker_count(tmp_path):
    make_corpus(tmp_path / "a", count=4)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    run(tmp_path / "a", seed=5, workers=1)
    run(tmp_path / "b", seed=5, workers=2)
    assert outputs(tmp_path / "a") == outputs(tmp_path / "b")


def test_different_seed_gives_different_augmented_images(tmp_path):
    make_corpus(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    run(tmp_path / "a", seed=0)
    run(tmp_path / "b", seed=1)
    first, second = outputs(tmp_path / "a"), outputs(tmp_path / "b")
    for key in first:
        if key.startswith(f"{CORPUS}_img/") or key.endswith("_telephone.png"):
            assert first[key] == second[key], key  # no randomness in these
        else:
            assert first[key] != second[key], key


def test_stopped_run_resumes_to_the_same_files_as_one_clean_run(tmp_path, monkeypatch):
    make_corpus(tmp_path / "clean", count=4)
    shutil.copytree(tmp_path / "clean", tmp_path / "stopped")
    run(tmp_path / "clean", seed=3)

    real_save, saved = images.save_png, []

    def save_then_stop(image, path, *args, **kwargs):
        if len(saved) == 17:  # part-way through the second file
            raise KeyboardInterrupt
        real_save(image, path, *args, **kwargs)
        saved.append(path)

    monkeypatch.setattr(images, "save_png", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "stopped", seed=3)
    monkeypatch.setattr(images, "save_png", real_save)
    assert 0 < len(outputs(tmp_path / "stopped")) < len(outputs(tmp_path / "clean"))
    # a run killed mid-write leaves a temporary, never a half-written image
    stale = paths.augmented_dir(tmp_path / "stopped", CORPUS) / ".x.abc123.tmp.png"
    stale.write_bytes(b"half an image")

    summary = run(tmp_path / "stopped", seed=3)
    assert outputs(tmp_path / "stopped") == outputs(tmp_path / "clean")
    assert not stale.exists()
    assert summary.images_written == 4 * 10 - 17
    assert summary.up_to_date == 1  # the first file was complete

    again = run(tmp_path / "stopped", seed=3)
    assert (again.processed, again.images_written, again.up_to_date) == (0, 0, 4)


def test_overwrite_redraws_existing_images(tmp_path):
    make_corpus(tmp_path, count=1)
    run(tmp_path, augmentations=[])
    plain = next(paths.img_dir(tmp_path, CORPUS).glob("*.png"))
    plain.write_bytes(b"not the image")
    assert run(tmp_path, augmentations=[]).images_written == 0
    assert run(tmp_path, augmentations=[], overwrite=True).images_written == 1
    assert Image.open(plain).size == (224, 224)


def test_bad_input_is_skipped_with_a_reason_and_the_rest_goes_through(tmp_path):
    good = make_corpus(tmp_path, count=2)
    folder = paths.wav_dir(tmp_path, CORPUS)
    (folder / "anger_TESTC_09_empty.wav").write_bytes(b"")
    (folder / "anger_TESTC_09_text.wav").write_text("these are not audio samples\n" * 20)
    header = (folder / good[0].name).read_bytes()[:44]
    (folder / "anger_TESTC_09_truncated.wav").write_bytes(header[:20])  # header cut short: unreadable
    write_wav(folder / "anger_TESTC_09_silence.wav", np.zeros(SR, np.float32), SR)
    blip = np.zeros(SR, np.float32)
    blip[8000:8000 + 800] = 0.5 * np.sin(2 * np.pi * 440 * np.arange(800) / SR)  # 50 ms of sound
    write_wav(folder / "anger_TESTC_09_short.wav", blip, SR)
    with_nan = voice(0.5, 200.0)
    with_nan[3000:3010] = np.nan
    sf.write(folder / "anger_TESTC_09_nan.wav", with_nan, SR, subtype="FLOAT")

    summary = run(tmp_path)
    reasons = skipped(tmp_path)
    expected = {"empty": "empty", "text": "unreadable", "truncated": "unreadable", "silence": "silent",
                "short": "too short", "nan": "NaN"}
    assert set(reasons) == {f"anger_TESTC_09_{key}.wav" for key in expected}
    for key, word in expected.items():
        reason = reasons[f"anger_TESTC_09_{key}.wav"]
        assert word in reason and "\n" not in reason, (key, reason)
    assert summary.skipped == 6 and summary.images_written == 2 * 10
    for wav in good:
        assert (paths.img_dir(tmp_path, CORPUS) / f"{wav.stem}.png").exists()
    assert not list(paths.img_dir(tmp_path, CORPUS).glob("*_09_*.png"))

    # fixing a file and re-running clears it from the list
    write_wav(folder / "anger_TESTC_09_silence.wav", voice(0.5, 180.0), SR)
    run(tmp_path)
    assert "anger_TESTC_09_silence.wav" not in skipped(tmp_path) and len(skipped(tmp_path)) == 5


def test_settings_are_recorded_and_never_mixed(tmp_path):
    import json

    from specct.data.split_rows import spectrogram_config, spectrogram_settings

    wavs = make_corpus(tmp_path, count=1)
    run(tmp_path, augmentations=[], size=(64, 80), config=SpectrogramConfig(cmap="jet", n_mels=96))
    recorded = json.loads((paths.img_dir(tmp_path, CORPUS) / "spectrogram.json").read_text())
    assert recorded["cmap"] == "jet" and recorded["n_mels"] == 96 and recorded["size"] == [64, 80]
    # the training side reads it back into the same config, so prediction redraws the same image
    import pandas as pd

    frame = pd.DataFrame({"image": [str(paths.img_dir(tmp_path, CORPUS) / f"{wavs[0].stem}.png")]})
    assert spectrogram_config(spectrogram_settings(frame)) == SpectrogramConfig(cmap="jet", n_mels=96, size=(64, 80))
    with pytest.raises(ValueError, match="cmap jet -> magma"):
        run(tmp_path, augmentations=[], size=(64, 80))
    assert run(tmp_path, augmentations=["mask"], size=(64, 80), overwrite=True).images_written == 2
    augmented = pd.DataFrame({"image": [str(paths.augmented_dir(tmp_path, CORPUS) / f"{wavs[0].stem}_mask.png")]})
    assert spectrogram_config(spectrogram_settings(augmented)) == SpectrogramConfig(size=(64, 80))
    assert json.loads((paths.img_dir(tmp_path, CORPUS) / "spectrogram.json").read_text())["cmap"] == "magma"


def test_dry_run_writes_nothing(tmp_path):
    make_corpus(tmp_path, count=2)
    summary = run(tmp_path, dry_run=True, augmentations=["loud", "mask"])
    assert summary.images_planned == 2 * 3 and summary.images_written == 0
    assert not paths.img_dir(tmp_path, CORPUS).exists()
    assert not paths.augmented_dir(tmp_path, CORPUS).exists()


def test_datasets_selects_corpora_and_unknown_names_are_refused(tmp_path):
    make_corpus(tmp_path, count=1, corpus="ONE")
    make_corpus(tmp_path, count=1, corpus="TWO")
    summary = run(tmp_path, datasets=["two"], augmentations=[])
    assert summary.corpora == ["TWO"] and summary.images_written == 1
    assert not paths.img_dir(tmp_path, "ONE").exists()
    with pytest.raises(MissingInputError, match="THREE"):
        run(tmp_path, datasets=["three"])


def test_script_passes_its_options_on(tmp_path, capsys):
    make_corpus(tmp_path, count=1)
    preprocess_spectrograms.main(["--datasets_dir", str(tmp_path), "--augmentations", "none", "--cmap", "gray",
                                  "--size", "32", "48", "--n_mels", "40", "--window", "hann", "--workers", "1"])
    image = np.asarray(Image.open(next(paths.img_dir(tmp_path, CORPUS).glob("*.png"))).convert("RGB"))
    assert image.shape == (32, 48, 3)
    assert np.all(image[..., 0] == image[..., 2])  # gray
    assert not paths.augmented_dir(tmp_path, CORPUS).exists()
    assert "1 images written" in capsys.readouterr().out


def test_script_reports_bad_options_in_one_line(tmp_path, capsys):
    make_corpus(tmp_path, count=1)
    one_line_error(capsys, lambda: preprocess_spectrograms.main(
        ["--datasets_dir", str(tmp_path), "--augmentations", "echo"]), "unknown augmentation 'echo'")
    one_line_error(capsys, lambda: preprocess_spectrograms.main(
        ["--datasets_dir", str(tmp_path), "--datasets", "nope"]), "NOPE")


def test_script_refuses_a_folder_without_corpora(tmp_path, capsys):
    one_line_error(capsys, lambda: preprocess_spectrograms.main(["--datasets_dir", str(tmp_path / "missing")]),
                   "^preprocess_spectrograms.py: error: no corpora in .*missing")
    one_line_error(capsys, lambda: preprocess_spectrograms.main(["--datasets_dir", str(tmp_path)]), "no corpora in")


@pytest.mark.shared
def test_real_emodb_files(tmp_path, emodb_source):
    """A few real utterances: speech energy sits low in the image, the telephone band cuts the top."""
    wav_dir = paths.wav_dir(tmp_path, "EMODB")
    wav_dir.mkdir(parents=True)
    for source in sorted(emodb_source.glob("*.wav"))[:3]:  # EmoDB is 16 kHz mono already
        shutil.copy(source, wav_dir / f"neutral_EMODB_{source.stem[:2]}_{source.stem}.wav")
    summary = run(tmp_path, augmentations=["telephone", "pitch"])
    assert (summary.processed, summary.skipped, summary.images_written) == (3, 0, 9)
    for plain in paths.img_dir(tmp_path, "EMODB").glob("*.png"):
        gray = np.asarray(Image.open(plain).convert("L"), dtype=np.float32)
        assert gray.std() > 10
        assert gray[-56:].mean() > gray[:56].mean() + 10  # bottom quarter brighter than the top quarter
        phone = np.asarray(Image.open(paths.augmented_dir(tmp_path, "EMODB") / f"{plain.stem}_telephone.png")
                           .convert("L"), dtype=np.float32)
        # the top rows (about 5-8 kHz) are empty after a 3.4 kHz channel
        assert phone[:40].mean() < gray[:40].mean() - 10 and phone[:40].mean() < 15


def test_saved_palette_image_is_the_rgb_spectrogram_exactly(tmp_path):
    from specct.data.spectrogram import SpectrogramConfig, signal_to_image
    from specct.data.spectrogram import db_to_image, mel_power, power_to_db
    cfg = SpectrogramConfig(size=(61, 83), cmap="magma")
    signal = np.sin(2 * np.pi * np.cumsum(np.linspace(200, 3000, 16000)) / 16000).astype(np.float32)
    db = power_to_db(mel_power(signal, cfg), cfg)
    indexed = db_to_image(db, cfg, palette=True)
    assert indexed.mode == "P"
    path = tmp_path / "x.png"
    images.save_png(indexed, path)
    with Image.open(path) as check:
        check.verify()
    with Image.open(path) as decoded:
        assert decoded.mode == "P" and decoded.size == (83, 61)
        np.testing.assert_array_equal(np.asarray(decoded.convert("RGB")), np.asarray(signal_to_image(signal, cfg)))
    assert path.stat().st_size < len(images.encode_png(indexed.convert("RGB")))


def test_png_encoding_round_trips_exactly(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(37, 53, 3), dtype=np.uint8)  # odd sizes, incompressible
    path = tmp_path / "x.png"
    images.save_png(Image.fromarray(pixels), path)
    with Image.open(path) as check:
        check.verify()  # chunk CRCs and structure
    with Image.open(path) as decoded:
        assert decoded.mode == "RGB" and decoded.size == (53, 37)
        np.testing.assert_array_equal(np.asarray(decoded), pixels)
    assert not list(tmp_path.glob(".*tmp*"))
