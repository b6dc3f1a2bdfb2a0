"""The cnn_lstm family: forward and backward, checkpoints, ONNX, speaker fusion, a training run."""
from __future__ import annotations

import pytest
from model_checks import (
    check_checkpoint_roundtrip, check_forward_backward, check_onnx_export, check_speaker_fusion, check_training,
)

CPU_SIZED = "cnn_lstm_tiny_112"


def test_forward_and_backward_at_the_registered_size():
    check_forward_backward(CPU_SIZED)


@pytest.mark.slow
def test_paper_sized_forward_and_backward():
    check_forward_backward("cnn_lstm_224")


def test_checkpoint_recreated_from_its_cfg_gives_the_same_outputs_and_exports_to_onnx(tmp_path):
    check_onnx_export(check_checkpoint_roundtrip(CPU_SIZED, tmp_path), tmp_path)


def test_speaker_model_depends_on_the_speaker_vector(tmp_path):
    check_speaker_fusion(CPU_SIZED)
    check_onnx_export(check_checkpoint_roundtrip("speaker_" + CPU_SIZED, tmp_path, speaker_dim=8,
                                                 speaker_raw_dim=256), tmp_path)


def test_trains_evaluates_and_predicts_on_the_demo_split(demo_split, tmp_path):
    check_training(CPU_SIZED, demo_split, tmp_path)


def test_mean_pooled_head_and_concatenation():
    import torch

    from specct.models.factory import create_model
    model = create_model(CPU_SIZED, num_classes=3, global_pool="avg")
    assert model(torch.randn(1, 3, 112, 112)).shape == (1, 3)
    check_speaker_fusion(CPU_SIZED, fusion="concat")
