"""What every new network family must do, family by family: forward and backward at its registered
sizes, a checkpoint recreated from its cfg (and exported to ONNX), a speaker model that depends on
the speaker vector, and a training run on the demo split. Each family's own behaviour is tested in
its own file."""
from __future__ import annotations

import pytest
from model_checks import (
    check_checkpoint_roundtrip, check_forward_backward, check_onnx_export, check_speaker_fusion, check_training,
)

from specct import models

# The families beside the paper's CCTs (which test_models.py covers): a new one is checked here as
# soon as it is listed, through its registered <family>_tiny_112 and <family>_224 models.
FAMILIES = [family for family in models.FAMILIES if not family.endswith("cct")]


def cpu_sized(family: str) -> str:
    return f"{family}_tiny_112"


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_and_backward_at_the_registered_size(family):
    check_forward_backward(cpu_sized(family))


@pytest.mark.slow
@pytest.mark.parametrize("family", FAMILIES)
def test_paper_sized_forward_and_backward(family):
    check_forward_backward(f"{family}_224")


@pytest.mark.parametrize("family", FAMILIES)
def test_checkpoint_recreated_from_its_cfg_gives_the_same_outputs_and_exports_to_onnx(family, tmp_path):
    check_onnx_export(check_checkpoint_roundtrip(cpu_sized(family), tmp_path), tmp_path)


@pytest.mark.parametrize("family", FAMILIES)
def test_speaker_model_depends_on_the_speaker_vector(family, tmp_path):
    check_speaker_fusion(cpu_sized(family))
    check_onnx_export(check_checkpoint_roundtrip("speaker_" + cpu_sized(family), tmp_path, speaker_dim=8,
                                                 speaker_raw_dim=256), tmp_path)


@pytest.mark.parametrize("family", FAMILIES)
def test_trains_evaluates_and_predicts_on_the_demo_split(family, demo_split, tmp_path):
    check_training(cpu_sized(family), demo_split, tmp_path)
