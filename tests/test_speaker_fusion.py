"""Speaker fusion for any image model, the model factory, and checkpoints written before them."""
from __future__ import annotations

import pytest
import timm
import torch
from model_checks import CLASSES, check_speaker_fusion, check_training, inputs_for

from specct.core.checkpoint import load_checkpoint, save_checkpoint
from specct.core.errors import InputError
from specct.models import SPEAKER_FUSIONS, SpeakerModel
from specct.models.factory import (
    accepted_kwargs, create_for_training, create_model, model_traits, takes_speaker, wrapped_name,
)


def test_the_model_states_whether_it_takes_a_speaker_vector():
    assert model_traits("speaker_vgg_cct_7_7x2_112").takes_speaker
    assert model_traits("speaker_cnn_lstm_tiny_112").takes_speaker
    assert model_traits("speaker_resnet18").takes_speaker
    assert not model_traits("cct_7_7x2_112").takes_speaker
    assert not model_traits("resnet18").takes_speaker


def test_any_timm_model_is_wrapped_by_the_name_pattern():
    assert wrapped_name("speaker_resnet18") == "resnet18"
    assert wrapped_name("speaker_cct_7_7x2_112") is None, "a registered speaker name wins"
    assert wrapped_name("resnet18") is None
    for fusion in SPEAKER_FUSIONS:
        check_speaker_fusion("resnet18", fusion)
    model = create_model("speaker_resnet18", num_classes=4, fusion="concat")
    assert isinstance(model, SpeakerModel) and model.get_classifier().in_features == 2 * 512
    with pytest.raises(InputError, match="unknown model 'speaker_nope'"):
        create_model("speaker_nope")


def test_training_passes_only_the_arguments_a_model_accepts():
    model, kwargs, ignored = create_for_training("resnet18", 4, img_size=(64, 96), drop_rate=0.2)
    assert ignored == ["img_size"] and kwargs == {"num_classes": 4, "drop_rate": 0.2}
    assert model(torch.randn(1, 3, 64, 96)).shape == (1, 4)
    model, kwargs, ignored = create_for_training("cnn_lstm_tiny_112", 4, img_size=(64, 64), drop_path_rate=0.1)
    assert ignored == ["drop_path_rate"] and kwargs["img_size"] == [64, 64] and model.img_size == (64, 64)
    # the speaker wrapper takes its backbone's arguments too
    assert {"img_size", "fusion", "speaker_raw_dim"} <= accepted_kwargs(create_model("speaker_cnn_lstm_tiny_112"))


def test_old_speaker_cct_checkpoint_still_loads_and_predicts_the_same(tmp_path):
    """A checkpoint as training wrote it before the factory: `speaker_model` flag, an int img_size."""
    from specct.stages.predict import Predictor

    torch.manual_seed(0)
    kwargs = {"num_classes": 4, "img_size": 32, "speaker_dim": 8, "speaker_raw_dim": 256, "depth": 2,
              "embed_dim": 64, "num_heads": 2}
    model = timm.create_model("speaker_vgg_cct_7_7x2_112", **kwargs).eval()
    model.attach_speaker_pca(torch.randn(256), torch.randn(8, 256))
    path = tmp_path / "model_best.pth.tar"
    save_checkpoint(path, {"model_name": "speaker_vgg_cct_7_7x2_112", "model_kwargs": kwargs, "class_names": CLASSES,
                           "data_config": {"input_size": [3, 32, 32], "mean": [0.485, 0.456, 0.406],
                                           "std": [0.229, 0.224, 0.225], "interpolation": "bilinear"},
                           "spectrogram": None, "speaker_model": True, "epoch": 3, "state_dict": model.state_dict()})
    assert "takes_speaker" not in load_checkpoint(path)
    predictor = Predictor(path)
    assert predictor.speaker_model
    image, speaker = inputs_for(model, batch=3)
    with torch.no_grad():
        expected = torch.softmax(model((image, speaker)), dim=-1).numpy()
    got, _ = predictor.classify(list(zip(image, speaker)))
    assert (got == expected).all()


def test_a_checkpoint_whose_speaker_flag_contradicts_its_model_is_refused(tmp_path):
    from specct.core.checkpoint import CheckpointError
    from specct.models.factory import model_from_checkpoint

    model = create_model("cnn_lstm_tiny_112", num_classes=4)
    state = {"model_name": "cnn_lstm_tiny_112", "model_kwargs": {"num_classes": 4}, "takes_speaker": True,
             "state_dict": model.state_dict()}
    with pytest.raises(CheckpointError, match="takes_speaker"):
        model_from_checkpoint(state)
    assert not takes_speaker(model_from_checkpoint({**state, "takes_speaker": False}))


def test_a_wrapped_timm_model_trains_evaluates_and_predicts(demo_split, tmp_path):
    check_training("speaker_resnet18", demo_split, tmp_path, "--model-kwargs", "fusion=concat")
