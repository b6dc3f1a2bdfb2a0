"""The cnn_lstm family's own behaviour (the checks every family passes: test_model_families.py)."""
from __future__ import annotations

from model_checks import check_speaker_fusion

CPU_SIZED = "cnn_lstm_tiny_112"


def test_mean_pooled_head_and_concatenation():
    import torch

    from specct.models.factory import create_model
    model = create_model(CPU_SIZED, num_classes=3, global_pool="avg")
    assert model(torch.randn(1, 3, 112, 112)).shape == (1, 3)
    check_speaker_fusion(CPU_SIZED, fusion="concat")
