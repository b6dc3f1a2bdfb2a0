"""Domain-adversarial training (DANN, Ganin & Lempitsky 2015) for any image model, plain or speaker-fused.

A corpus classifier reads the model's pooled features (``forward_head(pre_logits=True)``) through a
gradient-reversal layer: it learns to tell the corpora apart while the features below it are pushed
to make that impossible. The reversal's weight ramps from 0 to ``--domain_adversarial LAMBDA`` with
the usual schedule 2 / (1 + exp(-10 p)) - 1 over the training's progress p, so the emotion head
settles before the features are pulled.

*Inductive* (the variant built here): the domains are the training corpora of the split; nothing of
the held-out corpus is read. The validation corpus of a whole-corpus validation split is not a
domain either: its rows are never trained on.
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


class DomainAdversarial:
    """What the training loop needs: the adversary, each training row's domain, the ramp's weight."""

    def __init__(self, weight: float, corpora_of_rows: Sequence[str], num_features: int, total_updates: int):
        self.corpora = sorted(set(corpora_of_rows))
        if len(self.corpora) < 2:
            from ..errors import InputError

            raise InputError(f"--domain_adversarial needs two or more training corpora; the training rows come "
                             f"from {', '.join(self.corpora) or 'none'}")
        index = {c: i for i, c in enumerate(self.corpora)}
        self.domains = torch.as_tensor(np.array([index[c] for c in corpora_of_rows]), dtype=torch.long)
        self.adversary = CorpusAdversary(num_features, self.corpora)
        self.weight, self.total_updates = float(weight), max(int(total_updates), 1)

    def scale(self, num_updates: int) -> float:
        return self.weight * ramp(num_updates / self.total_updates)

    def record(self) -> dict:
        return {"domain_adversarial": {"variant": "inductive", "weight": self.weight, "domains": self.corpora,
                                       "schedule": "2/(1+exp(-10p))-1"}}


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
