"""Checks the trained-system tests share: predict.py on held-out audio answers as eval.py did on the
cached rows, ``--segment vad`` gives a timeline of a longer recording, and a system runs in a two-seed
study beside egemaps_svm."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml


def predict_agrees_with_eval(out_dir: Path, test_dir: Path, capsys, atol: float) -> list[Path]:
    """predict.py on the first four wavs of eval's predictions.csv: the same classes, each probability
    within ``atol``; returns those wavs."""
    from specct.stages.predict import main as predict_main

    predictions = pd.read_csv(Path(test_dir) / "predictions.csv")
    wavs = [Path(w) for w in predictions["wav"].iloc[:4]]
    capsys.readouterr()
    assert predict_main([*map(str, wavs), "--model_dir", str(out_dir), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["emotion"] for r in rows] == list(predictions["prediction"].iloc[:4])
    columns = [c for c in predictions.columns if c.startswith("prob_")]
    again = np.array([[r["probabilities"][c[5:]] for c in columns] for r in rows], dtype=np.float64)
    np.testing.assert_allclose(again, predictions[columns].iloc[:4].to_numpy(dtype=np.float64), atol=atol)
    return wavs


def vad_timeline(out_dir: Path, wavs: list[Path], folder: Path, capsys, class_names) -> dict:
    """predict.py --segment vad on three clips end to end and half a second of silence: segments found,
    no error, each emotion one of ``class_names``; returns the timeline."""
    from specct.audio import loading as audio
    from specct.stages.predict import main as predict_main

    long_wav = Path(folder) / "long.wav"
    signal = np.concatenate([audio.load_trimmed(w) for w in wavs[:3]] + [np.zeros(8000, np.float32)])
    audio.write_wav(long_wav, signal, audio.DEFAULT_SR)
    capsys.readouterr()
    assert predict_main([str(long_wav), "--model_dir", str(out_dir), "--segment", "vad", "--format", "json"]) == 0
    timeline = json.loads(capsys.readouterr().out)
    assert timeline["segments"] and timeline["files"][0]["error"] == ""
    assert {segment["emotion"] for segment in timeline["segments"]} <= set(class_names)
    return timeline


def two_seed_study_rows(tmp_path: Path, system: dict) -> pd.DataFrame:
    """``specct run`` of a study file with ``system`` beside egemaps_svm, seeds 0 and 1, on the demo
    corpora; the system's rows of results.csv, one per held-out corpus (the mean left out)."""
    from specct.study import engine as study

    content = {"name": system["name"].replace("_", "-"), "corpora": {"DEMOA": "demo", "DEMOB": "demo", "DEMOC": "demo"},
               "demo": {"speakers": 3, "sentences": 2}, "num_classes": 4, "spectrogram": {"size": 32},
               "speaker": {"n_components": 8}, "seed": 0, "seeds": [0, 1], "bootstrap": 50,
               "output": str(tmp_path / "output"), "datasets_dir": str(tmp_path / "datasets"),
               "systems": [{"name": "egemaps_svm", "model": "egemaps_svm"}, system], "reference": "egemaps_svm"}
    path = tmp_path / "study.yml"
    path.write_text(yaml.safe_dump(content, sort_keys=False))
    assert study.run_study(path, progress=False) is not None
    results = pd.read_csv(next((tmp_path / "output").rglob("results.csv")))
    return results[(results["system"] == system["name"]) & (results["held_out"] != "mean")]
