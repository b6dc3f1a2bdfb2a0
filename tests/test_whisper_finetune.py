"""whisper_finetune: Whisper's top encoder blocks and the whisper_head probe trained end to end on the cached
input of those blocks; the frozen blocks stay as they were, predict.py (frozen blocks, then the trained
ones) agrees with eval on the cache, a killed run resumes to the same model, and run_loco runs it with
seeds without training a finished job again.

The Whisper model is the tiny random one of test_whisper.py (2 encoder layers of 32 units, saved by
save_pretrained and converted to CTranslate2), on the demo corpora."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytest.importorskip("transformers", reason="Whisper features need the [ssl] extra")
from prediction_checks import predict_agrees_with_eval, two_seed_study_rows, vad_timeline  # noqa: E402
from test_whisper import tiny_whisper, whisper_cache  # noqa: E402,F401  (the fixtures, shared)

FLAGS = dict(lr=3e-3, epochs=4, batch_size=8, warmup_epochs=0, no_progress=True, head_hidden=16,
             precision="float32", finetune_blocks=1, seed=0)


def finetune_args(train_dir, source: str, out: Path, **changes):
    from specct.train import default_args

    return default_args(train_dir, model="whisper_finetune", features=source, experiment=str(out),
                        **{**FLAGS, **changes})


def original_encoder(tiny_whisper):
    from transformers import WhisperForConditionalGeneration

    return WhisperForConditionalGeneration.from_pretrained(str(tiny_whisper["hf"])).model.encoder.eval()


class Killed(Exception):
    pass


def kill_after(epoch: int):
    def on_epoch_end(done: int):
        if done == epoch:
            raise Killed(f"killed after epoch {done}")
    return on_epoch_end


# --------------------------------------------------------------------------- the model

def test_padding_frames_are_masked_and_the_blocks_start_from_the_encoder(tiny_whisper):
    import timm
    import torch

    from specct import models  # noqa: F401
    from specct.baselines.whisper import encoder_layers
    from specct.models.whisper_finetune import encoder_config_of

    encoder = original_encoder(tiny_whisper)
    torch.manual_seed(0)
    model = timm.create_model("whisper_finetune", num_classes=3, blocks=1, hidden=16,
                              encoder_config=encoder_config_of(encoder.config)).eval()
    model.load_encoder(encoder)
    # the trained part continues the encoder: its last state is the encoder's output
    mel = torch.randn(1, 80, 60)
    with torch.no_grad():
        states = encoder_layers(encoder, mel)                                   # (layers, 1, T, hidden)
    with torch.no_grad():
        mine = model.forward_states(states[1][:, :, None], torch.tensor([states.shape[2]]))
    np.testing.assert_allclose(mine[0, :, -1].numpy(), states[2, 0].numpy(), rtol=1e-4, atol=1e-4)
    # padding frames change nothing, in the blocks' attention as in the pooling
    clip = torch.randn(1, 20, 1, 32)
    with torch.no_grad():
        alone = model((clip, torch.tensor([20])))
        padded = torch.cat([clip, 50 * torch.randn(1, 9, 1, 32)], dim=1)
        np.testing.assert_allclose(model((padded, torch.tensor([20]))).numpy(), alone.numpy(), rtol=1e-4, atol=1e-5)
        assert not torch.allclose(model((padded, torch.tensor([29]))), alone, atol=1e-3)


# --------------------------------------------------------------------------- training, eval, predict, resume

def test_whisper_finetune_trains_the_top_block_only_and_predict_agrees_with_eval(demo_split, tiny_whisper, tmp_path,
                                                                                capsys):
    import torch

    from specct.audio import loading as audio
    from specct.baselines.features import parse_features
    from specct.baselines.whisper_frames import FrameSet, frames_for_wavs
    from specct.core.checkpoint import load_checkpoint
    from specct.stages.evaluate import evaluate
    from specct.systems import load
    from specct.train import train

    source = f"whisper:{tiny_whisper['float32']}"
    out_dir = train(finetune_args(demo_split.train_dir, source, tmp_path / "run"))
    summary = pd.read_csv(out_dir / "summary.csv")
    assert len(summary) == 4 and summary["train_loss"].iloc[-1] < summary["train_loss"].iloc[0]
    state = load_checkpoint(out_dir / "model_best.pth.tar")
    assert state["finished"] and state["epoch"] == int(summary.loc[summary["val_uar"].idxmax(), "epoch"])
    assert not (out_dir / "last.pth.tar").exists()                  # finished: the optimizer state is gone
    recorded = yaml.safe_load((out_dir / "args.yaml").read_text())
    assert recorded["frame_cache"] == "whisper_frames_ct2_float32_real_input_top1_pool1"

    # the cache holds the input of the top block (layer 1) at 50 Hz, the frozen encoder's own output
    encoder = original_encoder(tiny_whisper)
    frames = FrameSet(parse_features(source), pool=1, input_top=1)
    wav = Path(pd.read_csv(demo_split.train_dir / "train.csv")["wav"].iloc[0])
    [cached] = frames_for_wavs([wav], frames)
    trained = load(out_dir)
    extractor = trained.extractor
    states = extractor.audio_states([extractor.prepare(audio.load_trimmed(wav))])[0]   # (layers, T, hidden)
    assert cached.shape == (states.shape[1], 1, 32) and cached.dtype == np.float16
    np.testing.assert_allclose(cached[:, 0].astype(np.float32), states[1].numpy(), rtol=2e-3, atol=2e-3)

    # the top block (and the head) learnt; the frozen block below it is the original one
    weights = state["state_dict"]
    top = encoder.layers[1].state_dict()
    assert sorted({k.split(".")[0] for k in weights}) == ["blocks", "head", "norm"]
    assert len({k.split(".")[1] for k in weights if k.startswith("blocks.")}) == 1        # one block trained
    moved = [k for k, v in top.items() if not torch.allclose(weights[f"blocks.0.{k}"], v)]
    assert "fc1.weight" in moved and "self_attn.q_proj.weight" in moved
    for key, value in encoder.layers[0].state_dict().items():                             # frozen: unchanged
        assert torch.equal(extractor.encoder.layers[0].state_dict()[key], value), key
    assert torch.equal(extractor.encoder.conv1.weight, encoder.conv1.weight)

    # eval on the cache; predict.py on the audio (frozen block, then the trained one) gives the same answers
    result = evaluate(out_dir, output=tmp_path / "test", bootstrap=20, progress=False)
    assert result.performance["model"] == "whisper_finetune" and result.performance["finetune_blocks"] == 1
    # float16 cache against float32 states
    wavs = predict_agrees_with_eval(out_dir, tmp_path / "test", capsys, atol=5e-3)

    # --segment vad on a longer recording
    vad_timeline(out_dir, wavs, tmp_path, capsys, state["class_names"])


def test_a_killed_run_resumes_to_the_model_of_an_uninterrupted_one(demo_split, tiny_whisper, tmp_path, capsys):
    import torch

    from specct import systems
    from specct.core.checkpoint import load_checkpoint
    from specct.train import train

    source = f"whisper:{tiny_whisper['float32']}"
    whole = train(finetune_args(demo_split.train_dir, source, tmp_path / "whole"))
    expected = load_checkpoint(whole / "model_best.pth.tar")

    args = finetune_args(demo_split.train_dir, source, tmp_path / "killed")
    with pytest.raises(Killed):
        train(args, on_epoch_end=kill_after(2))
    out_dir = tmp_path / "killed"
    last = load_checkpoint(out_dir / "last.pth.tar")
    assert last["epoch"] == 2 and not systems.system_for_model("whisper_finetune").is_trained(out_dir, args)
    capsys.readouterr()
    assert systems.ensure_trained(finetune_args(demo_split.train_dir, source, out_dir)) == out_dir
    said = capsys.readouterr().out
    assert "resumed from" in said and "after epoch 2" in said and "epoch 1/4" not in said
    resumed = load_checkpoint(out_dir / "model_best.pth.tar")
    assert resumed["finished"] and resumed["epoch"] == expected["epoch"]
    assert all(torch.equal(resumed["state_dict"][k], v) for k, v in expected["state_dict"].items())
    pd.testing.assert_frame_equal(pd.read_csv(out_dir / "summary.csv").drop(columns="seconds"),
                                  pd.read_csv(whole / "summary.csv").drop(columns="seconds"))

    # a rerun of a finished run trains nothing
    written = (out_dir / "model_best.pth.tar").stat().st_mtime_ns
    capsys.readouterr()
    systems.ensure_trained(finetune_args(demo_split.train_dir, source, out_dir))
    assert "already trained" in capsys.readouterr().out
    assert (out_dir / "model_best.pth.tar").stat().st_mtime_ns == written

    # a damaged last.pth.tar: one line saying so, and a clean start to the same model
    broken = tmp_path / "broken"
    with pytest.raises(Killed):
        train(finetune_args(demo_split.train_dir, source, broken), on_epoch_end=kill_after(1))
    (broken / "last.pth.tar").write_bytes(b"cut short")
    capsys.readouterr()
    systems.ensure_trained(finetune_args(demo_split.train_dir, source, broken))
    said = capsys.readouterr().out
    assert "starting again" in said and "resumed from" not in said and "epoch 1/4" in said
    again = load_checkpoint(broken / "model_best.pth.tar")
    assert all(torch.equal(again["state_dict"][k], v) for k, v in expected["state_dict"].items())


def test_bfloat16_training_and_the_block_count_checked(demo_split, tiny_whisper, tmp_path):
    from specct.core.errors import InputError
    from specct.train import train
    from specct.train.whisper_finetune import run_name

    source = f"whisper:{tiny_whisper['float32']}"
    out_dir = train(finetune_args(demo_split.train_dir, source, tmp_path / "bf16", precision="bfloat16", epochs=2))
    summary = pd.read_csv(out_dir / "summary.csv")
    assert np.isfinite(summary["train_loss"]).all() and len(summary) == 2
    assert yaml.safe_load((out_dir / "args.yaml").read_text())["precision_used"] == "bfloat16"
    assert run_name(finetune_args(demo_split.train_dir, source, tmp_path)) == \
        "whisper_finetune-whisper_frames_ct2_float32_real_input_top1_pool1"
    with pytest.raises(InputError, match="the Whisper encoder has 2"):
        train(finetune_args(demo_split.train_dir, source, tmp_path / "three", finetune_blocks=3))
    with pytest.raises(InputError, match="at least 1"):
        run_name(finetune_args(demo_split.train_dir, source, tmp_path, finetune_blocks=0))


@pytest.mark.slow
def test_whisper_finetune_through_run_loco_with_two_seeds(demo_split, tiny_whisper, tmp_path):
    import torch

    from specct import loco
    from specct.core.checkpoint import load_checkpoint

    argv = ["--datasets_dir", str(demo_split.datasets), "--datasets", "DEMOA", "--model", "whisper_finetune",
            "--features", f"whisper:{tiny_whisper['float32']}", "--lr", "3e-3", "--epochs", "3", "--head_hidden", "16",
            "--precision", "float32", "--seeds", "0", "1", "--data_dir", str(tmp_path / "data"),
            "--output", str(tmp_path / "output"), "--bootstrap", "20", "--no_progress"]
    assert loco.main(argv) == 0                                  # the default: the top 2 blocks (all of them here)
    folder = tmp_path / "output" / "loco" / "whisper_finetune"
    results = pd.read_csv(folder / loco.RESULTS_CSV)
    row = results[results["held_out"] == "DEMOA"].iloc[0]
    assert row["seeds"] == 2 and len(str(row["uar_per_seed"]).split(";")) == 2
    jobs = [folder / "jobs" / "loco" / "whisper_finetune" / "DEMOA" / f"seed-{s}" for s in (0, 1)]
    assert [yaml.safe_load((job / "train" / "args.yaml").read_text())["seed"] for job in jobs] == [0, 1]
    states = [load_checkpoint(job / "train" / "model_best.pth.tar")["state_dict"] for job in jobs]
    assert len({k.split(".")[1] for k in states[0] if k.startswith("blocks.")}) == 2
    assert not torch.equal(states[0]["blocks.0.fc1.weight"], states[1]["blocks.0.fc1.weight"])   # two trainings
    written = [(job / "train" / "model_best.pth.tar").stat().st_mtime_ns for job in jobs]
    assert loco.main(argv) == 0                                  # finished jobs are not trained again
    assert [(job / "train" / "model_best.pth.tar").stat().st_mtime_ns for job in jobs] == written


@pytest.mark.slow
def test_whisper_finetune_in_a_study_with_two_seeds(tiny_whisper, tmp_path):
    """`specct run`: a study file with whisper_finetune beside egemaps_svm, two seeds, demo corpora."""
    flags = {"features": f"whisper:{tiny_whisper['float32']}", "lr": 3e-3, "epochs": 3, "head_hidden": 16,
             "precision": "float32", "finetune_blocks": 1}
    tuned = two_seed_study_rows(tmp_path, {"name": "whisper_finetune", "model": "whisper_finetune", "flags": flags})
    assert sorted(tuned["held_out"]) == ["DEMOA", "DEMOB", "DEMOC"] and (tuned["seeds"] == 2).all()
    assert tuned["uar"].between(0, 1).all()
    cache = tmp_path / "datasets" / "DEMOA" / "DEMOA_features" / "whisper_frames_ct2_float32_real_input_top1_pool1"
    assert sorted(p.name for p in cache.glob("part-*.npz"))


def test_whisper_finetune_on_a_missing_gpu_stops_before_any_work(demo_split, tiny_whisper, tmp_path):
    import torch

    from specct.core.errors import InputError
    from specct.train import train

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: a run on it is no error")

    args = finetune_args(demo_split.train_dir, f"whisper:{tiny_whisper['float32']}", tmp_path / "run", device="cuda")
    with pytest.raises(InputError, match="--device cuda asked for, but torch sees no CUDA device"):
        train(args)
    assert not (tmp_path / "run").exists()
