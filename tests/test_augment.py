"""Each augmentation does what its name and parameters say, on synthetic signals."""
from __future__ import annotations

import numpy as np
import pytest

from specct.data.augment import (AUGMENTATION_GROUPS, AUGMENTATIONS, ORIGINAL_AUGMENTATIONS, SPECTROGRAM, WAVEFORM,
    file_rng, resolve_augmentations)
from specct.data.spectrogram import SpectrogramConfig, mel_power, mel_to_image

SR = 16000
RAMP = int(0.010 * SR)


def tone(freq: float, seconds: float = 1.0, amplitude: float = 0.3, taper: bool = False) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    signal = amplitude * np.sin(2 * np.pi * freq * t)
    if taper:  # no clicks at the ends, so no energy outside the tone
        signal *= np.hanning(signal.size)
    return signal.astype(np.float32)


def voice(seconds: float = 1.0, f0: float = 150.0) -> np.ndarray:
    """Harmonics of f0 under a syllable-rate envelope: speech-like enough for level and timing checks."""
    t = np.arange(int(seconds * SR)) / SR
    harmonics = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 20))
    return (0.2 * harmonics * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def peak_frequency(signal: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(signal.size), n=16 * signal.size))
    return float(np.argmax(spectrum) * SR / (16 * signal.size))


def band_energy(signal: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(signal)) ** 2
    freqs = np.fft.rfftfreq(signal.size, 1 / SR)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


# --- registry -------------------------------------------------------------------------------------

def test_groups_are_as_documented():
    assert AUGMENTATION_GROUPS["no_aug"] == ()
    assert set(AUGMENTATION_GROUPS["time_aug"]) == {"loud", "noise", "speed", "shift", "norm", "mask"}
    assert set(AUGMENTATION_GROUPS["freq_aug"]) == {"pitch", "maskfreq", "telephone"}
    assert set(AUGMENTATION_GROUPS["time_freq_aug"]) == set(AUGMENTATIONS)
    assert set(AUGMENTATIONS) == set(ORIGINAL_AUGMENTATIONS) | {"telephone"}
    assert len(ORIGINAL_AUGMENTATIONS) == 8


def test_domains_masks_act_on_the_spectrogram():
    domains = {name: aug.domain for name, aug in AUGMENTATIONS.items()}
    assert {n for n, d in domains.items() if d == SPECTROGRAM} == {"mask", "maskfreq"}
    assert all(d in (WAVEFORM, SPECTROGRAM) for d in domains.values())


def test_resolve_names_and_groups():
    assert resolve_augmentations(None) == list(AUGMENTATIONS)
    assert resolve_augmentations(["none"]) == [] == resolve_augmentations("no_aug")
    assert resolve_augmentations(["freq_aug", "loud"]) == ["loud", "pitch", "maskfreq", "telephone"]
    with pytest.raises(ValueError, match="unknown augmentation 'louder'"):
        resolve_augmentations(["louder"])


def test_file_rng_depends_on_seed_file_and_augmentation_only():
    draw = lambda *key: file_rng(*key).random(4)  # noqa: E731
    np.testing.assert_array_equal(draw(0, "a_B_1_x", "noise"), draw(0, "a_B_1_x", "noise"))
    for other in [(1, "a_B_1_x", "noise"), (0, "a_B_1_y", "noise"), (0, "a_B_1_x", "loud")]:
        assert not np.array_equal(draw(0, "a_B_1_x", "noise"), draw(*other))
    with pytest.raises(ValueError):
        file_rng(-1, "x", "noise")


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_every_augmentation_is_reproducible_and_finite(name):
    augmentation = AUGMENTATIONS[name]
    data = voice() if augmentation.domain == WAVEFORM else mel_power(voice(), SpectrogramConfig())
    first = augmentation(data, file_rng(3, "x", name), SR)
    second = augmentation(data, file_rng(3, "x", name), SR)
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.float32 and np.all(np.isfinite(first))
    assert not np.array_equal(first, data)  # it changed something
    if name != "speed":
        assert first.shape == data.shape


# --- waveform augmentations -----------------------------------------------------------------------

@pytest.mark.parametrize("gain_db", [-6.0, 4.5])
def test_loud_changes_the_zone_level_by_the_stated_db(gain_db):
    loud = AUGMENTATIONS["loud"]
    signal = voice()
    params = loud.draw(np.random.default_rng(0), signal.shape) | {"gain_db": gain_db}
    start, stop = params["start"], params["stop"]
    assert (start, stop) == (int(0.2 * SR), int(0.8 * SR))
    out = loud.apply(signal, SR, **params)
    inside = slice(start, stop)
    assert 20 * np.log10(rms(out[inside]) / rms(signal[inside])) == pytest.approx(gain_db, abs=0.01)
    np.testing.assert_array_equal(out[:start - RAMP], signal[:start - RAMP])
    np.testing.assert_array_equal(out[stop + RAMP:], signal[stop + RAMP:])


def test_loud_draws_within_its_range():
    loud = AUGMENTATIONS["loud"]
    gains = [loud.draw(np.random.default_rng(i), (SR,))["gain_db"] for i in range(50)]
    assert min(gains) >= loud.min_gain_db and max(gains) <= loud.max_gain_db and np.std(gains) > 1


@pytest.mark.parametrize("snr_db", [10.0, 25.0])
def test_noise_gives_the_stated_snr(snr_db):
    signal = voice()
    out = AUGMENTATIONS["noise"].apply(signal, SR, snr_db=snr_db, noise_seed=7)
    noise = out - signal
    assert 20 * np.log10(rms(signal) / rms(noise)) == pytest.approx(snr_db, abs=0.05)
    # white: about as much noise energy in the upper half of the band as in the lower half
    assert band_energy(noise, 4000, 8000) / band_energy(noise, 0, 4000) == pytest.approx(1.0, rel=0.1)


@pytest.mark.parametrize("rate", [0.5, 0.8, 1.25, 2.0])
def test_speed_changes_the_duration_of_the_zone_and_keeps_the_pitch(rate):
    speed = AUGMENTATIONS["speed"]
    signal = tone(440.0, seconds=2.0)
    params = speed.draw(np.random.default_rng(0), signal.shape) | {"rate": rate}
    zone = params["stop"] - params["start"]
    out = speed.apply(signal, SR, **params)
    assert out.size == signal.size - zone + round(zone / rate)
    middle = out[params["start"] + 1000: params["start"] + round(zone / rate) - 1000]
    assert peak_frequency(middle) == pytest.approx(440.0, rel=0.01)


@pytest.mark.parametrize("rate", [0.5, 0.87, 1.5])
def test_time_stretch_matches_librosa(rate):
    import librosa

    from specct.data.augment import STRETCH_FFT, STRETCH_HOP, time_stretch

    signal = voice(1.5)
    ours = time_stretch(signal, rate)
    reference = librosa.effects.time_stretch(signal, rate=rate, n_fft=STRETCH_FFT, hop_length=STRETCH_HOP)
    assert ours.shape == reference.shape
    assert np.corrcoef(ours, reference)[0, 1] > 0.9999


def test_speed_rates_are_drawn_both_ways():
    rates = [AUGMENTATIONS["speed"].draw(np.random.default_rng(i), (SR,))["rate"] for i in range(100)]
    assert 0.5 <= min(rates) < 1.0 < max(rates) <= 2.0


@pytest.mark.parametrize("semitones", [2.0, 2.5, 3.0, -2.0])
def test_pitch_moves_the_fundamental_by_the_stated_semitones(semitones):
    signal = tone(220.0)
    out = AUGMENTATIONS["pitch"].apply(signal, SR, semitones=semitones)
    assert out.size == signal.size
    expected = 220.0 * 2 ** (semitones / 12)
    assert peak_frequency(out[2000:-2000]) == pytest.approx(expected, rel=0.005)


def test_pitch_draws_two_to_three_semitones_up():
    drawn = [AUGMENTATIONS["pitch"].draw(np.random.default_rng(i), (SR,))["semitones"] for i in range(50)]
    assert 2.0 <= min(drawn) and max(drawn) <= 3.0


def test_shift_is_circular_and_at_most_half_the_length():
    shift = AUGMENTATIONS["shift"]
    signal = voice()
    drawn = [shift.draw(np.random.default_rng(i), signal.shape)["shift_samples"] for i in range(100)]
    assert all(0 < abs(d) <= signal.size // 2 for d in drawn)
    assert min(drawn) < 0 < max(drawn)
    out = shift.apply(signal, SR, shift_samples=drawn[0])
    np.testing.assert_array_equal(out, np.roll(signal, drawn[0]))
    np.testing.assert_array_equal(np.sort(out), np.sort(signal))  # nothing lost, nothing added


def test_norm_brings_a_random_zone_to_full_scale():
    norm = AUGMENTATIONS["norm"]
    signal = voice() * 0.1
    params = norm.draw(np.random.default_rng(1), signal.shape)
    start, stop = params["start"], params["stop"]
    assert int(0.15 * SR) <= start < stop <= int(0.85 * SR)
    assert stop - start == int(0.3 * (int(0.85 * SR) - int(0.15 * SR)))
    out = norm.apply(signal, SR, **params)
    assert np.max(np.abs(out[start:stop])) == pytest.approx(1.0, rel=1e-5)
    np.testing.assert_array_equal(out[:start - RAMP], signal[:start - RAMP])
    starts = {norm.draw(np.random.default_rng(i), signal.shape)["start"] for i in range(20)}
    assert len(starts) > 10  # the zone moves


def test_telephone_keeps_300_to_3400_hz_only():
    telephone = AUGMENTATIONS["telephone"]

    def gain_db(freq):
        signal = tone(freq, taper=True)
        return 20 * np.log10(max(rms(telephone.apply(signal, SR)), 1e-12) / rms(signal))

    for freq in (500, 1000, 3000):
        assert gain_db(freq) == pytest.approx(0.0, abs=1.0), freq
    for freq in (100, 200, 4500, 6000):
        assert gain_db(freq) < -40, freq


def test_telephone_removes_energy_below_300_and_above_3400_hz():
    noise = np.random.default_rng(0).standard_normal(2 * SR).astype(np.float32) * 0.1
    out = AUGMENTATIONS["telephone"].apply(noise, SR)
    assert out.size == noise.size
    in_band = band_energy(out, 300, 3400)
    assert band_energy(out, 0, 300) < 0.01 * in_band
    assert band_energy(out, 3400, 8000) < 0.01 * in_band
    # before the channel the same bands held far more (white noise: 4 % and 73 % of the 300-3400 band)
    assert band_energy(noise, 0, 300) > 0.03 * band_energy(noise, 300, 3400)


def test_telephone_adds_mu_law_quantisation_noise():
    import librosa
    from scipy.signal import butter, sosfiltfilt

    signal = voice()
    out = AUGMENTATIONS["telephone"].apply(signal, SR)
    # the same channel without the codec: band-pass at 8 kHz and back
    narrow = librosa.resample(signal, orig_sr=SR, target_sr=8000, res_type="soxr_hq")
    narrow = sosfiltfilt(butter(8, [300, 3400], btype="bandpass", fs=8000, output="sos"), narrow)
    clean = librosa.resample(narrow.astype(np.float32), orig_sr=8000, target_sr=SR, res_type="soxr_hq")[:SR]
    snr_db = 20 * np.log10(rms(clean) / rms(out - clean))
    assert 25 < snr_db < 45  # 8-bit mu-law: about 38 dB, audible but far from destroying the speech
    assert AUGMENTATIONS["telephone"].draw(np.random.default_rng(0), (SR,)) == {}


# --- spectrogram augmentations --------------------------------------------------------------------

def test_time_mask_blanks_frames_of_the_stated_width():
    mask = AUGMENTATIONS["mask"]
    cfg = SpectrogramConfig()
    mel = mel_power(voice(2.0), cfg)
    frames = mel.shape[1]
    params = mask.draw(np.random.default_rng(0), mel.shape)
    start, width = params["start_frame"], params["width_frames"]
    assert round(0.05 * frames) <= width <= round(0.10 * frames)
    assert 0.25 * frames - 1 <= start and start + width <= 0.75 * frames + 1
    out = mask.apply(mel, SR, **params)
    assert np.all(out[:, start:start + width] == 0)
    np.testing.assert_array_equal(np.delete(out, np.s_[start:start + width], axis=1),
                                  np.delete(mel, np.s_[start:start + width], axis=1))
    # in the image: a dark vertical band of about width / frames of the image width
    pixels = np.asarray(mel_to_image(out, cfg).convert("L"), dtype=np.float32)
    dark_columns = np.flatnonzero(pixels.max(axis=0) <= pixels.min() + 1)
    assert abs(dark_columns.size - width / frames * 224) <= 3


def test_frequency_mask_blanks_the_stated_number_of_bands():
    maskfreq = AUGMENTATIONS["maskfreq"]
    cfg = SpectrogramConfig()
    mel = mel_power(voice(), cfg)
    widths = [maskfreq.draw(np.random.default_rng(i), mel.shape)["width_bands"] for i in range(100)]
    assert min(widths) >= 5 and max(widths) <= 30 and len(set(widths)) > 10
    out = maskfreq.apply(mel, SR, start_band=40, width_bands=20)
    assert np.all(out[40:60] == 0)
    np.testing.assert_array_equal(out[:40], mel[:40])
    np.testing.assert_array_equal(out[60:], mel[60:])
    pixels = np.asarray(mel_to_image(out, cfg).convert("L"), dtype=np.float32)
    dark_rows = np.flatnonzero(pixels.max(axis=1) <= pixels.min() + 1)
    assert abs(dark_rows.size - 20 / 128 * 224) <= 3
    # band 40 is counted from the bottom: the dark rows sit in the lower half of the image
    assert dark_rows.min() > 224 / 2
