"""Where the model looks: Grad-CAM maps of a model that tells two classes apart by frequency band
peak in each class's own band; the command draws them from a saved model and a split CSV."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from specct.stages.saliency import class_saliency, grad_cam, target_layer

SIZE = 32


def band_images(n: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """Class 0: energy in the low bands (the image's bottom rows); class 1: in the high bands (top
    rows); each a random patch of time inside its band, over faint noise."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0.0, 0.1, size=(n, 3, SIZE, SIZE)).astype(np.float32)
    targets = np.arange(n) % 2
    for i, target in enumerate(targets):
        rows = slice(22, 30) if target == 0 else slice(2, 10)
        start = int(rng.integers(0, SIZE // 2))
        images[i, :, rows, start:start + SIZE // 2] += 2.0
    return torch.from_numpy(images), targets


@pytest.fixture(scope="module")
def band_model():
    """A two-layer CCT (3x3 tokenizer, 8x8 token grid) trained for a few epochs on the two bands."""
    from specct.models.factory import create_model

    torch.manual_seed(0)
    model = create_model("cct_2_3x2_32", num_classes=2)
    images, targets = band_images(64, seed=0)
    labels = torch.from_numpy(targets)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    for _ in range(6):
        for start in range(0, len(labels), 16):
            loss = torch.nn.functional.cross_entropy(model(images[start:start + 16]), labels[start:start + 16])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    model.eval()
    test_images, test_targets = band_images(32, seed=1)
    with torch.no_grad():
        accuracy = float((model(test_images).argmax(1).numpy() == test_targets).mean())
    assert accuracy == 1.0, f"the band model did not learn the bands (test accuracy {accuracy})"
    return model, test_images, test_targets


def test_each_class_map_peaks_in_its_own_band(band_model):
    model, images, targets = band_model
    assert target_layer(model) is model.tokenizer.conv_layers       # the tokenizer's output map
    result = class_saliency(model, images, targets, ["low", "high"])
    assert result.rows == {"low": 16, "high": 16}
    low, high = result.maps["low"], result.maps["high"]
    assert low.shape == high.shape == (SIZE, SIZE)
    assert low.min() >= 0 and low.max() <= 1
    # the energy of class "low" lies in rows 22-29 (bottom), of "high" in rows 2-9 (top)
    assert low[SIZE // 2:].mean() > 2 * low[:SIZE // 2].mean()
    assert high[:SIZE // 2].mean() > 2 * high[SIZE // 2:].mean()
    assert result.peak_row("low") >= SIZE // 2 > result.peak_row("high")


def test_grad_cam_of_the_other_class_is_a_different_map(band_model):
    model, images, targets = band_model
    own = grad_cam(model, images[:4], targets[:4])
    other = grad_cam(model, images[:4], 1 - targets[:4])
    assert own.shape == (4, SIZE, SIZE) and not np.allclose(own, other)


def test_a_model_without_a_convolution_is_a_one_line_error():
    from specct.core.errors import InputError

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * SIZE * SIZE, 2))
    with pytest.raises(InputError, match="no convolutional map"):
        grad_cam(model, torch.zeros(1, 3, SIZE, SIZE), [0])


def test_the_command_draws_the_saliency_of_a_saved_run(trained_run, demo_split, tmp_path, capsys):
    from script_helpers import load_script

    out = tmp_path / "saliency.png"
    assert load_script("saliency").main([str(trained_run), "--data_test_path", str(demo_split.test_csv),
                                         "--output", str(out), "--max_rows", "2", "--paper"]) == 0
    assert f"saliency: {out}" in capsys.readouterr().out
    with Image.open(out) as image:
        assert image.size[0] > 300 and image.info["dpi"][0] == pytest.approx(300, abs=1)
    assert out.with_suffix(".svg").is_file()
    # the subcommand is the same function
    from specct import commands

    assert commands.resolve("saliency") is load_script("saliency").main


def test_the_command_refuses_a_baseline_folder_in_one_line(tmp_path, capsys):
    from specct.stages.saliency import main

    with pytest.raises(SystemExit) as stop:
        main([str(tmp_path / "missing")])
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing" in err[0] and "no such model folder" in err[0]
