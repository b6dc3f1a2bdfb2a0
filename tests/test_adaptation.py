"""Adaptation to the unseen corpus: the gradient-reversal layer, the corpus adversary of DANN
(inductive: training corpora only), corpus-balanced batches."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from training_fixtures import TINY_SIZE, DemoSplit, tiny_args

from specct.core.checkpoint import LAST_NAME, load_checkpoint
from specct.core.errors import InputError
from specct.train import train
from specct.train.balance import CorpusBalancedSampler, balanced_weights
from specct.train.domain import CorpusAdversary, DomainAdversarial, ramp, reverse_gradient


# --------------------------------------------------------------------------- gradient reversal

def test_the_reversal_layer_is_the_identity_forward_and_flips_and_scales_the_gradient():
    x = torch.randn(4, 6, requires_grad=True)
    weights = torch.randn(4, 6)
    y = reverse_gradient(x, 0.3)
    assert torch.equal(y, x)
    (y * weights).sum().backward()
    assert torch.allclose(x.grad, -0.3 * weights)

    x.grad = None
    (reverse_gradient(x, 0.0) * weights).sum().backward()
    assert torch.count_nonzero(x.grad) == 0                # weight 0: the features are not pulled at all


def test_the_ramp_starts_at_zero_rises_and_ends_near_the_weight():
    values = [ramp(p) for p in np.linspace(0, 1, 11)]
    assert values[0] == 0.0 and values[-1] > 0.9999
    assert all(b > a for a, b in zip(values, values[1:]))
    assert ramp(0.5) == pytest.approx(2 / (1 + np.exp(-5)) - 1)
    dann = DomainAdversarial(0.5, ["A", "B", "A"], num_features=8, total_updates=100)
    assert dann.scale(0) == 0.0 and dann.scale(100) == pytest.approx(0.5, abs=1e-4)
    assert dann.domains.tolist() == [0, 1, 0] and dann.corpora == ["A", "B"]


def test_one_training_corpus_is_no_domain_shift_to_learn():
    with pytest.raises(InputError, match="two or more training corpora"):
        DomainAdversarial(0.5, ["A", "A"], num_features=8, total_updates=10)


def test_the_adversary_learns_the_corpus_while_the_reversal_pushes_the_features_the_other_way():
    torch.manual_seed(0)
    features = torch.randn(64, 8)
    domains = (features[:, 0] > 0).long()             # the corpus is readable from feature 0
    adversary = CorpusAdversary(8, ["A", "B"])
    head = torch.optim.SGD(adversary.parameters(), lr=0.5)
    for _ in range(60):
        head.zero_grad()
        adversary.loss(features, domains, 1.0).backward()
        head.step()
    adversary.eval()                                   # no dropout: the two passes below see one network
    assert adversary.loss(features, domains, 1.0).item() < 0.3
    probe = features.clone().requires_grad_(True)
    adversary.loss(probe, domains, 1.0).backward()
    plain = features.clone().requires_grad_(True)
    torch.nn.functional.cross_entropy(adversary.net(plain), domains).backward()
    assert torch.allclose(probe.grad, -plain.grad)    # the features get the gradient that makes it worse


# --------------------------------------------------------------------------- balanced batches

def test_balanced_weights_give_every_corpus_the_same_share():
    corpora = ["BIG"] * 2800 + ["SMALL"] * 300
    weights = balanced_weights(corpora)
    assert weights.sum() == pytest.approx(1.0)
    assert weights[:2800].sum() == pytest.approx(0.5) and weights[2800:].sum() == pytest.approx(0.5)


def test_balanced_batches_hit_each_corpus_within_ten_percent_of_even_over_an_epoch():
    corpora = ["BIG"] * 2800 + ["MID"] * 900 + ["SMALL"] * 300
    drawn = np.asarray(corpora)[list(CorpusBalancedSampler(corpora, seed=0))]
    assert len(drawn) == len(corpora)
    for corpus in ("BIG", "MID", "SMALL"):
        share = np.mean(drawn == corpus)
        assert abs(share - 1 / 3) < 0.1 / 3, f"{corpus}: {share:.3f} of the draws"
    plain = np.mean(np.asarray(corpora) == "SMALL")
    assert plain < 0.1                                 # what shuffling alone would give the small corpus


def test_classes_within_each_corpus_are_balanced_too_when_asked():
    rng = np.random.default_rng(0)
    corpora = np.array(["BIG"] * 8000 + ["SMALL"] * 2000)      # 5,000 draws per corpus: sd of a share 0.006
    targets = np.concatenate([rng.choice(4, 8000, p=[0.7, 0.1, 0.1, 0.1]), rng.choice(4, 2000, p=[0.1, 0.1, 0.1, 0.7])])
    weights = balanced_weights(list(corpora), list(targets))
    for corpus in ("BIG", "SMALL"):                              # exactly even in expectation
        mine = corpora == corpus
        assert np.allclose([weights[mine & (targets == k)].sum() for k in range(4)], 0.125)
    order = list(CorpusBalancedSampler(list(corpora), list(targets), seed=1))
    for corpus in ("BIG", "SMALL"):
        picked = targets[order][corpora[order] == corpus]
        shares = np.bincount(picked, minlength=4) / len(picked)
        assert np.all(np.abs(shares - 0.25) < 0.025), f"{corpus}: class shares {shares.round(3)}"


def test_the_sampler_is_seeded_and_redraws_per_epoch():
    corpora = ["A"] * 50 + ["B"] * 10
    first, again = CorpusBalancedSampler(corpora, seed=3), CorpusBalancedSampler(corpora, seed=3)
    assert list(first) == list(again)
    epoch_zero = list(first)
    first.set_epoch(1)
    assert list(first) != epoch_zero


# --------------------------------------------------------------------------- in training

@pytest.fixture(scope="module")
def speaker_validated_split(demo_split, tmp_path_factory) -> DemoSplit:
    """The demo corpora split with validation speakers from both training corpora (DEMOA, DEMOB train)."""
    from specct.data.splits import SplitOptions, run_split_stage

    out = tmp_path_factory.mktemp("two_training_corpora")
    split = run_split_stage(SplitOptions(eval_dataset="DEMOC", num_classes="4", seed=0, validation="speakers",
                                         datasets_dir=str(demo_split.datasets), output_dir=str(out)))[0]
    return DemoSplit(demo_split.root, demo_split.datasets, split.out_dir)


def test_the_corpus_head_reads_only_training_rows_of_training_corpora(speaker_validated_split, tmp_path,
                                                                      monkeypatch):
    split = speaker_validated_split
    read = []
    original = CorpusAdversary.loss

    def recording(self, features, domains, scale):
        read.append((domains.tolist(), scale))
        return original(self, features, domains, scale)

    monkeypatch.setattr(CorpusAdversary, "loss", recording)
    out = tmp_path / "dann"
    train(tiny_args(split.train_dir, out, domain_adversarial=0.5, epochs=2, max_steps=0))
    train_rows = pd.read_csv(split.train_dir / "train.csv")
    training_corpora = sorted(train_rows["corpus"].unique())
    assert training_corpora == ["DEMOA", "DEMOB"]

    record = yaml.safe_load((out / "args.yaml").read_text())["domain_adversarial"]
    assert record["variant"] == "inductive" and record["domains"] == training_corpora
    labels = [d for batch, _ in read for d in batch]
    assert len(labels) == 2 * len(train_rows)          # every training row, once per epoch, nothing else
    counts = np.bincount(labels, minlength=2) / 2
    assert counts.tolist() == [float((train_rows["corpus"] == c).sum()) for c in training_corpora]
    scales = [s for _, s in read]
    assert scales[0] == 0.0 and all(b >= a for a, b in zip(scales, scales[1:])) and 0 < scales[-1] <= 0.5
    assert load_checkpoint(out / LAST_NAME)["domain_adversary"] is not None


def test_a_dann_run_resumes_with_its_adversary(speaker_validated_split, tmp_path):
    from test_train import Interrupted, _stop_after

    split = speaker_validated_split
    flags = dict(domain_adversarial=0.3, epochs=2, max_steps=2, precision="float32")
    train(tiny_args(split.train_dir, tmp_path / "whole", **flags))
    with pytest.raises(Interrupted):
        train(tiny_args(split.train_dir, tmp_path / "parts", **flags), on_epoch_end=_stop_after(1))
    train(tiny_args(split.train_dir, tmp_path / "parts", resume="auto", **flags))
    whole, parts = load_checkpoint(tmp_path / "whole" / LAST_NAME), load_checkpoint(tmp_path / "parts" / LAST_NAME)
    for key in ("state_dict", "domain_adversary"):
        for name in whole[key]:
            assert torch.equal(whole[key][name], parts[key][name]), f"{key}.{name} differs after resume"


def test_dann_is_refused_where_a_row_has_no_one_corpus(speaker_validated_split, tmp_path, demo_split):
    with pytest.raises(InputError, match="mixup"):
        train(tiny_args(speaker_validated_split.train_dir, tmp_path / "m", domain_adversarial=0.5, mixup=0.4))
    with pytest.raises(InputError, match="two or more training corpora"):   # corpus validation: one left
        train(tiny_args(demo_split.train_dir, tmp_path / "one", domain_adversarial=0.5))


def test_balanced_training_reads_the_small_corpus_as_often_as_the_big_one(speaker_validated_split, tmp_path,
                                                                          monkeypatch):
    from specct.train import loop

    split = speaker_validated_split
    train_rows = pd.read_csv(split.train_dir / "train.csv")
    loaders = []
    original = loop.make_loader

    def recording(dataset, batch_size, shuffle, *rest, **kwargs):
        loader = original(dataset, batch_size, shuffle, *rest, **kwargs)
        if shuffle:
            loaders.append(loader)
        return loader

    monkeypatch.setattr(loop, "make_loader", recording)
    train(tiny_args(split.train_dir, tmp_path / "bal", balance_corpora="corpora", epochs=1, max_steps=1))
    assert type(loaders[0].sampler).__name__ == "CorpusBalancedSampler"
    assert yaml.safe_load((tmp_path / "bal" / "args.yaml").read_text())["balance_corpora"] == "corpora"
    order = np.asarray(train_rows["corpus"])[list(loaders[0].sampler)]
    assert abs(np.mean(order == "DEMOA") - 0.5) < 0.25   # a small epoch: loosely even (exact: tests above)


def test_the_transductive_variant_adds_the_held_out_audio_as_a_domain_without_its_labels(
        speaker_validated_split, tmp_path, monkeypatch):
    from specct.stages.evaluate import evaluate
    from specct.train import loop

    split = speaker_validated_split
    read, built = [], []
    original_loss, original_build = CorpusAdversary.loss, loop.domain_adversarial

    def recording(self, features, domains, scale):
        read.append(domains.tolist())
        return original_loss(self, features, domains, scale)

    def building(*a, **k):
        built.append(original_build(*a, **k))
        return built[-1]

    monkeypatch.setattr(CorpusAdversary, "loss", recording)
    monkeypatch.setattr(loop, "domain_adversarial", building)
    out = tmp_path / "transductive"
    train(tiny_args(split.train_dir, out, domain_adversarial=0.5, domain_adversarial_variant="transductive",
                    epochs=1, max_steps=0))
    test_rows = pd.read_csv(split.test_csv)
    dann = built[0]
    assert dann.variant == "transductive" and dann.unlabelled_corpus == "DEMOC"
    assert len(dann.unlabelled.dataset) == len(test_rows)
    assert set(dann.unlabelled.dataset.targets) == {0}          # the held-out labels are never handed over
    labels = np.array([d for batch in read for d in batch])
    assert set(labels) == {0, 1, 2} and (labels == 2).sum() >= len(test_rows) // 2

    record = yaml.safe_load((out / "args.yaml").read_text())["domain_adversarial"]
    assert record["variant"] == "transductive" and record["domains"][-1] == "DEMOC (unlabelled)"
    assert "DEMOC" in record["transductive"]
    evaluate(out, data_test_path=split.test_csv, output=tmp_path / "eval", bootstrap=20, progress=False)
    performance = yaml.safe_load((tmp_path / "eval" / "performance.yaml").read_text())
    assert "transductive" in performance["transductive_training"]


def test_the_inductive_variant_says_nothing_transductive(speaker_validated_split, tmp_path):
    from specct.stages.evaluate import evaluate

    split = speaker_validated_split
    out = tmp_path / "inductive"
    train(tiny_args(split.train_dir, out, domain_adversarial=0.5, epochs=1, max_steps=2))
    args = (out / "args.yaml").read_text()
    assert "variant: inductive" in args and "transductive:" not in args.replace("domain_adversarial_variant", "")
    evaluate(out, data_test_path=split.test_csv, output=tmp_path / "eval", bootstrap=20, progress=False)
    assert "transductive" not in (tmp_path / "eval" / "performance.yaml").read_text()
