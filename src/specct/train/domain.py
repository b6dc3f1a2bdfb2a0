"""Domain-adversarial training (DANN, Ganin & Lempitsky 2015) for any image model, plain or speaker-fused.

A corpus classifier reads the model's pooled features (``forward_head(pre_logits=True)``) through a
gradient-reversal layer: it learns to tell the corpora apart while the features below it are pushed
to make that impossible. The reversal's weight ramps from 0 to ``--domain_adversarial LAMBDA`` with
the usual schedule 2 / (1 + exp(-10 p)) - 1 over the training's progress p, so the emotion head
settles before the features are pulled.

Two variants, named apart in args.yaml, performance.yaml and the report:

- *inductive* (the default): the domains are the training corpora of the split; nothing of the
  held-out corpus is read. The validation corpus of a whole-corpus validation split is not a domain
  either: its rows are never trained on.
- *transductive*: the held-out corpus's unlabelled audio (the split's test rows, their images and
  speaker vectors; never their labels) joins as one more domain. Each training batch is paired with
  a batch of those rows, which reach the corpus head only.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch import nn


class _Reverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale: float):
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return -ctx.scale * grad, None


def reverse_gradient(x: torch.Tensor, scale: float) -> torch.Tensor:
    """The identity forward; the gradient backward multiplied by ``-scale``."""
    return _Reverse.apply(x, float(scale))


def ramp(progress: float) -> float:
    """DANN's schedule: 0 at the start of training, about 0.99 at half way, 1 at the end."""
    return 2.0 / (1.0 + math.exp(-10.0 * min(max(progress, 0.0), 1.0))) - 1.0


class CorpusAdversary(nn.Module):
    """A small MLP naming the corpus of each row from the model's pooled features."""

    def __init__(self, num_features: int, corpora: Sequence[str], hidden: int = 256, dropout: float = 0.1):
        super().__init__()
        self.corpora = list(corpora)
        self.net = nn.Sequential(nn.Linear(num_features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, len(self.corpora)))
        self.seen: set[int] = set()         # the domain labels it was trained on (tests read it)

    def loss(self, features: torch.Tensor, domains: torch.Tensor, scale: float) -> torch.Tensor:
        self.seen.update(int(d) for d in domains.unique())
        logits = self.net(reverse_gradient(features, scale))
        return nn.functional.cross_entropy(logits.float(), domains)


VARIANTS = ("inductive", "transductive")


class DomainAdversarial:
    """What the training loop needs: the adversary, each training row's domain, the ramp's weight and,
    transductive, the unlabelled held-out rows (``unlabelled``: a loader of them, cycled)."""

    def __init__(self, weight: float, corpora_of_rows: Sequence[str], num_features: int, total_updates: int,
                 unlabelled=None, unlabelled_corpus: str | None = None, unlabelled_source: str = ""):
        self.corpora = sorted(set(corpora_of_rows))
        self.variant = "inductive" if unlabelled is None else "transductive"
        if len(self.corpora) < 2 and unlabelled is None:
            from ..core.errors import InputError

            raise InputError(f"--domain_adversarial needs two or more training corpora (inductive); the training "
                             f"rows come from {', '.join(self.corpora) or 'none'}")
        index = {c: i for i, c in enumerate(self.corpora)}
        self.domains = torch.as_tensor(np.array([index[c] for c in corpora_of_rows]), dtype=torch.long)
        self.unlabelled, self.unlabelled_corpus, self.unlabelled_source = unlabelled, unlabelled_corpus, unlabelled_source
        self._batches = None
        names = self.corpora + ([f"{unlabelled_corpus} (unlabelled)"] if unlabelled is not None else [])
        self.adversary = CorpusAdversary(num_features, names)
        self.weight, self.total_updates = float(weight), max(int(total_updates), 1)

    @property
    def unlabelled_domain(self) -> int:
        return len(self.corpora)

    def start_epoch(self, epoch: int) -> None:
        """Each epoch its own seeded order of the held-out rows, from their start (so a resumed run
        pairs the same batches as an uninterrupted one)."""
        if self.unlabelled is not None:
            sampler = getattr(self.unlabelled, "sampler", None)
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            self._batches = None

    def next_unlabelled(self):
        """The next batch of the held-out corpus's rows (images, speaker vectors); the loader restarts
        when it is used up. Their labels are never taken."""
        if self._batches is None:
            self._batches = iter(self.unlabelled)
        try:
            images, speaker, _, _ = next(self._batches)
        except StopIteration:
            self._batches = iter(self.unlabelled)
            images, speaker, _, _ = next(self._batches)
        return images, speaker

    def scale(self, num_updates: int) -> float:
        return self.weight * ramp(num_updates / self.total_updates)

    def record(self) -> dict:
        record = {"variant": self.variant, "weight": self.weight, "domains": self.adversary.corpora,
                  "schedule": "2/(1+exp(-10p))-1"}
        if self.variant == "transductive":
            record["transductive"] = (f"the unlabelled audio of {self.unlabelled_corpus} ({self.unlabelled_source}, "
                                      f"{len(self.unlabelled.dataset)} rows, labels not read) was a domain of the "
                                      f"corpus head in training")
        return {"domain_adversarial": record}


def unlabelled_frame(frame):
    """The held-out rows as the transductive variant reads them: their labels blanked, so nothing
    downstream can read them (every target 0, every emotion empty)."""
    frame = frame.copy()
    frame["target"] = 0
    frame["emotion"] = ""
    return frame


def pooled_and_logits(model, images: torch.Tensor, speaker: torch.Tensor, speaker_model: bool):
    """The model's pooled features and its logits from one pass through its body."""
    features = model.forward_features((images, speaker) if speaker_model else images)
    pooled = model.forward_head(features, pre_logits=True)
    return pooled, model.forward_head(features)


def num_pooled_features(model, speaker_model: bool, input_size: Sequence[int], speaker_dim: int | None) -> int:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        device = next(model.parameters()).device
        image = torch.zeros(1, *input_size, device=device)
        speaker = torch.zeros(1, speaker_dim or 0, device=device)
        pooled, _ = pooled_and_logits(model, image, speaker, speaker_model)
    model.train(was_training)
    return int(pooled.shape[-1])
