"""Prediction from a saved model alone: the training chain in memory, real wavs, bad audio, formats, ONNX."""
from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from specct.audio.loading import load_trimmed
from specct.core.checkpoint import CheckpointError
from specct.data.split_rows import image_to_tensor
from specct.core.errors import InputError
from specct.stages.predict import Predictor, collect_audio_files, format_predictions
from specct.stages.predict import main as predict_main
from specct.data.speaker import embeddings_for_wavs

CLASSES = ["anger", "happy", "neutral", "sad"]


@pytest.fixture(scope="module")
def predictor(trained_run) -> Predictor:
    return Predictor(trained_run)


def test_predicts_real_emodb_wavs(predictor, emodb_source):
    wavs = sorted(emodb_source.glob("*.wav"))[:4]
    results = predictor.predict_files(wavs, progress=False)
    assert [r.file for r in results] == [str(w) for w in wavs]
    for result in results:
        assert result.error is None
        assert list(result.probabilities) == CLASSES
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert all(0.0 <= p <= 1.0 for p in result.probabilities.values())
        assert result.emotion == max(result.probabilities, key=result.probabilities.get)


def test_prediction_sees_what_training_saw(predictor, demo_split):
    """The in-memory image and speaker vector of a wav equal the saved image and the stored vector."""
    row = pd.read_csv(demo_split.test_csv).iloc[0]
    signal = load_trimmed(row["wav"])
    image, vector = predictor.inputs_of_signal(signal)
    from PIL import Image

    dcfg = predictor.data_config
    with Image.open(row["image"]) as saved:
        saved_tensor = image_to_tensor(saved, dcfg["input_size"], dcfg["mean"], dcfg["std"])
    assert torch.allclose(image, saved_tensor, atol=1e-5)
    stored = embeddings_for_wavs([row["wav"]])[0]
    np.testing.assert_allclose(vector.numpy(), stored, atol=1e-4)


def test_bad_audio_gets_a_reason_and_the_rest_go_on(predictor, demo_split, tmp_path):
    good = sorted(demo_split.datasets.glob("DEMOC/DEMOC_wav/*.wav"))[0]
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    short = tmp_path / "short.wav"
    sf.write(short, 0.5 * np.sin(np.arange(400) / 5.0), 16000)   # 25 ms
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all" * 100)
    lines = []
    results = predictor.predict_files([empty, good, short, tmp_path / "missing.wav", garbage], progress=False,
                                      echo=lines.append)
    assert [r.error is None for r in results] == [False, True, False, False, False]
    assert "empty" in results[0].error and "too short" in results[2].error
    assert "does not exist" in results[3].error and "unreadable" in results[4].error
    assert all("\n" not in r.error for r in results if r.error)
    assert len(lines) == 4 and lines[0].startswith(f"skip {empty}")


def test_output_formats(predictor, demo_split):
    wavs = collect_audio_files([demo_split.datasets / "DEMOC" / "DEMOC_wav"])[:2]
    results = predictor.predict_files(wavs, progress=False)
    rows = list(csv.DictReader(io.StringIO(format_predictions(results, CLASSES, "csv"))))
    assert [r["file"] for r in rows] == [str(w) for w in wavs]
    assert sum(float(rows[0][c]) for c in CLASSES) == pytest.approx(1.0, abs=1e-3)
    parsed = json.loads(format_predictions(results, CLASSES, "json"))
    assert parsed[1]["emotion"] in CLASSES and parsed[1]["error"] is None
    table = format_predictions(results, CLASSES, "table").splitlines()
    assert table[0].split()[:2] == ["file", "emotion"] and len(table) == 3


def test_command_line_on_a_folder(trained_run, demo_split, capsys):
    folder = demo_split.datasets / "DEMOA" / "DEMOA_wav"
    assert predict_main([str(folder), "--model_dir", str(trained_run), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == len(list(folder.glob("*.wav")))
    assert {r["emotion"] for r in rows} <= set(CLASSES)


def test_missing_or_corrupt_model(tmp_path, trained_run):
    with pytest.raises(CheckpointError, match="not found"):
        Predictor(tmp_path)
    bad = tmp_path / "bad.pth.tar"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="corrupt"):
        Predictor(bad)


def test_onnx_export_matches_torch(predictor, tmp_path):
    pytest.importorskip("onnx", reason="onnx not installed (pip install 'specct[onnx]')")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'specct[onnx]')")
    path = predictor.export_onnx(tmp_path / "model.onnx")
    assert not predictor.model.training, "exporting must leave the model in eval mode"
    _, h, w = predictor.data_config["input_size"]
    image = torch.randn(2, 3, h, w)
    speaker = torch.nn.functional.normalize(torch.randn(2, 256), dim=1)
    with torch.no_grad():
        expected = predictor.model((image, speaker)).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": image.numpy(), "speaker": speaker.numpy()})[0]
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-3)


def test_onnx_export_without_onnx_says_how_to_install(predictor, tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx":
            raise ImportError("no onnx")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(InputError, match=r"specct\[onnx\]"):
        predictor.export_onnx(tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


@pytest.mark.parametrize("flag, expected", [([], 2), (["--threads", "3"], 3)])
def test_prediction_runs_with_the_default_threads_unless_threads_is_given(flag, expected, monkeypatch):
    """predict.py runs torch on default_threads() (4 cores -> 2) unless --threads says otherwise,
    and leaves torch's own setting as it was."""
    from specct.stages import predict
    from specct.core import threads

    monkeypatch.setattr(threads, "available_cores", lambda: 4)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    seen = []
    monkeypatch.setattr(predict, "_classify", lambda args: seen.append(torch.get_num_threads()) or 0)
    before = torch.get_num_threads()
    assert predict_main(["a.wav", "--model_dir", "run", *flag]) == 0
    assert seen == [expected] and torch.get_num_threads() == before


def test_files_get_their_inputs_a_group_at_a_time(trained_run, demo_split):
    """predict_files makes the inputs of several files together (one pass of the speaker encoder) and
    gives what one file at a time gives; a group never holds more than its size."""
    wavs = sorted(demo_split.datasets.glob("DEMOC/DEMOC_wav/*.wav"))[:7]
    found = {}
    for group in (3, 1):
        predictor = Predictor(trained_run)
        sizes = []
        made = predictor.inputs_of_signals
        predictor.inputs_of_signals = lambda signals: sizes.append(len(signals)) or made(signals)
        predictor.input_group = group
        found[group] = (predictor.predict_files(wavs, batch_size=4, progress=False, echo=None), sizes)
    (grouped, grouped_sizes), (single, single_sizes) = found[3], found[1]
    assert sum(grouped_sizes) == sum(single_sizes) == len(wavs)
    assert max(grouped_sizes) == 3 and set(single_sizes) == {1}
    for a, b in zip(grouped, single):
        assert a.file == b.file and a.emotion == b.emotion
        assert all(abs(a.probabilities[c] - b.probabilities[c]) < 1e-4 for c in CLASSES)
