"""Training: output files, exact resume, configs, losses, mixup, DDP and bad inputs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from training_fixtures import TINY_MODEL, TINY_SIZE, tiny_args

from specct.core.checkpoint import BEST_NAME, LAST_NAME, load_checkpoint
from specct.data.split_rows import SplitError
from specct.models.factory import model_from_checkpoint
from specct.data.speaker import load_pca
from specct.train import parse_args, train
from specct.train.losses import EmotionLoss, balanced_class_weights
from specct.train.mixup import SpeakerMixup
from specct.protocol.runs import SUMMARY_COLUMNS, split_parts
from script_helpers import one_line_error

REPO_ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- a real short run

def test_short_run_writes_every_output_file(trained_run, demo_split):
    for name in ("args.yaml", "summary.csv", "curves.png", BEST_NAME, LAST_NAME):
        assert (trained_run / name).is_file(), name
    summary = pd.read_csv(trained_run / "summary.csv")
    assert list(summary.columns) == list(SUMMARY_COLUMNS)
    assert list(summary["epoch"]) == [1, 2]
    assert summary[["train_loss", "val_loss"]].notna().all().all()
    assert summary["val_uar"].between(0, 1).all()
    assert not list(trained_run.glob(".*.tmp*")), "temporary files left behind"


def test_checkpoint_alone_rebuilds_the_model(trained_run, demo_split):
    state = load_checkpoint(trained_run / BEST_NAME)
    assert state["model_name"] == TINY_MODEL
    assert state["class_names"] == ["anger", "happy", "neutral", "sad"]
    assert state["data_config"]["input_size"] == [3, TINY_SIZE, TINY_SIZE]
    assert state["spectrogram"]["size"] == [TINY_SIZE, TINY_SIZE]
    assert "optimizer" not in state, "model_best keeps only what inference needs"
    model = model_from_checkpoint(state)
    pca = load_pca(demo_split.train_dir / "pca.npz")   # fitted on the training rows only
    np.testing.assert_allclose(model.speaker_pca_mean.numpy(), pca.mean)
    np.testing.assert_allclose(model.speaker_pca_components.numpy(), pca.components)
    logits = model((torch.zeros(2, 3, TINY_SIZE, TINY_SIZE), torch.zeros(2, pca.components.shape[1])))
    assert logits.shape == (2, 4)
    last = load_checkpoint(trained_run / LAST_NAME)
    assert last["epoch"] == 2 and {"optimizer", "scheduler", "rng"} <= set(last)


def test_best_checkpoint_is_chosen_on_validation(trained_run):
    summary = pd.read_csv(trained_run / "summary.csv")
    state = load_checkpoint(trained_run / BEST_NAME)
    best_row = summary.loc[summary["val_uar"].idxmax()]   # first epoch reaching the maximum
    assert state["epoch"] == int(best_row["epoch"])
    assert state["metrics"]["val_uar"] == pytest.approx(best_row["val_uar"])


class Interrupted(Exception):
    """Stands for a kill between two epochs."""


def _stop_after(epochs: int):
    def hook(epoch):
        if epoch == epochs:
            raise Interrupted
    return hook


@pytest.mark.slow
def test_resume_reaches_the_same_weights(demo_split, tmp_path):
    # Every stateful piece on: EMA, mixup (seeded draws), focal loss with class weights, bf16 autocast.
    flags = dict(epochs=3, max_steps=2, model_ema=True, model_ema_decay=0.9, mixup=0.4, loss="focal",
                 class_weights="balanced", smoothing=0.1, amp=True, warmup_epochs=1, drop=0.1)
    train(tiny_args(demo_split.train_dir, tmp_path / "whole", **flags))
    with pytest.raises(Interrupted):
        train(tiny_args(demo_split.train_dir, tmp_path / "parts", **flags), on_epoch_end=_stop_after(1))
    assert load_checkpoint(tmp_path / "parts" / LAST_NAME)["epoch"] == 1
    train(tiny_args(demo_split.train_dir, tmp_path / "parts", resume="auto", **flags))

    whole, parts = load_checkpoint(tmp_path / "whole" / LAST_NAME), load_checkpoint(tmp_path / "parts" / LAST_NAME)
    assert whole["epoch"] == parts["epoch"] == 3
    for key in ("state_dict", "state_dict_ema"):
        assert whole[key].keys() == parts[key].keys()
        for name in whole[key]:
            assert torch.equal(whole[key][name], parts[key][name]), f"{key}.{name} differs after resume"
    summary_whole = pd.read_csv(tmp_path / "whole" / "summary.csv")
    summary_parts = pd.read_csv(tmp_path / "parts" / "summary.csv")
    pd.testing.assert_frame_equal(summary_whole, summary_parts)


# Deterministic, linear updates: plain SGD and no dropout, so runs differ only by float rounding.
PLAIN_SGD = dict(opt="momentum", momentum=0.0, lr=0.1, weight_decay=0.0, drop=0.0, drop_path=0.0, smoothing=0.0,
                 model_kwargs=["attn_drop_rate=0"], epochs=1, sched="step", decay_epochs=10,
                 precision="float32")   # float32: the comparisons below are at float32 rounding


def _final_weights(out_dir: Path) -> dict:
    return load_checkpoint(out_dir / LAST_NAME)["state_dict"]


def _assert_same_weights(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=atol, rtol=1e-4, msg=name)


def test_gradient_accumulation_makes_the_update_of_the_larger_batch(demo_split, tmp_path):
    start = _final_weights(train(tiny_args(demo_split.train_dir, tmp_path / "none", **{**PLAIN_SGD, "lr": 0.0},
                                           max_steps=1)))
    large = train(tiny_args(demo_split.train_dir, tmp_path / "large", batch_size=8, max_steps=2, **PLAIN_SGD))
    small = train(tiny_args(demo_split.train_dir, tmp_path / "small", batch_size=4, grad_accum_steps=2,
                            max_steps=2, **PLAIN_SGD))
    assert load_checkpoint(small / LAST_NAME)["num_updates"] == load_checkpoint(large / LAST_NAME)["num_updates"] == 2
    _assert_same_weights(_final_weights(small), _final_weights(large), atol=1e-6)
    moved = max((_final_weights(large)[k] - start[k]).abs().max().item() for k in start)
    assert moved > 1e-3  # the runs did train


def test_gradient_accumulation_counts_a_short_last_group_as_an_update():
    from specct.train.engine import batches_per_epoch, updates_per_epoch

    assert updates_per_epoch(10, 0, 3) == 4 and batches_per_epoch(10, 0, 3) == 10
    assert updates_per_epoch(10, 2, 3) == 2 and batches_per_epoch(10, 2, 3) == 6
    assert updates_per_epoch(10, 0, 1) == 10


def test_bad_accumulation_count_is_refused(tmp_path):
    with pytest.raises(SystemExit):
        parse_args(["some/train_data", "--grad-accum-steps", "0"])


def test_torchcompile_trains_like_eager(demo_split, tmp_path):
    eager = train(tiny_args(demo_split.train_dir, tmp_path / "eager", max_steps=2, **PLAIN_SGD))
    # The "eager" backend traces the model as torch.compile does, without generating code (fast in a test).
    compiled = train(tiny_args(demo_split.train_dir, tmp_path / "compiled", max_steps=2, torchcompile="eager",
                               **PLAIN_SGD))
    assert load_checkpoint(compiled / LAST_NAME)["args"]["torchcompile"] == "eager"
    _assert_same_weights(_final_weights(compiled), _final_weights(eager), atol=1e-5)


def test_time_crops_change_what_a_run_learns_and_are_recorded(demo_split, tmp_path):
    whole = train(tiny_args(demo_split.train_dir, tmp_path / "whole", max_steps=2, **PLAIN_SGD))
    cropped = train(tiny_args(demo_split.train_dir, tmp_path / "cropped", max_steps=2, time_crop_prob=1.0,
                              **PLAIN_SGD))
    assert load_checkpoint(cropped / LAST_NAME)["args"]["time_crop_prob"] == 1.0
    assert load_checkpoint(whole / LAST_NAME)["args"]["time_crop_prob"] == 0.0
    a, b = _final_weights(cropped), _final_weights(whole)
    assert any(not torch.allclose(a[name], b[name]) for name in a)     # same seed, other training images


def test_early_stopping_on_validation(demo_split, tmp_path):
    # lr 0: nothing changes, so validation never improves after the first epoch.
    out = train(tiny_args(demo_split.train_dir, tmp_path / "run", epochs=5, max_steps=1, lr=0.0, patience=1,
                          warmup_lr=0.0, min_lr=0.0))
    assert list(pd.read_csv(out / "summary.csv")["epoch"]) == [1, 2]
    assert load_checkpoint(out / BEST_NAME)["epoch"] == 1


# --------------------------------------------------------------------------- options

def test_config_keys_are_flag_names_and_flags_override(tmp_path):
    config = tmp_path / "c.yml"
    config.write_text("lr: 0.01\nweight-decay: 0.1\nmodel_ema: true\nepochs: 7\n")
    args = parse_args(["some/train_data", "-c", str(config), "--epochs", "3"])
    assert args.lr == 0.01 and args.weight_decay == 0.1 and args.model_ema is True
    assert args.epochs == 3  # the flag wins over the file


def test_no_pretrained_overrides_a_config_that_asks_for_weights(tmp_path):
    config = tmp_path / "c.yml"
    config.write_text("pretrained: true\n")
    assert parse_args(["some/train_data", "-c", str(config)]).pretrained is True
    assert parse_args(["some/train_data", "-c", str(config), "--no-pretrained"]).pretrained is False
    assert parse_args(["some/train_data"]).pretrained is False
    assert parse_args(["some/train_data", "--pretrained-path", "w.pth"]).pretrained is True


def test_unknown_config_key_is_an_error(tmp_path, capsys):
    config = tmp_path / "c.yml"
    config.write_text("learning_rate: 0.01\n")
    with pytest.raises(SystemExit):
        parse_args(["some/train_data", "-c", str(config)])
    assert "learning_rate" in capsys.readouterr().err


def test_main_reports_bad_input_in_one_line(tmp_path, monkeypatch, capsys):
    import urllib.error

    import specct.train

    one_line_error(capsys, lambda: specct.train.main([str(tmp_path / "nope"), "--model", TINY_MODEL, "--no-pretrained"]),
                   r"^train.py: error: .*nope: train_data folder not found")

    def offline(args):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(specct.train, "train", offline)
    one_line_error(capsys, lambda: specct.train.main([str(tmp_path / "nope"), "--model", TINY_MODEL, "--pretrained"]),
                   "could not download the pretrained weights .*--pretrained_path")


@pytest.mark.parametrize("flags, reason", [(["--time_crop_prob", "2"], "--time_crop_prob: expected at least 0 and at most 1"),
                                          (["--specaugment_time_masks", "-1"], "--specaugment_time_masks: expected at least 0")])
def test_a_bad_lever_value_is_one_line(flags, reason, demo_split, tmp_path, capsys):
    import specct.train

    one_line_error(capsys, lambda: specct.train.main([str(demo_split.train_dir), "--model", TINY_MODEL,
                                                      "--no-pretrained", "--experiment", str(tmp_path), *flags]),
                   rf"^train.py: error: {reason}")


@pytest.mark.parametrize("config", sorted((REPO_ROOT / "configs").rglob("*.yml")), ids=lambda p: p.name)
def test_shipped_configs_parse(config):
    args = parse_args(["some/train_data", "-c", str(config)])
    assert args.lr > 0 and args.epochs > 0


def test_output_folder_follows_the_split_layout(tmp_path):
    train_dir = tmp_path / "data" / "EMODB" / "4_classes" / "time_aug" / "balanced_aug" / "train_data"
    train_dir.mkdir(parents=True)
    assert split_parts(train_dir) == ("EMODB", "4_classes", "time_aug", "balanced_aug")
    args = parse_args([str(train_dir), "--model", "cct_7_7x2_112", "--pretrained"])
    from specct.systems import output_dir

    assert output_dir(args) == Path("output/train/cct_7_7x2_112-pretrained/EMODB/4_classes/time_aug/"
                                               "balanced_aug")


# --------------------------------------------------------------------------- losses and mixup

def test_plain_loss_is_cross_entropy_and_focal_is_smaller():
    torch.manual_seed(0)
    logits, targets = torch.randn(16, 4), torch.randint(0, 4, (16,))
    assert EmotionLoss(4)(logits, targets) == pytest.approx(float(F.cross_entropy(logits, targets)), rel=1e-5)
    weights = torch.tensor([1.0, 2.0, 0.5, 1.0])
    assert EmotionLoss(4, weights)(logits, targets) == pytest.approx(
        float(F.cross_entropy(logits, targets, weight=weights)), rel=1e-5)
    assert EmotionLoss(4, smoothing=0.1)(logits, targets) == pytest.approx(
        float(F.cross_entropy(logits, targets, label_smoothing=0.1)), rel=1e-5)
    assert EmotionLoss(4, focal_gamma=2.0)(logits, targets) < EmotionLoss(4)(logits, targets)


def test_balanced_class_weights_favour_rare_classes():
    counts = torch.tensor([30.0, 10.0, 0.0, 20.0])
    weights = balanced_class_weights(counts.int().tolist())
    assert weights[2] == 0 and weights[1] > weights[3] > weights[0]
    assert float((weights * counts).sum() / counts.sum()) == pytest.approx(1.0)   # mean weight per sample
    assert torch.allclose((weights * counts)[[0, 1, 3]], torch.full((3,), 20.0))  # equal total per class


def test_mixup_mixes_speaker_vectors_with_the_same_lambda_and_pairing():
    mixup = SpeakerMixup(alpha=0.4, num_classes=3)
    images = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    speaker = torch.arange(4, dtype=torch.float32).view(4, 1).expand(4, 5) * 10
    targets = torch.tensor([0, 1, 2, 0])
    lam, order = mixup.draw(4, np.random.default_rng(3))
    assert 0 < lam < 1 and sorted(order) == [0, 1, 2, 3]
    mixed_images, mixed_speaker, soft = mixup.apply(images, speaker, targets, lam, order)
    expected = lam * torch.arange(4.0) + (1 - lam) * torch.arange(4.0)[order]
    assert torch.allclose(mixed_images[:, 0, 0, 0], expected)
    assert torch.allclose(mixed_speaker[:, 0], expected * 10)
    assert torch.allclose(soft.sum(dim=1), torch.ones(4))
    # the same seed draws the same mix
    assert mixup.draw(4, np.random.default_rng(3))[0] == lam


# --------------------------------------------------------------------------- bad inputs

def _copy_split(demo_split, tmp_path) -> Path:
    import shutil

    train_dir = tmp_path / "train_data"
    shutil.copytree(demo_split.train_dir, train_dir)
    return train_dir


def test_missing_image_is_named(demo_split, tmp_path):
    train_dir = _copy_split(demo_split, tmp_path)
    frame = pd.read_csv(train_dir / "train.csv")
    frame.loc[0, "image"] = str(tmp_path / "gone.png")
    frame.to_csv(train_dir / "train.csv", index=False)
    with pytest.raises(SplitError, match="gone.png.*not found"):
        train(tiny_args(train_dir, tmp_path / "out"))


def test_missing_speaker_vector_is_named(demo_split, tmp_path):
    train_dir = _copy_split(demo_split, tmp_path)
    frame = pd.read_csv(train_dir / "validation.csv")
    frame.loc[0, "wav"] = frame.loc[0, "wav"].replace(".wav", "-unknown.wav")
    frame.to_csv(train_dir / "validation.csv", index=False)
    with pytest.raises(LookupError, match="-unknown.wav.*no speaker vector"):
        train(tiny_args(train_dir, tmp_path / "out"))


def test_class_count_mismatch_and_unknown_label(demo_split, tmp_path):
    with pytest.raises(ValueError, match="--num_classes 3"):
        train(tiny_args(demo_split.train_dir, tmp_path / "out", num_classes=3))
    train_dir = _copy_split(demo_split, tmp_path)
    frame = pd.read_csv(train_dir / "train.csv")
    frame.loc[0, "label"] = "boredom"
    frame.to_csv(train_dir / "train.csv", index=False)
    with pytest.raises(SplitError, match="boredom"):
        train(tiny_args(train_dir, tmp_path / "out2"))


def test_missing_train_data_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="train_data"):
        train(tiny_args(tmp_path / "nowhere", tmp_path / "out"))


# --------------------------------------------------------------------------- DDP

@pytest.mark.slow
def test_two_process_ddp_run(demo_split, tmp_path):
    """Two ranks, each accumulating two batches of 2 per update, make the updates of one process
    with batches of 8: DDP averages over the ranks, accumulation over the batches of a group."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT / "src")}
    plain_sgd = ["--opt", "momentum", "--momentum", "0", "--lr", "0.1", "--weight-decay", "0", "--drop", "0",
                 "--drop-path", "0", "--smoothing", "0", "--model-kwargs", "attn_drop_rate=0", "--sched", "step",
                 "--decay-epochs", "10", "--precision", "float32"]
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               str(REPO_ROOT / "train.py"), str(demo_split.train_dir), "--model", TINY_MODEL,
               "--input-size", "3", str(TINY_SIZE), str(TINY_SIZE), "--epochs", "1", "--max-steps", "2",
               "--batch-size", "2", "--grad-accum-steps", "2", "--experiment", str(out), "--no-progress", *plain_sgd]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "2 process(es)" in done.stdout
    assert done.stdout.count("epoch 1/1") == 1, "only rank 0 reports"
    state = load_checkpoint(out / LAST_NAME)
    assert state["num_updates"] == 2
    # validation is sharded over the ranks, then gathered: every row counted exactly once
    assert state["val_samples"] == len(pd.read_csv(demo_split.train_dir / "validation.csv"))
    assert (out / "summary.csv").is_file() and (out / BEST_NAME).is_file()

    single = train(tiny_args(demo_split.train_dir, tmp_path / "single", batch_size=8, max_steps=2, **PLAIN_SGD))
    _assert_same_weights(state["state_dict"], _final_weights(single), atol=1e-6)
