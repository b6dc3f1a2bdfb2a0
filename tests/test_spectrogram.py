"""The signal chain and the rendering of one image."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from specct.figures.colormaps import lookup_table
from specct.data.spectrogram import SpectrogramConfig, mel_power, power_to_db, signal_to_image

SR = 16000


def chirp(f0: float, f1: float, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds))
    return (0.5 * np.sin(phase)).astype(np.float32)


def brightest_rows(image) -> np.ndarray:
    """Row of the brightest pixel in every column (row 0 is the top of the image)."""
    return np.asarray(image.convert("L"), dtype=np.float32).argmax(axis=0)


def test_image_has_the_configured_size_and_is_rgb():
    image = signal_to_image(chirp(200, 2000), SpectrogramConfig(size=(96, 160)))
    assert image.mode == "RGB"
    assert image.size == (160, 96)  # PIL gives (width, height); the config (height, width)


def test_rising_tone_rises_in_the_image():
    rows = brightest_rows(signal_to_image(chirp(300, 6000), SpectrogramConfig()))
    start, end = np.median(rows[5:30]), np.median(rows[-30:-5])
    assert start > end + 100, (start, end)  # moved upward by most of the 224-pixel height
    assert np.all(np.diff(rows[5:-5].astype(int)) <= 2)  # and never back down


def test_low_tone_is_drawn_near_the_bottom():
    rows = brightest_rows(signal_to_image(chirp(250, 250), SpectrogramConfig()))
    assert np.median(rows) > 0.8 * 224


def test_mel_matches_librosa_melspectrogram_with_the_papers_settings():
    import librosa

    signal = chirp(100, 7000)
    cfg = SpectrogramConfig()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = librosa.feature.melspectrogram(y=signal, sr=SR, n_fft=400, hop_length=160, window="hamming",
                                                  n_mels=128)
    ours = mel_power(signal, cfg)
    assert ours.shape == expected.shape == (128, 1 + len(signal) // 160)
    np.testing.assert_allclose(ours, expected, rtol=1e-3, atol=1e-6 * expected.max())


def test_hann_window_option_changes_the_analysis():
    signal = chirp(100, 7000)
    hamm = mel_power(signal, SpectrogramConfig(window="hamm"))
    hann = mel_power(signal, SpectrogramConfig(window="hann"))
    assert hamm.shape == hann.shape and not np.allclose(hamm, hann)


def test_n_mels_sets_the_number_of_bands():
    assert mel_power(chirp(100, 7000), SpectrogramConfig(n_mels=64)).shape[0] == 64


def test_db_is_relative_to_the_maximum_with_a_fixed_floor():
    cfg = SpectrogramConfig(db_floor=-60.0)
    mel = mel_power(chirp(200, 4000) * 0.01, cfg)
    db = power_to_db(mel, cfg)
    assert db.max() == pytest.approx(0.0)
    assert db.min() >= -60.0
    # a quieter copy draws the same image: brightness is relative to the utterance
    np.testing.assert_allclose(power_to_db(mel * 1e-3, cfg), db, atol=1e-3)
    assert np.all(power_to_db(np.zeros((4, 5), np.float32), cfg) == -60.0)


def test_floor_maps_to_the_darkest_colour_of_the_map():
    cfg = SpectrogramConfig(cmap="magma")
    silent_half = np.concatenate([chirp(500, 500, 0.5), np.zeros(SR // 2, np.float32)])
    pixels = np.asarray(signal_to_image(silent_half, cfg))
    right = pixels[:, -40:].reshape(-1, 3)
    assert np.all(right == lookup_table("magma")[0])


@pytest.mark.parametrize("cmap", ["magma", "jet", "gray"])
def test_colour_maps(cmap):
    pixels = np.asarray(signal_to_image(chirp(200, 4000), SpectrogramConfig(cmap=cmap)))
    if cmap == "gray":
        assert np.all(pixels[..., 0] == pixels[..., 1]) and np.all(pixels[..., 1] == pixels[..., 2])
    else:
        assert np.any(pixels[..., 0] != pixels[..., 2])
    from matplotlib import colormaps

    if cmap != "gray":
        expected = np.round(np.asarray(colormaps[cmap](1.0)[:3]) * 255)
        np.testing.assert_array_equal(lookup_table(cmap)[255], expected)


def test_same_signal_gives_identical_png_bytes():
    def png(signal):
        buffer = io.BytesIO()
        signal_to_image(signal, SpectrogramConfig()).save(buffer, format="PNG")
        return buffer.getvalue()

    assert png(chirp(200, 3000)) == png(chirp(200, 3000))
    assert png(chirp(200, 3000)) != png(chirp(200, 3100))


@pytest.mark.parametrize("bad", [dict(window="rect"), dict(cmap="viridis"), dict(db_floor=10.0), dict(size=(0, 5))])
def test_bad_config_is_refused(bad):
    with pytest.raises(ValueError):
        SpectrogramConfig(**bad)
