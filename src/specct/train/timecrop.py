"""Online word-length crops on the image tensor: a training image, with some probability, is
replaced by a random stretch of its columns (a fraction of the utterance's time axis) resized back
to the full width, drawn afresh for every training image, never at validation or test.

Images show a whole utterance stretched to the width, so a corpus of sentences and a corpus of
single words are drawn at time scales several times apart. A crop of a quarter to a half of a
two- or three-second sentence, stretched to the width, is what a word of such a corpus looks like;
training on some crops shows a sentence-trained model that shorter kind of image. Off unless a
probability is asked for.

As SpecAugment: the draw (``draw(rng, ...) -> params``) is separate from the transform
(``apply(images, params)``), so a seeded draw is reproducible and the transform testable.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import InputError


@dataclass(frozen=True)
class CropParams:
    """Per image: first column and width in pixels of the kept stretch; width 0 = image kept whole."""
    start: np.ndarray   # (batch,)
    width: np.ndarray


@dataclass(frozen=True)
class TimeCrop:
    probability: float = 0.0     # chance that a training image is cropped
    min_fraction: float = 0.25   # shortest kept stretch, as a fraction of the width
    max_fraction: float = 0.5    # longest kept stretch

    def __post_init__(self):
        if not 0.0 <= self.probability <= 1.0:
            raise InputError(f"time crop: probability must be in [0, 1], got {self.probability}")
        if not 0.0 < self.min_fraction <= self.max_fraction <= 1.0:
            raise InputError(f"time crop: need 0 < min_fraction <= max_fraction <= 1, got "
                             f"{self.min_fraction} and {self.max_fraction}")

    @property
    def enabled(self) -> bool:
        return self.probability > 0 and self.min_fraction < 1.0

    def draw(self, rng: np.random.Generator, batch: int, width: int) -> CropParams:
        """Which images are cropped, each kept width uniform in the fractions' range (at least one
        column), its start uniform where it fits."""
        cropped = rng.random(batch) < self.probability
        fraction = rng.uniform(self.min_fraction, self.max_fraction, size=batch)
        kept = np.clip(np.rint(fraction * width), 1, width).astype(np.int64)
        start = np.floor(rng.random(batch) * (width - kept + 1)).astype(np.int64)
        return CropParams(start=np.where(cropped, start, 0), width=np.where(cropped, kept, 0))

    def apply(self, images: torch.Tensor, params: CropParams) -> torch.Tensor:
        """A copy of ``images`` (B, C, H, W) in which each cropped image is its kept columns resized
        (bilinear, as the images were drawn) to the full width; rows are untouched."""
        out = images.clone()
        _, _, height, width = images.shape
        for i in np.flatnonzero(params.width):
            start, kept = int(params.start[i]), int(params.width[i])
            stretch = images[i:i + 1, :, :, start:start + kept]
            out[i] = F.interpolate(stretch, size=(height, width), mode="bilinear", align_corners=False)[0]
        return out

    def __call__(self, images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        batch, _, _, width = images.shape
        return self.apply(images, self.draw(rng, batch, width))


def from_args(args) -> TimeCrop | None:
    """The time crop that train.py's flags ask for, or None (the default: no crops)."""
    crop = TimeCrop(probability=args.time_crop_prob, min_fraction=args.time_crop_min,
                    max_fraction=args.time_crop_max)
    return crop if crop.enabled else None
