"""The training loss: cross-entropy or focal loss, with class weights and label smoothing.

One class handles hard targets (class indices) and soft targets (after mixup) alike, so that class
weights, smoothing and focusing act the same way whichever the batch holds.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F


def balanced_class_weights(counts: Sequence[int]) -> torch.Tensor:
    """Weights inversely proportional to class frequency, ``n / (k * count)`` as scikit-learn's
    "balanced": every class then carries the same total weight, and the average weight per sample is 1.

    A class absent from the training set gets weight 0: nothing to learn from it.
    """
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    weights[present] = counts[present].sum() / (present.sum() * counts[present])
    return torch.tensor(weights, dtype=torch.float32)


def one_hot_smoothed(targets: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """Class indices as probability rows with ``smoothing`` spread evenly over all classes."""
    off = smoothing / num_classes
    soft = torch.full((targets.shape[0], num_classes), off, device=targets.device)
    return soft.scatter_(1, targets.view(-1, 1), 1.0 - smoothing + off)


class EmotionLoss(torch.nn.Module):
    """``-sum_c w_c t_c (1 - p_c)^gamma log p_c``, averaged with the per-sample weight ``sum_c w_c t_c``.

    ``gamma = 0`` is (weighted) cross-entropy; ``gamma > 0`` is focal loss (Lin et al. 2017), which
    lowers the weight of well-classified utterances so minority emotions count for more.
    """

    def __init__(self, num_classes: int, class_weights: torch.Tensor | None = None, smoothing: float = 0.0,
                 focal_gamma: float = 0.0):
        super().__init__()
        self.num_classes = num_classes
        self.smoothing = smoothing
        self.focal_gamma = focal_gamma
        weights = class_weights if class_weights is not None else torch.ones(num_classes)
        self.register_buffer("class_weights", weights.float())

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if targets.dim() == 1:
            targets = one_hot_smoothed(targets, self.num_classes, self.smoothing)
        log_p = F.log_softmax(logits.float(), dim=-1)
        per_class = -targets * log_p * self.class_weights
        if self.focal_gamma > 0:
            per_class = per_class * (1.0 - log_p.exp()).pow(self.focal_gamma)
        sample_weight = (targets * self.class_weights).sum(dim=-1)
        return per_class.sum() / sample_weight.sum().clamp_min(1e-12)
