"""Test-time statistics: what a model may learn from the unlabelled audio of the corpus it is tested on.

Both options are TRANSDUCTIVE (they read the held-out corpus's unlabelled images before predicting
it), off by default, set when training (``train.py --test_time_bn``, ``--input_norm corpus``), kept in
the checkpoint's args and applied whenever the model scores a test set; every performance.yaml
they touch says so.

- ``--test_time_bn``: for models with batch normalisation (the CNN-LSTM and CNN-Transformer
  families), the running mean and variance of every BatchNorm layer are re-estimated on the test
  rows (a cumulative average over one pass, no weights changed) before they are predicted. The
  validation rows are scored the same way during training (their own statistics), so the epoch is
  chosen, and the option judged, as the model will be used on an unseen corpus.
- ``--input_norm corpus``: every image standardised per corpus, channel and frequency row with the
  statistics of its own corpus's rows in the same set (training rows per training corpus, validation
  rows per validation corpus, test rows per test corpus): the image analogue of ``--speaker_norm
  corpus``, for any model, the CCTs among them.
"""
from __future__ import annotations

import copy
from typing import Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

INPUT_NORMS = ("none", "corpus")
BN_NOTE = ("batch-norm statistics re-estimated on the test rows' own unlabelled images before predicting "
           "(--test_time_bn)")
INPUT_NOTE = ("images standardised per corpus and frequency row with the statistics of the test corpus's own "
              "unlabelled images (--input_norm corpus)")

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


# --------------------------------------------------------------------------- batch norm

def batch_norm_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, _BATCH_NORMS)]


def reestimate_batch_norm(model: nn.Module, batches, forward) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are the cumulative average over
    ``batches`` (fed through ``forward(model, batch)``); every other layer in eval mode, no gradient,
    no weight changed. The model passed in is left as it was."""
    adapted = copy.deepcopy(model)
    layers = batch_norm_layers(adapted)
    if not layers:
        return adapted
    adapted.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None          # cumulative average over the pass, not a moving one
        layer.train()
    with torch.no_grad():
        for batch in batches:
            forward(adapted, batch)
    adapted.eval()
    return adapted


def batch_forward(device: torch.device, speaker_model: bool, precision_used: str):
    """``forward(model, batch)`` for reestimate_batch_norm over a split loader's batches
    (images, speaker vectors, targets, rows)."""
    from ..core.precision import autocast

    def forward(model: nn.Module, batch) -> None:
        images, speaker = batch[0].to(device), batch[1].to(device)
        with autocast(device.type, precision_used):
            model((images, speaker) if speaker_model else images)
    return forward


# --------------------------------------------------------------------------- per-corpus input statistics

def corpus_statistics(dataset: Dataset, corpora: Sequence[str], batch_size: int = 64) -> dict[str, tuple]:
    """Per corpus, the mean and standard deviation of its rows' images per channel and row (C, H, 1)."""
    corpora = np.asarray(corpora)
    sums, squares, counts = {}, {}, {}
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    for images, _, _, rows in loader:
        row_corpora = corpora[rows.numpy()]
        for corpus in np.unique(row_corpora):
            part = images[torch.as_tensor(row_corpora == corpus)].double()
            sums[corpus] = sums.get(corpus, 0) + part.sum(dim=(0, 3))
            squares[corpus] = squares.get(corpus, 0) + (part ** 2).sum(dim=(0, 3))
            counts[corpus] = counts.get(corpus, 0) + part.shape[0] * part.shape[3]
    stats = {}
    for corpus, total in sums.items():
        mean = total / counts[corpus]
        std = (squares[corpus] / counts[corpus] - mean ** 2).clamp_min(0).sqrt().clamp_min(1e-3)
        stats[str(corpus)] = (mean.float().unsqueeze(-1), std.float().unsqueeze(-1))
    return stats


class CorpusStandardised(Dataset):
    """A split dataset whose images are standardised with their own corpus's statistics."""

    def __init__(self, dataset: Dataset, corpora: Sequence[str], batch_size: int = 64):
        self.dataset, self.corpora = dataset, [str(c) for c in corpora]
        self.stats = corpus_statistics(dataset, self.corpora, batch_size)
        self.targets = getattr(dataset, "targets", None)
        self.frame = getattr(dataset, "frame", None)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, speaker, target, row = self.dataset[index]
        mean, std = self.stats[self.corpora[index]]
        return (image - mean) / std, speaker, target, row


def standardise_by_corpus(dataset: Dataset, frame, input_norm: str):
    """``dataset`` as ``--input_norm`` says (``none``: as it is)."""
    if input_norm == "none" or len(dataset) == 0:
        return dataset
    return CorpusStandardised(dataset, list(frame["corpus"]))


def notes(args: dict) -> dict:
    """What performance.yaml says about the test-time options a model was trained with."""
    found = {}
    if args.get("test_time_bn"):
        found["transductive_batch_norm"] = BN_NOTE
    if args.get("input_norm", "none") != "none":
        found["transductive_input_norm"] = INPUT_NOTE
    return found
