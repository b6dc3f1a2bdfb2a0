"""Test-time statistics (transductive, flagged): batch-norm re-estimation on the test rows and
per-corpus standardisation of the input images; each changes only what its flag names, and says so."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn
from torch.utils.data import Dataset
from training_fixtures import tiny_args

from specct.train import test_time
from specct.core.errors import InputError
from specct.stages.evaluate import evaluate
from specct.train import train


def test_reestimated_batch_norm_holds_the_test_rows_statistics_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batches = [torch.randn(8, 1, 6, 6) * 3 + 2 for _ in range(3)]
    adapted = test_time.reestimate_batch_norm(model, batches, lambda m, b: m(b))
    with torch.no_grad():
        conv_out = torch.cat([model[0](b) for b in batches])
    assert torch.allclose(adapted[1].running_mean, conv_out.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.allclose(adapted[1].running_var, conv_out.var(dim=(0, 2, 3)), rtol=1e-2)
    for key, value in model.state_dict().items():        # the original keeps its training statistics
        assert torch.equal(value, before[key]), key
    assert torch.equal(adapted[0].weight, model[0].weight) and not adapted.training


def test_a_model_without_batch_norm_is_copied_unchanged():
    model = nn.Linear(3, 2)
    adapted = test_time.reestimate_batch_norm(model, [torch.randn(2, 3)], lambda m, b: m(b))
    assert torch.equal(adapted.weight, model.weight) and adapted is not model


class _Images(Dataset):
    def __init__(self, images):
        self.images = images

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], torch.empty(0), 0, i


def test_corpus_standardisation_gives_each_corpus_zero_mean_and_unit_spread_per_row():
    rng = np.random.default_rng(0)
    loud = torch.from_numpy(rng.normal(3.0, 2.0, (10, 3, 4, 5)).astype(np.float32))
    quiet = torch.from_numpy(rng.normal(-1.0, 0.5, (6, 3, 4, 5)).astype(np.float32))
    corpora = ["LOUD"] * 10 + ["QUIET"] * 6
    data = test_time.CorpusStandardised(_Images(torch.cat([loud, quiet])), corpora, batch_size=4)
    out = torch.stack([data[i][0] for i in range(len(data))])
    for part in (out[:10], out[10:]):
        assert torch.allclose(part.mean(dim=(0, 3)), torch.zeros(3, 4), atol=1e-4)
        assert torch.allclose(part.std(dim=(0, 3), unbiased=False), torch.ones(3, 4), atol=1e-3)
    assert test_time.standardise_by_corpus(data.dataset, pd.DataFrame({"corpus": corpora}), "none") is data.dataset


def test_batch_norm_reestimation_changes_the_statistics_only_where_flagged(demo_split, tmp_path, monkeypatch):
    from specct.train import engine

    seen = []
    real = engine.predict_loader

    def recording(model, loader, **kwargs):
        seen.append({k: v.clone() for k, v in model.state_dict().items() if "running_mean" in k})
        return real(model, loader, **kwargs)

    monkeypatch.setattr(engine, "predict_loader", recording)
    results = {}
    for flagged in (False, True):
        out = tmp_path / f"bn_{flagged}"
        train(tiny_args(demo_split.train_dir, out, model="cnn_lstm_tiny_112", epochs=1, max_steps=2, input_size=[3, 64, 64],
                        test_time_bn=flagged))
        saved = {k: v for k, v in torch.load(out / "model_best.pth.tar", weights_only=False)["state_dict"].items()
                 if "running_mean" in k}
        assert saved, "the model has batch normalisation"
        evaluate(out, data_test_path=demo_split.test_csv, output=tmp_path / f"eval_{flagged}", bootstrap=20,
                 progress=False)
        used = seen[-1]
        same = all(torch.equal(used[k], saved[k]) for k in saved)
        assert same is (not flagged)
        performance = (tmp_path / f"eval_{flagged}" / "performance.yaml").read_text()
        assert ("transductive_batch_norm" in performance) is flagged
        results[flagged] = yaml.safe_load((out / "args.yaml").read_text())
    assert "transductive_batch_norm" in results[True] and "transductive_batch_norm" not in results[False]


def test_batch_norm_reestimation_is_refused_for_a_model_without_it(demo_split, tmp_path):
    with pytest.raises(InputError, match="no batch normalisation"):
        train(tiny_args(demo_split.train_dir, tmp_path / "cct", test_time_bn=True))


def test_corpus_input_norm_trains_predicts_and_says_it_is_transductive(demo_split, tmp_path):
    from specct.stages.predict import Predictor

    out = tmp_path / "norm"
    train(tiny_args(demo_split.train_dir, out, input_norm="corpus", epochs=1, max_steps=2))
    assert "transductive_input_norm" in yaml.safe_load((out / "args.yaml").read_text())
    evaluate(out, data_test_path=demo_split.test_csv, output=tmp_path / "eval", bootstrap=20, progress=False)
    performance = yaml.safe_load((tmp_path / "eval" / "performance.yaml").read_text())
    assert "test corpus" in performance["transductive_input_norm"] and 0 <= performance["uar"] <= 1
    with pytest.raises(InputError, match="test-time statistics"):   # one file has no corpus statistics
        Predictor(out)


def test_flagged_training_validates_on_the_validation_rows_own_batch_norm_statistics(demo_split, tmp_path,
                                                                                     monkeypatch):
    """The epoch is chosen as the model will be tested: with --test_time_bn every validation pass reads a
    copy re-estimated on the validation rows; the checkpoint keeps the statistics of training."""
    real, calls = test_time.reestimate_batch_norm, []

    def recording(model, batches, forward):
        adapted = real(model, batches, forward)
        calls.append((sum(len(batch[2]) for batch in batches), model, adapted))
        return adapted

    monkeypatch.setattr(test_time, "reestimate_batch_norm", recording)
    validation_rows = len(pd.read_csv(demo_split.train_dir / "validation.csv"))
    assert validation_rows > 0
    for flagged in (False, True):
        calls.clear()
        out = tmp_path / f"bn_{flagged}"
        train(tiny_args(demo_split.train_dir, out, model="cnn_lstm_tiny_112", epochs=2, max_steps=2,
                        input_size=[3, 64, 64], test_time_bn=flagged))
        if not flagged:
            assert calls == []
            continue
        assert [rows for rows, _, _ in calls] == [validation_rows] * 2      # once per epoch, every validation row
        _, trained, adapted = calls[-1]
        means = [(a, b) for (k, a), (_, b) in zip(trained.state_dict().items(), adapted.state_dict().items())
                 if "running_mean" in k]
        assert means and not all(torch.equal(a, b) for a, b in means)    # the copy holds other statistics
        saved = torch.load(out / "last.pth.tar", weights_only=False)["state_dict"]
        for key, value in trained.state_dict().items():                   # the trained model's are saved
            if "running_mean" in key:
                assert torch.equal(saved[key], value), key
