"""The dcnn_blstm_attn family's own behaviour (the checks every family passes:
test_model_families.py): its segments, and torchvision's AlexNet weights loaded offline (a state
dict with torchvision's key names, made here; nothing is downloaded)."""
from __future__ import annotations

import pytest
import timm
import torch
from model_checks import check_training

from specct.models.cct import summarise_keys
from specct.models.dcnn_blstm_attn import ALEXNET_URL, segment_starts

CPU_SIZED = "dcnn_blstm_attn_tiny_112"


def torchvision_alexnet_file(tmp_path, name: str = "alexnet.pth"):
    from torchvision.models import alexnet

    torch.manual_seed(1)
    state = alexnet(weights=None).state_dict()   # torchvision's own key names, random values
    path = tmp_path / name
    torch.save(state, path)
    return path, state


def test_the_cpu_sized_model_reads_six_segments():
    assert timm.create_model(CPU_SIZED, num_classes=4).num_segments == 6


def test_segments_cover_the_whole_time_axis():
    assert segment_starts(224, 64, 32) == [0, 32, 64, 96, 128, 160]
    assert segment_starts(100, 32, 30) == [0, 30, 60, 68]
    with pytest.raises(ValueError, match="do not fit"):
        segment_starts(20, 32, 16)


def test_torchvision_alexnet_weights_load_offline_from_a_file(tmp_path):
    path, alexnet = torchvision_alexnet_file(tmp_path)
    # With fc6/fc7 (the published segment embedding): torchvision's classifier.1/.4 fill them.
    model = timm.create_model(CPU_SIZED, pretrained=True, num_classes=4, fc_dims=(4096, 4096),
                              pretrained_cfg_overlay=dict(file=str(path)))
    state = model.state_dict()
    for key in [k for k in alexnet if k.startswith("features.")]:
        assert torch.equal(state[key], alexnet[key]), key
    assert torch.equal(state["segment_fc.1.weight"], alexnet["classifier.1.weight"])
    assert torch.equal(state["segment_fc.4.bias"], alexnet["classifier.4.bias"])
    report = model.pretrained_report
    assert summarise_keys(report["unused"]) == "classifier.6"
    assert summarise_keys(report["left_random"]) == "lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0, " \
        "lstm.bias_hh_l0, lstm.weight_ih_l0_reverse, lstm.weight_hh_l0_reverse, lstm.bias_ih_l0_reverse, " \
        "lstm.bias_hh_l0_reverse, attention_pool.proj, attention_pool.score, head"
    # The CPU-sized model reads the conv features only; the speaker model's DCNN loads the same way.
    speaker = timm.create_model("speaker_" + CPU_SIZED, pretrained=True, num_classes=4,
                                pretrained_cfg_overlay=dict(file=str(path)))
    assert torch.equal(speaker.backbone.features[0].weight, alexnet["features.0.weight"])


def test_pretrained_true_finds_torchvisions_file_in_the_hub_cache(tmp_path, monkeypatch):
    cache = tmp_path / "torch_home" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    _, alexnet = torchvision_alexnet_file(cache, ALEXNET_URL.rsplit("/", 1)[-1])
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    model = timm.create_model(CPU_SIZED, pretrained=True, num_classes=4)
    assert torch.equal(model.features[10].weight, alexnet["features.10.weight"])


def test_a_checkpoint_without_the_alexnet_features_is_refused(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save({"classifier.6.weight": torch.zeros(1000, 4096)}, path)
    with pytest.raises(RuntimeError, match="lacks .* AlexNet weights"):
        timm.create_model(CPU_SIZED, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))


def test_trains_from_an_offline_alexnet_file(demo_split, tmp_path):
    path, alexnet = torchvision_alexnet_file(tmp_path)
    out = check_training(CPU_SIZED, demo_split, tmp_path, "--pretrained-path", str(path), "--lr", "0",
                         "--warmup-lr", "0", "--min-lr", "0")
    from specct.core.checkpoint import load_checkpoint
    weights = load_checkpoint(out / "last.pth.tar")["state_dict"]
    assert torch.equal(weights["features.3.weight"], alexnet["features.3.weight"])
