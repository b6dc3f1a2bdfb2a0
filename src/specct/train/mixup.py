"""Mixup for speaker models: images and speaker vectors are mixed with one lambda and one pairing.

Mixing only the image would pair a blend of two utterances with the voice of one of them; the
speaker vector of a mixed sample is the same blend of the two speakers' vectors.
"""
from __future__ import annotations

import numpy as np
import torch

from .losses import one_hot_smoothed


class SpeakerMixup:
    """Draw ``lam ~ Beta(alpha, alpha)`` and a permutation per batch, with probability ``prob``.

    The random draw (:meth:`draw`) is separate from applying it (:meth:`apply`), so a seeded
    generator gives the same mixes on a resumed run.
    """

    def __init__(self, alpha: float, num_classes: int, prob: float = 1.0, smoothing: float = 0.0):
        if alpha <= 0:
            raise ValueError("mixup alpha must be positive")
        self.alpha, self.num_classes, self.prob, self.smoothing = alpha, num_classes, prob, smoothing

    def draw(self, batch_size: int, rng: np.random.Generator) -> tuple[float, np.ndarray]:
        if rng.random() >= self.prob:
            return 1.0, np.arange(batch_size)
        return float(rng.beta(self.alpha, self.alpha)), rng.permutation(batch_size)

    def apply(self, images: torch.Tensor, speaker: torch.Tensor, targets: torch.Tensor, lam: float,
              order: np.ndarray):
        """Return mixed images, mixed speaker vectors and soft targets."""
        index = torch.as_tensor(order, device=images.device)
        soft = one_hot_smoothed(targets, self.num_classes, self.smoothing)
        if lam >= 1.0:
            return images, speaker, soft
        mixed_images = images * lam + images[index] * (1.0 - lam)
        mixed_speaker = speaker * lam + speaker[index] * (1.0 - lam) if speaker.numel() else speaker
        return mixed_images, mixed_speaker, soft * lam + soft[index] * (1.0 - lam)

    def __call__(self, images, speaker, targets, rng: np.random.Generator):
        lam, order = self.draw(images.shape[0], rng)
        return self.apply(images, speaker, targets, lam, order)
