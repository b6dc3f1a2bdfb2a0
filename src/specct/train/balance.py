"""Corpus-balanced batches (``--balance_corpora``): every training corpus drawn as often as any other,
so that a corpus of 2,800 rows does not drown one of 300 (and, with ``corpora_classes``, every class
as often as any other within each corpus). Rows are drawn with replacement, as many per epoch as
the training set has, from a generator seeded by the run's seed and the epoch."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

def balanced_weights(corpora: Sequence[str], targets: Sequence[int] | None = None) -> np.ndarray:
    """Each row's probability: 1 / (corpora x rows of its corpus), or with ``targets`` 1 / (corpora x
    classes of its corpus x rows of its class there)."""
    corpora = np.asarray(corpora)
    keys = corpora if targets is None else np.array([f"{c}\0{t}" for c, t in zip(corpora, targets)])
    _, group, counts = np.unique(keys, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[group]
    for corpus in np.unique(corpora):           # every corpus the same total weight
        mine = corpora == corpus
        weights[mine] /= weights[mine].sum()
    return weights / weights.sum()


class CorpusBalancedSampler(Sampler):
    def __init__(self, corpora: Sequence[str], targets: Sequence[int] | None = None, seed: int = 0):
        self.weights = torch.as_tensor(balanced_weights(corpora, targets), dtype=torch.double)
        self.seed, self.epoch = int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.weights)

    def __iter__(self):
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.multinomial(self.weights, len(self.weights), replacement=True,
                                      generator=generator).tolist())
