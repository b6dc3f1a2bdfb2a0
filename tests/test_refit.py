"""Refit after choosing on validation: the baselines by default (``--no_refit`` keeps the model fitted
on the training rows), the image networks with ``--refit`` (a second training on training +
validation rows for the chosen epoch count, the first kept in before_refit/)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from training_fixtures import tiny_args


@pytest.fixture(scope="module")
def demo_egemaps(demo_split):
    from specct.baselines.features import extract_corpora

    extract_corpora(demo_split.datasets, features="egemaps", progress=False)
    return demo_split


def baseline_args(train_dir, out_dir, model, **overrides):
    from specct.train import default_args

    return default_args(train_dir, model=model, experiment=str(out_dir), no_progress=True, seed=0, **overrides)


def split_rows(demo_split):
    from specct.baselines.trainer import read_rows
    from specct.data.split_rows import read_class_names

    names = read_class_names(demo_split.train_dir)
    return [read_rows(demo_split.train_dir / f, names) for f in ("train.csv", "validation.csv")]


def raw_features(frame):
    from specct.baselines.features import features_for_wavs, parse_features

    return features_for_wavs(frame["wav"], parse_features("egemaps")).astype(np.float64)


@pytest.fixture(scope="module")
def svm_runs(demo_egemaps, tmp_path_factory):
    """egemaps_svm with the default (refit) and with --no_refit, through train.py's command line."""
    from specct.train import main as train_main

    out = tmp_path_factory.mktemp("refit_svm")
    logs = {}
    for name, extra in (("refit", []), ("no_refit", ["--no_refit"])):
        import contextlib
        import io

        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            assert train_main([str(demo_egemaps.train_dir), "--model", "egemaps_svm", "--experiment",
                               str(out / name), "--no_progress", "--seed", "0", "--svm_c", "0.01", "0.1", "1.0",
                               *extra]) == 0
        logs[name] = buffer.getvalue()
    return out, logs


def test_refit_baseline_was_fitted_on_training_and_validation_rows(svm_runs, demo_egemaps):
    from specct.baselines.model import load_model
    from specct.systems import load

    out, logs = svm_runs
    train, val = split_rows(demo_egemaps)
    assert len(val) > 0
    model = load_model(out / "refit")
    estimator = model.classifier["estimator"]
    assert estimator.shape_fit_[0] == len(train) + len(val)         # rows the SVM saw
    union = np.concatenate([raw_features(train), raw_features(val)])
    np.testing.assert_allclose(model.scaler.mean, union.mean(axis=0), rtol=1e-5, atol=1e-5)   # and the scaler
    assert model.info["refit"] is True and model.info["fitted_rows"] == len(train) + len(val)
    assert model.info["train_rows"] == len(train) and model.info["validation_rows"] == len(val)
    record = load(out / "refit").record()
    assert record["refit"] is True and record["fitted_rows"] == len(train) + len(val)
    assert yaml.safe_load((out / "refit" / "args.yaml").read_text())["refit"] is True
    last = logs["refit"].strip().splitlines()[-1]
    assert last.startswith("done: C ") and "chosen on validation (val_uar " in last
    assert f"refit on {len(train) + len(val)} train + validation rows" in last


def test_no_refit_keeps_the_model_fitted_on_the_training_rows(svm_runs, demo_egemaps):
    from sklearn.svm import SVC

    from specct.baselines.model import load_model
    from specct.systems import load

    out, logs = svm_runs
    train, val = split_rows(demo_egemaps)
    kept, refit = load_model(out / "no_refit"), load_model(out / "refit")
    # the choice on validation is the same either way; only what is saved differs
    pd.testing.assert_frame_equal(pd.read_csv(out / "no_refit" / "summary.csv").drop(columns="seconds"),
                                  pd.read_csv(out / "refit" / "summary.csv").drop(columns="seconds"))
    assert kept.info["hyperparameters"] == refit.info["hyperparameters"]
    # today's model: scaler and SVM of the training rows alone, with the chosen C
    x = raw_features(train)
    np.testing.assert_allclose(kept.scaler.mean, x.mean(axis=0), rtol=1e-5, atol=1e-5)
    xs = kept.scaler.transform(x.astype(np.float32))
    expected = SVC(kernel="linear", C=kept.info["hyperparameters"]["C"], random_state=0).fit(
        xs, train["target"].to_numpy())
    estimator = kept.classifier["estimator"]
    assert estimator.shape_fit_[0] == len(train)
    np.testing.assert_array_equal(estimator.coef_, expected.coef_)
    assert not np.allclose(estimator.coef_, refit.classifier["estimator"].coef_)
    assert kept.info["refit"] is False and load(out / "no_refit").record()["refit"] is False
    assert yaml.safe_load((out / "no_refit" / "args.yaml").read_text())["refit"] is False
    last = logs["no_refit"].strip().splitlines()[-1]
    assert f"fitted on {len(train)} training rows (--no_refit)" in last


def test_refit_scales_per_corpus_on_the_union(demo_egemaps, tmp_path):
    from specct.baselines.model import load_model
    from specct.train import train

    train_rows, val = split_rows(demo_egemaps)
    out = train(baseline_args(demo_egemaps.train_dir, tmp_path / "logreg", "egemaps_logreg", scaling="corpus",
                              svm_c=[0.1, 1.0]))
    model = load_model(out)
    union = np.concatenate([raw_features(train_rows), raw_features(val)])
    np.testing.assert_allclose(model.scaler.mean, union.mean(axis=0), rtol=1e-5, atol=1e-5)
    assert model.classifier["estimator"].n_features_in_ == union.shape[1] and model.info["refit"]
    assert model.info["fitted_corpora"] == sorted(set(train_rows["corpus"]) | set(val["corpus"]))


def test_torch_head_refits_for_the_chosen_epoch_count_on_the_union(demo_egemaps, tmp_path, capsys):
    from specct.baselines.classifiers import train_head
    from specct.baselines.model import load_model
    from specct.baselines.scaling import FeatureScaler
    from specct.train import train

    flags = dict(features="egemaps", epochs=4, lr=1e-2, batch_size=8)
    out = train(baseline_args(demo_egemaps.train_dir, tmp_path / "head", "ssl_linear", **flags))
    kept = train(baseline_args(demo_egemaps.train_dir, tmp_path / "kept", "ssl_linear", refit=False, **flags))
    model, before = load_model(out), load_model(kept)
    epoch = model.info["hyperparameters"]["epoch"]
    assert model.info["refit"] and before.info["hyperparameters"]["epoch"] == epoch
    assert len(pd.read_csv(out / "summary.csv")) == 4          # the choice on validation, epoch by epoch
    # the saved head is the one the same seed gives on training + validation rows after `epoch` epochs
    train_rows, val = split_rows(demo_egemaps)
    x = np.concatenate([raw_features(train_rows), raw_features(val)]).astype(np.float32)
    y = np.concatenate([train_rows["target"].to_numpy(), val["target"].to_numpy()])
    xs = FeatureScaler("standard").fit(x).transform(x)
    args = baseline_args(demo_egemaps.train_dir, tmp_path / "x", "ssl_linear", **flags)
    args = argparse.Namespace(**{**vars(args), "epochs": epoch, "patience": 0})
    head, history, _ = train_head("linear", xs, y, xs[:0], y[:0], 4, args, log=lambda *a, **k: None)
    assert len(history) == epoch
    for name, value in head.state_dict().items():
        torch.testing.assert_close(torch.from_numpy(np.asarray(model.classifier["state"][name])), value)
    assert not np.allclose(model.classifier["state"]["net.1.weight"], before.classifier["state"]["net.1.weight"])
    assert f"epoch {epoch} chosen on validation" in capsys.readouterr().out


def test_without_validation_rows_there_is_nothing_to_refit(demo_egemaps, tmp_path, capsys):
    from specct.baselines.model import load_model
    from specct.data.splits import SplitOptions, run_split_stage
    from specct.train import train

    split = run_split_stage(SplitOptions(eval_dataset="DEMOC", num_classes="4", seed=0, validation="none",
                                         datasets_dir=str(demo_egemaps.datasets), output_dir=str(tmp_path / "data")))[0]
    capsys.readouterr()
    out = train(baseline_args(split.out_dir / "train_data", tmp_path / "svm", "egemaps_svm", svm_c=[1.0]))
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "nothing to refit" in last and "fitted on" in last
    model = load_model(out)
    assert model.info["refit"] is False and model.info["fitted_rows"] == model.info["train_rows"]


def test_refit_flags_are_written_back_as_flags():
    from specct.train.options import flag_tokens, given_flags

    assert given_flags(["--no_refit"]) == {"refit": False} and given_flags(["--refit"]) == {"refit": True}
    assert flag_tokens({"refit": False}) == ["--no_refit"] and flag_tokens({"refit": True}) == ["--refit"]


# --------------------------------------------------------------------------- image networks: --refit

class Interrupted(Exception):
    """Stands for a kill between two epochs."""


def stop_at_call(n: int):
    """An on_epoch_end hook that raises on its n-th call (epochs of both trainings count)."""
    calls = []

    def hook(epoch):
        calls.append(epoch)
        if len(calls) == n:
            raise Interrupted
    return hook


NET_FLAGS = dict(epochs=2, max_steps=0, refit=True)


@pytest.fixture(scope="module")
def refit_run(demo_split, tmp_path_factory):
    from specct.train import train

    out = tmp_path_factory.mktemp("refit_net") / "whole"
    train(tiny_args(demo_split.train_dir, out, **NET_FLAGS))
    return out


def test_network_refit_trains_the_chosen_epochs_on_train_and_validation_rows(refit_run, demo_split):
    from specct.core.checkpoint import BEST_NAME, LAST_NAME, load_checkpoint

    train_rows = len(pd.read_csv(demo_split.train_dir / "train.csv"))
    val_rows = len(pd.read_csv(demo_split.train_dir / "validation.csv"))
    first = load_checkpoint(refit_run / "before_refit" / LAST_NAME)
    chosen = int(first["best_epoch"])
    assert first["epoch"] == 2 and first["val_samples"] == val_rows and 1 <= chosen <= 2
    assert load_checkpoint(refit_run / "before_refit" / BEST_NAME)["epoch"] == chosen
    last = load_checkpoint(refit_run / LAST_NAME)
    batches = -(-(train_rows + val_rows) // 8)                      # batch 8, one process
    assert last["epoch"] == last["num_epochs"] == chosen
    assert last["num_updates"] == chosen * batches                  # every union row, chosen epochs
    assert last["refit"]["rows"] == train_rows + val_rows and last["refit"]["epochs"] == chosen
    assert last["val_samples"] == 0
    best = load_checkpoint(refit_run / BEST_NAME)
    assert best["epoch"] == chosen and best["refit"]["train_rows"] == train_rows
    args = yaml.safe_load((refit_run / "args.yaml").read_text())
    assert args["refit"] is True and args["refit_epochs"] == chosen and args["refit_rows"] == train_rows + val_rows
    assert len(pd.read_csv(refit_run / "before_refit" / "summary.csv")) == 2
    assert len(pd.read_csv(refit_run / "summary.csv")) == chosen
    # the speaker PCA inside the model was fitted on the union's wavs, with the split's width
    from specct.data.speaker import load_pca

    split_pca = load_pca(demo_split.train_dir / "pca.npz")
    assert best["state_dict"]["speaker_pca_components"].shape == split_pca.components.shape
    assert not torch.allclose(best["state_dict"]["speaker_pca_mean"], torch.from_numpy(split_pca.mean))


def test_network_refit_resumes_after_interruptions(refit_run, demo_split, tmp_path):
    from specct import systems
    from specct.core.checkpoint import LAST_NAME, load_checkpoint
    from specct.train import train

    out = tmp_path / "parts"
    args = tiny_args(demo_split.train_dir, out, **NET_FLAGS)
    system = systems.system_for_model(args.model)
    # killed after the first training's last epoch, before the refit began
    with pytest.raises(Interrupted):
        train(tiny_args(demo_split.train_dir, out, **NET_FLAGS), on_epoch_end=stop_at_call(2))
    assert (out / "before_refit" / LAST_NAME).is_file() and not (out / LAST_NAME).is_file()
    assert not system.is_trained(out, args)
    # resumed, then killed after the refit's first epoch (when it has more than one)
    chosen = int(load_checkpoint(refit_run / LAST_NAME)["epoch"])
    if chosen > 1:
        with pytest.raises(Interrupted):
            train(tiny_args(demo_split.train_dir, out, resume="auto", **NET_FLAGS), on_epoch_end=stop_at_call(1))
        assert load_checkpoint(out / LAST_NAME)["epoch"] == 1
        assert not system.is_trained(out, args)
        systems.ensure_trained(tiny_args(demo_split.train_dir, out, **NET_FLAGS), log=None)
    else:
        train(tiny_args(demo_split.train_dir, out, resume="auto", **NET_FLAGS))
    assert system.is_trained(out, args)
    whole, parts = load_checkpoint(refit_run / LAST_NAME), load_checkpoint(out / LAST_NAME)
    assert whole["epoch"] == parts["epoch"] and whole["num_updates"] == parts["num_updates"]
    for name in whole["state_dict"]:
        assert torch.equal(whole["state_dict"][name], parts["state_dict"][name]), f"{name} differs after resume"


def test_a_refit_killed_in_its_first_epoch_is_resumed_by_ensure_trained(demo_split, tmp_path, monkeypatch):
    # the refit writes last.pth.tar at its epoch 0: a kill inside its first epoch leaves a run that is
    # not finished and that ensure_trained continues (it does not start the first training again)
    from specct import systems
    from specct.core.checkpoint import LAST_NAME, load_checkpoint
    from specct.train import loop, train

    flags = {**NET_FLAGS, "epochs": 1}
    whole = train(tiny_args(demo_split.train_dir, tmp_path / "whole", **flags))
    out = tmp_path / "parts"
    real, calls = loop.train_one_epoch, []

    def killed_in_the_refit(*a, **k):
        calls.append(1)
        if len(calls) == 2:        # the first training has one epoch; the second call is the refit's
            raise Interrupted
        return real(*a, **k)

    monkeypatch.setattr(loop, "train_one_epoch", killed_in_the_refit)
    with pytest.raises(Interrupted):
        train(tiny_args(demo_split.train_dir, out, **flags))
    monkeypatch.undo()
    state = load_checkpoint(out / LAST_NAME)
    assert state["epoch"] == 0 and state["num_epochs"] == 1 and state["refit"]["epochs"] == 1
    args = tiny_args(demo_split.train_dir, out, **flags)
    system = systems.system_for_model(args.model)
    assert not system.is_trained(out, args)
    first_mtime = (out / "before_refit" / LAST_NAME).stat().st_mtime_ns
    systems.ensure_trained(args, log=None)
    assert system.is_trained(out, args)
    assert (out / "before_refit" / LAST_NAME).stat().st_mtime_ns == first_mtime   # not trained again
    a, b = load_checkpoint(whole / LAST_NAME)["state_dict"], load_checkpoint(out / LAST_NAME)["state_dict"]
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_a_folder_fitted_without_the_refit_is_fitted_again_when_the_refit_is_asked(demo_egemaps, tmp_path, capsys):
    """ensure_trained (run_loco, studies) never takes a model fitted one way for one asked the other way;
    a model fitted as asked is kept."""
    from specct import systems

    out = tmp_path / "svm"
    saved = out / "model_best.skops"
    systems.ensure_trained(baseline_args(demo_egemaps.train_dir, out, "egemaps_svm", refit=False), log=None)
    first = saved.stat().st_mtime_ns
    systems.ensure_trained(baseline_args(demo_egemaps.train_dir, out, "egemaps_svm", refit=False), log=None)
    assert saved.stat().st_mtime_ns == first                       # as asked: kept
    systems.ensure_trained(baseline_args(demo_egemaps.train_dir, out, "egemaps_svm"), log=None)
    assert saved.stat().st_mtime_ns != first                       # the refit was asked: fitted again
    assert "refit on" in capsys.readouterr().out
    refit = saved.stat().st_mtime_ns
    systems.ensure_trained(baseline_args(demo_egemaps.train_dir, out, "egemaps_svm"), log=None)
    assert saved.stat().st_mtime_ns == refit


def test_a_refit_network_is_named_where_an_ensemble_chooses_weights_on_rows_it_trained_on(refit_run, demo_split,
                                                                                           tmp_path):
    """Its validation rows were training rows of the refit: the ensemble says so (weights_seen_by)."""
    from specct import systems
    from specct.systems.ensemble import RECORD
    from specct.train import default_args

    train_rows = len(pd.read_csv(demo_split.train_dir / "train.csv"))
    val_rows = len(pd.read_csv(demo_split.train_dir / "validation.csv"))
    record = systems.load(refit_run).record()
    assert record["refit"] is True and record["fitted_rows"] == train_rows + val_rows
    out = tmp_path / "ensemble"
    systems.fit(default_args(demo_split.train_dir, model="ensemble", members=[str(refit_run), str(refit_run)],
                             experiment=str(out), no_progress=True))
    seen_by = yaml.safe_load((out / RECORD).read_text())["weights_seen_by"]
    assert len(seen_by) == 2 and {Path(f).resolve() for f in seen_by} == {Path(refit_run).resolve()}
