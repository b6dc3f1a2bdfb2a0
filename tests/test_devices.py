"""The torch device a run uses, chosen in one place (specct.core.devices): ``auto`` falls back to the CPU,
a GPU asked for on a machine without one is one line before any work starts, for the image networks'
training (and, in test_whisper_finetune.py, the Whisper kinds')."""
from __future__ import annotations

import pytest

from specct.core.devices import torch_device
from specct.core.errors import InputError

torch = pytest.importorskip("torch")
NO_GPU = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU: a run on it is no error")


def test_auto_is_a_gpu_where_torch_sees_one_else_the_cpu():
    assert torch_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert torch_device(None) == torch_device("auto") and torch_device("cpu") == torch.device("cpu")


def test_a_name_that_is_no_device_is_one_line():
    with pytest.raises(InputError, match=r"^--device 'gpu0': expected auto, cpu, cuda or cuda:N$"):
        torch_device("gpu0")


@NO_GPU
@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_a_gpu_asked_for_without_one_is_one_line(name):
    with pytest.raises(InputError, match=rf"^--device {name} asked for, but torch sees no CUDA device here"):
        torch_device(name)


@NO_GPU
def test_a_network_on_a_missing_gpu_stops_before_any_work(demo_split, tmp_path):
    from specct.train import default_args, train

    args = default_args(demo_split.train_dir, model="cct_7_7x2_112", epochs=1, device="cuda", no_progress=True,
                        experiment=str(tmp_path / "run"), input_size=[3, 32, 32])
    with pytest.raises(InputError, match="--device cuda asked for"):
        train(args)
    assert not (tmp_path / "run").exists()
