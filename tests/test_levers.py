"""The training levers of the cross-corpus recipe: what each does, and that each is off unless asked for.

Online SpecAugment and word-length time crops (train.py), per-utterance mean normalisation of the log-mel and padding of short
utterances to a fixed time scale (spectrogram settings), per-corpus / per-speaker standardisation of the speaker vectors (train.py, transductive
at test time). Label smoothing and mixup are tested in test_train.py; here only their defaults.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from specct.data.split_rows import spectrogram_config
from specct.data.images import _settings, check_settings
from specct.data.speaker import standardise_by_group
from specct.core.errors import InputError
from specct.data.spectrogram import (SpectrogramConfig, db_levels, mean_normalise, mel_power, mel_to_image,
    signal_to_image)
from specct.train import default_args
from specct.train.specaugment import MaskParams, SpecAugment, from_args
from specct.train.timecrop import CropParams, TimeCrop
from specct.train.timecrop import from_args as time_crop_from_args

REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- SpecAugment

def test_masks_blank_the_stated_bands_and_nothing_else():
    images = torch.randn(2, 3, 10, 16)
    params = MaskParams(time_start=np.array([[3], [0]]), time_width=np.array([[2], [0]]),
                        freq_start=np.array([[5], [9]]), freq_width=np.array([[4], [1]]))
    out = SpecAugment(time_masks=1, freq_masks=1, fill=-7.0).apply(images, params)
    expected = images.clone()
    expected[0, :, :, 3:5] = -7.0          # time: columns 3 and 4 of image 0
    expected[0, :, 5:9, :] = -7.0          # frequency: rows 5..8 of image 0
    expected[1, :, 9:10, :] = -7.0         # image 1: a zero-width time mask, one frequency row
    assert torch.equal(out, expected)
    assert not torch.equal(images, out)    # a copy: the input is left as it was


def test_drawn_masks_stay_within_their_widths_and_are_seeded():
    augment = SpecAugment(time_masks=2, max_time_fraction=0.25, freq_masks=1, max_freq_fraction=0.5)
    params = augment.draw(np.random.default_rng(0), batch=64, height=20, width=40)
    assert params.time_width.shape == (64, 2) and params.freq_width.shape == (64, 1)
    assert params.time_width.max() <= 10 and params.freq_width.max() <= 10
    assert (params.time_start + params.time_width <= 40).all() and (params.freq_start + params.freq_width <= 20).all()
    again = augment.draw(np.random.default_rng(0), batch=64, height=20, width=40)
    assert np.array_equal(params.time_start, again.time_start) and np.array_equal(params.freq_width, again.freq_width)
    images = torch.ones(64, 3, 20, 40)
    masked = augment(images, np.random.default_rng(1))
    blank_cols = (masked == 0).all(dim=2).all(dim=1)            # (B, W): columns blank on every row
    assert blank_cols.sum(dim=1).max() <= 20                   # at most 2 masks of at most 10 columns
    with pytest.raises(ValueError, match="max_time_fraction"):
        SpecAugment(time_masks=1, max_time_fraction=1.5)


def test_specaugment_is_off_unless_asked_for(tmp_path):
    assert from_args(default_args(tmp_path)) is None
    assert from_args(default_args(tmp_path, specaugment_time_masks=2)) == SpecAugment(time_masks=2)


class Probe(torch.nn.Module):
    """A model that keeps every batch of images it is given."""

    def __init__(self):
        super().__init__()
        self.head = torch.nn.Linear(1, 2)
        self.seen: list[torch.Tensor] = []

    def forward(self, x):
        self.seen.append(x.detach().clone())
        return self.head(x.mean(dim=(1, 2, 3))[:, None])


def seen_in_training_and_prediction(images: torch.Tensor, rng: np.random.Generator, **augment) -> tuple:
    """What one training epoch (with ``augment``: specaugment=..., time_crop=...) and then
    predict_loader (validation, test) hand the model, for one batch of ``images``."""
    from torch.utils.data import DataLoader, TensorDataset

    from specct.train.engine import predict_loader, train_one_epoch

    n = len(images)
    loader = DataLoader(TensorDataset(images, torch.empty(n, 0), torch.arange(n) % 2, torch.arange(n)), batch_size=n)
    model = Probe()
    train_one_epoch(model, loader, torch.nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                    device=torch.device("cpu"), speaker_model=False, epoch=0, num_epochs=1, rng=rng,
                    progress=False, **augment)
    predict_loader(model, loader, device=torch.device("cpu"), speaker_model=False, progress=False)
    return model.seen[0], model.seen[-1]


def test_specaugment_masks_training_batches_only():
    """train_one_epoch masks what the model trains on; predict_loader (validation, test) never does."""
    every_column = SpecAugment(time_masks=1, max_time_fraction=1.0)
    rng = np.random.default_rng(3)
    for _ in range(20):  # a draw with a non-empty mask (width 0 is possible)
        trained, predicted = seen_in_training_and_prediction(torch.ones(4, 3, 8, 8), rng, specaugment=every_column)
        if (trained == 0).any():
            break
    else:
        pytest.fail("no training batch was masked in 20 epochs")
    assert torch.equal(predicted, torch.ones(4, 3, 8, 8))


# --------------------------------------------------------------------------- word-length time crops

def test_a_crop_keeps_the_stated_columns_stretched_to_the_width_and_nothing_else():
    columns = torch.arange(16, dtype=torch.float32).expand(2, 3, 4, 16).clone()   # each column holds its index
    out = TimeCrop(probability=1.0).apply(columns, CropParams(start=np.array([4, 0]), width=np.array([8, 0])))
    # image 0: columns 4..11 resized to 16 (bilinear: each kept column twice, edges clamped)
    expected = torch.nn.functional.interpolate(columns[:1, :, :, 4:12], size=(4, 16), mode="bilinear",
                                               align_corners=False)[0]
    assert torch.equal(out[0], expected)
    assert out[0].min() == 4 and out[0].max() == 11                 # nothing from outside the stretch
    assert torch.equal(out[0, :, 0], out[0, :, 3])                 # rows (frequencies) untouched
    assert torch.equal(out[1], columns[1])                          # width 0: kept whole
    assert torch.equal(columns[0, 0, 0], torch.arange(16, dtype=torch.float32))   # a copy


def test_drawn_crops_stay_in_their_fractions_follow_the_probability_and_are_seeded():
    crop = TimeCrop(probability=0.5, min_fraction=0.25, max_fraction=0.5)
    params = crop.draw(np.random.default_rng(0), batch=400, width=64)
    cropped = params.width > 0
    assert 150 < cropped.sum() < 250                                # about half
    assert params.width[cropped].min() >= 16 and params.width[cropped].max() <= 32
    assert (params.start + params.width <= 64).all()
    again = crop.draw(np.random.default_rng(0), batch=400, width=64)
    assert np.array_equal(params.start, again.start) and np.array_equal(params.width, again.width)
    for bad in ({"probability": 1.5}, {"min_fraction": 0.0}, {"min_fraction": 0.6, "max_fraction": 0.5}):
        with pytest.raises(ValueError, match="time crop"):
            TimeCrop(**bad)


def test_time_crops_are_off_unless_asked_for_and_reach_training_batches_only(tmp_path):
    assert time_crop_from_args(default_args(tmp_path)) is None
    assert time_crop_from_args(default_args(tmp_path, time_crop_prob=0.5)) == TimeCrop(probability=0.5)
    ramp = torch.arange(8, dtype=torch.float32).expand(4, 3, 8, 8).clone()
    trained, predicted = seen_in_training_and_prediction(ramp, np.random.default_rng(3),
                                                         time_crop=TimeCrop(probability=1.0))
    assert all(not torch.equal(trained[i], ramp[i]) for i in range(4))      # every training image cropped
    assert torch.equal(predicted, ramp)


# --------------------------------------------------------------------------- mean normalisation

def test_mean_normalisation_gives_zero_mean_per_band_of_each_utterance():
    db = np.random.default_rng(0).uniform(-80, 0, size=(16, 50)).astype(np.float32)
    normalised = mean_normalise(db)
    np.testing.assert_allclose(normalised.mean(axis=1), 0.0, atol=1e-4)
    # a fixed channel response (a constant dB offset per band) is gone after it
    channel = np.linspace(-12, 6, 16, dtype=np.float32)[:, None]
    cfg = SpectrogramConfig(mean_norm=True)
    np.testing.assert_allclose(db_levels(db + channel, cfg), db_levels(db, cfg), atol=1e-5)
    assert not np.allclose(db_levels(db + channel, SpectrogramConfig()), db_levels(db, SpectrogramConfig()))


def test_mean_normalised_images_differ_and_the_setting_is_recorded_for_predict():
    t = np.arange(16000) / 16000
    signal = (np.sin(2 * np.pi * 440 * t) * np.linspace(0, 1, t.size)).astype(np.float32)
    plain = np.asarray(signal_to_image(signal, SpectrogramConfig(size=(32, 32))))
    normalised = np.asarray(signal_to_image(signal, SpectrogramConfig(size=(32, 32), mean_norm=True)))
    assert plain.shape == normalised.shape and not np.array_equal(plain, normalised)
    settings = _settings(SpectrogramConfig(size=(32, 32), mean_norm=True))
    assert settings["mean_norm"] is True
    assert spectrogram_config(settings).mean_norm is True           # what a checkpoint gives predict.py


def test_mean_normalisation_is_off_unless_asked_for(tmp_path):
    assert SpectrogramConfig().mean_norm is False
    spec = importlib.util.spec_from_file_location("preprocess_spectrograms", REPO_ROOT / "preprocess_spectrograms.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.parse_args([]).mean_norm is False and script.parse_args(["--mean_norm"]).mean_norm is True
    # images drawn before the setting existed count as drawn without it; drawing with it is refused
    import json

    from specct.core import paths

    folder = paths.img_dir(tmp_path, "X")
    folder.mkdir(parents=True)
    old = {k: v for k, v in _settings(SpectrogramConfig(size=(32, 32))).items() if k != "mean_norm"}
    (folder / "spectrogram.json").write_text(json.dumps(old))
    (folder / "a.png").write_bytes(b"")
    check_settings(tmp_path, "X", SpectrogramConfig(size=(32, 32)), overwrite=False)
    with pytest.raises(ValueError, match="mean_norm False -> True"):
        check_settings(tmp_path, "X", SpectrogramConfig(size=(32, 32), mean_norm=True), overwrite=False)


# --------------------------------------------------------------------------- padding short utterances

def tone(seconds: float, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def lit_columns(signal: np.ndarray, cfg: SpectrogramConfig) -> np.ndarray:
    """Indices of the image columns brighter than mid-scale somewhere (palette index > 127)."""
    index = np.asarray(mel_to_image(mel_power(signal, cfg), cfg, palette=True))
    return np.flatnonzero(index.max(axis=0) > 127)


def test_padding_gives_short_utterances_one_time_scale_centred_in_silence():
    cfg = SpectrogramConfig(size=(32, 64), min_seconds=2.0)
    half, one = lit_columns(tone(0.5), cfg), lit_columns(tone(1.0), cfg)
    # a second spans about a half of the width (64 px for 2 s), whatever the utterance's length
    assert abs(half.size - 16) <= 2 and abs(one.size - 32) <= 2
    for lit in (half, one):
        assert np.array_equal(lit, np.arange(lit[0], lit[-1] + 1))            # one block ...
        assert abs((lit[0] + lit[-1]) / 2 - 31.5) <= 1.0                     # ... in the middle
    index = np.asarray(mel_to_image(mel_power(tone(0.5), cfg), cfg, palette=True))
    assert (index[:, : half[0] - 2] == 0).all() and (index[:, half[-1] + 3:] == 0).all()  # silence: darkest
    # without the setting every utterance fills the width
    plain = SpectrogramConfig(size=(32, 64))
    assert lit_columns(tone(0.5), plain).size == lit_columns(tone(1.0), plain).size == 64


def test_padding_leaves_longer_utterances_and_mean_normalised_speech_as_they_were():
    long = tone(2.5)
    for mean_norm in (False, True):
        padded = SpectrogramConfig(size=(32, 64), min_seconds=2.0, mean_norm=mean_norm)
        plain = SpectrogramConfig(size=(32, 64), mean_norm=mean_norm)
        assert np.array_equal(np.asarray(signal_to_image(long, padded)), np.asarray(signal_to_image(long, plain)))
    # with mean normalisation the band means come from the speech alone (a steady tone sits mid-scale)
    # and the padding is still silence, the darkest colour
    cfg = SpectrogramConfig(size=(32, 64), min_seconds=2.0, mean_norm=True)
    index = np.asarray(mel_to_image(mel_power(tone(0.5), cfg), cfg, palette=True))
    speech = np.flatnonzero(index.max(axis=0) > 0)
    assert abs(speech.size - 16) <= 3 and 110 <= np.median(index[:, speech[2:-2]]) <= 145


def test_padding_is_off_unless_asked_for_and_recorded_for_predict():
    assert SpectrogramConfig().min_seconds is None
    spec = importlib.util.spec_from_file_location("preprocess_spectrograms", REPO_ROOT / "preprocess_spectrograms.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.parse_args([]).min_seconds is None
    assert script.parse_args(["--min_seconds", "3"]).min_seconds == 3.0
    settings = _settings(SpectrogramConfig(size=(32, 32), min_seconds=3.0))
    assert spectrogram_config(settings).min_seconds == 3.0           # what a checkpoint gives predict.py
    for bad in (0.0, -1.0):
        with pytest.raises(InputError, match="min_seconds must be positive"):
            SpectrogramConfig(min_seconds=bad)


# --------------------------------------------------------------------------- speaker-vector standardisation

@pytest.mark.parametrize("by", ["corpus", "speaker"])
def test_standardisation_gives_zero_mean_per_group(by):
    rng = np.random.default_rng(0)
    groups = np.repeat(["A-1", "A-2", "B-1"], [5, 7, 4]) if by == "speaker" else np.repeat(["A", "B"], [12, 4])
    offsets = {g: rng.normal(0, 3, 8) for g in set(groups)}
    vectors = np.stack([offsets[g] + rng.normal(0, 1, 8) for g in groups]).astype(np.float32)
    out = standardise_by_group(vectors, groups)
    for g in set(groups):
        np.testing.assert_allclose(out[groups == g].mean(axis=0), 0.0, atol=1e-5)
        np.testing.assert_allclose(out[groups == g].std(axis=0), 1.0, atol=1e-4)


def test_standardisation_counts_a_shared_vector_once():
    vectors = np.array([[0.0], [0.0], [0.0], [4.0]], dtype=np.float32)     # an utterance and its 2 augmented copies
    out = standardise_by_group(vectors, ["A"] * 4, keys=["u1", "u1", "u1", "u2"])
    np.testing.assert_allclose(out[:, 0], [-1, -1, -1, 1])                # mean 2, std 2 over the two wavs


def test_speaker_norm_is_off_unless_asked_for_and_says_it_is_transductive(tmp_path):
    from specct.train.loop import transductive_note

    args = default_args(tmp_path)
    assert args.speaker_norm == "none" and transductive_note(args) == {}
    note = transductive_note(default_args(tmp_path, speaker_norm="speaker"))
    assert "unlabelled" in note["transductive"] and "speaker" in note["transductive"]


def test_smoothing_and_mixup_are_off_by_default(tmp_path):
    args = default_args(tmp_path)
    assert args.smoothing == 0.0 and args.mixup == 0.0


@pytest.mark.slow
def test_speaker_norm_run_says_transductive_in_every_output(demo_split, tmp_path):
    import yaml
    from training_fixtures import tiny_args

    from specct.stages.evaluate import evaluate
    from specct.stages.predict import Predictor, SpeakerNormError
    from specct.train import train

    out = tmp_path / "run"
    train(tiny_args(demo_split.train_dir, out, epochs=1, max_steps=1, speaker_norm="corpus"))
    recorded = yaml.safe_load((out / "args.yaml").read_text())
    assert recorded["speaker_norm"] == "corpus" and "unlabelled" in recorded["transductive"]
    result = evaluate(out, output=tmp_path / "test", bootstrap=10, progress=False)
    assert "unlabelled" in result.performance["transductive"]
    with pytest.raises(SpeakerNormError, match="--speaker_norm corpus"):
        Predictor(out)
