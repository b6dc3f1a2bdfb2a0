"""Checks every model family passes (imported by each family's test file): forward and backward
at the registered input size, a checkpoint re-created from its cfg, ONNX export, speaker fusion."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch

import specct.models  # noqa: F401  (registers the models)
from specct.core.checkpoint import load_checkpoint, save_checkpoint
from specct.models.factory import create_model, model_from_checkpoint, takes_speaker

CLASSES = ["anger", "happy", "neutral", "sad"]


def inputs_for(model: torch.nn.Module, batch: int = 2, seed: int = 0):
    """A batch at the model's input size; `(image, raw speaker vector)` for a speaker model."""
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, model.in_chans, *model.img_size, generator=generator)
    if takes_speaker(model):
        return image, torch.randn(batch, model.speaker_input_dim, generator=generator)
    return image


def check_forward_backward(name: str, num_classes: int = 4) -> torch.nn.Module:
    torch.manual_seed(0)
    model = create_model(name, num_classes=num_classes)
    assert model.pretrained_cfg["input_size"] == (3, *model.img_size)
    logits = model(inputs_for(model))
    assert logits.shape == (2, num_classes)
    logits.square().sum().backward()
    image_model = model.backbone if takes_speaker(model) else model
    first_conv = image_model.get_submodule(model.pretrained_cfg["first_conv"])
    assert first_conv.weight.grad is not None and first_conv.weight.grad.abs().sum() > 0
    assert model.get_classifier().weight.grad.abs().sum() > 0
    return model


def checkpoint_state(model: torch.nn.Module, name: str, kwargs: dict) -> dict:
    """What training writes for inference (the fields prediction reads)."""
    return {"model_name": name, "model_kwargs": kwargs, "class_names": CLASSES, "takes_speaker": takes_speaker(model),
            "data_config": {"input_size": [3, *model.img_size], "mean": [0.485, 0.456, 0.406],
                            "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"},
            "spectrogram": None, "state_dict": model.state_dict()}


def check_checkpoint_roundtrip(name: str, tmp_path: Path, **kwargs) -> Path:
    """A saved checkpoint re-created from its cfg (the factory) gives the same outputs; so does
    timm's own path from the weights file."""
    torch.manual_seed(0)
    kwargs = {"num_classes": 4, **kwargs}
    model = create_model(name, **kwargs).eval()
    if takes_speaker(model) and model.speaker_raw_dim is not None:
        model.attach_speaker_pca(torch.randn(model.speaker_raw_dim), torch.randn(model.speaker_dim,
                                                                                  model.speaker_raw_dim))
    path = tmp_path / f"{name}.pth.tar"
    save_checkpoint(path, checkpoint_state(model, name, kwargs))
    again = model_from_checkpoint(load_checkpoint(path))
    inputs = inputs_for(model, seed=3)
    with torch.no_grad():
        assert torch.equal(model(inputs), again(inputs))
    if not takes_speaker(model):
        weights = tmp_path / f"{name}.pth"
        torch.save(model.state_dict(), weights)
        overlay = dict(file=str(weights), num_classes=4)
        timm_again = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs).eval()
        with torch.no_grad():
            assert torch.equal(model(inputs), timm_again(inputs))
    return path


def check_onnx_export(checkpoint: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="onnx not installed (pip install 'specct[onnx]')")
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'specct[onnx]')")
    from specct.stages.predict import Predictor

    predictor = Predictor(checkpoint)
    path = predictor.export_onnx(tmp_path / "model.onnx")
    inputs = inputs_for(predictor.model, batch=3, seed=4)
    with torch.no_grad():
        expected = predictor.model(inputs).numpy()
    feeds = {"image": inputs[0].numpy(), "speaker": inputs[1].numpy()} if predictor.speaker_model \
        else {"image": inputs.numpy()}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, feeds)[0], expected, atol=1e-4, rtol=1e-3)


def check_speaker_fusion(plain_name: str, fusion: str = "second_transformer") -> None:
    """The `speaker_` model depends on the speaker vector; the plain one takes no speaker input."""
    torch.manual_seed(0)
    plain = create_model(plain_name, num_classes=4).eval()
    assert not takes_speaker(plain)
    assert not any(k.startswith("speaker_") for k in plain.state_dict())
    model = create_model("speaker_" + plain_name, num_classes=4, fusion=fusion, speaker_dim=8,
                         speaker_raw_dim=256).eval()
    assert takes_speaker(model) and model.fusion_kind == fusion
    image, speaker = inputs_for(model)
    with torch.no_grad():
        base = model((image, speaker))
        other = model((image, inputs_for(model, seed=5)[1]))
    assert base.shape == (2, 4)
    assert not torch.allclose(base, other, atol=1e-4)
    with pytest.raises(TypeError, match="one tuple"):
        model(image)


def check_training(name: str, demo_split, tmp_path: Path, *flags: str) -> Path:
    """train.py on the demo split (one epoch, one update) writes the standard files; eval.py and
    predict.py work on the folder. Each through its command-line entry point."""
    import csv
    import io
    from contextlib import redirect_stdout

    from specct.core.checkpoint import BEST_NAME, LAST_NAME
    from specct.stages.evaluate import PERFORMANCE_NAME, PREDICTIONS_NAME
    from specct.stages.evaluate import main as eval_main
    from specct.stages.predict import main as predict_main
    from specct.train import main as train_main

    out = tmp_path / "run"
    assert train_main([str(demo_split.train_dir), "--model", name, "--experiment", str(out), "--epochs", "1",
                       "--max-steps", "1", "--batch-size", "4", "--input-size", "3", "112", "112", "--lr", "1e-3",
                       "--warmup-epochs", "0", "--no-progress", "--workers", "0", *flags]) == 0
    for file in ("args.yaml", "summary.csv", "curves.png", BEST_NAME, LAST_NAME):
        assert (out / file).is_file(), file
    state = load_checkpoint(out / BEST_NAME)
    assert state["model_name"] == name and state["takes_speaker"] == takes_speaker(model_from_checkpoint(state))
    assert eval_main([str(out), "--output", str(tmp_path / "test"), "--bootstrap", "20"]) == 0
    for file in (PERFORMANCE_NAME, PREDICTIONS_NAME):
        assert (tmp_path / "test" / file).is_file(), file
    folder = demo_split.datasets / "DEMOA" / "DEMOA_wav"
    printed = io.StringIO()
    with redirect_stdout(printed):
        assert predict_main([str(folder), "--model_dir", str(out), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(printed.getvalue())))
    assert len(rows) == len(list(folder.glob("*.wav"))) and {r["emotion"] for r in rows} <= set(CLASSES)
    return out
