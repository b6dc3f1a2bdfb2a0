"""Online SpecAugment on the image tensor: time masks (bands of columns) and frequency masks
(bands of rows), drawn afresh for every training image, never applied at validation or test.

The image of a spectrogram has time along the width and frequency along the height (low
frequencies at the bottom), so a time mask blanks whole columns and a frequency mask whole rows.
A blanked band takes ``fill`` (0 by default: after normalisation with the model's mean and std,
0 is the mean colour, as SpecAugment fills masks with the mean). Off unless masks are asked for.

As the offline augmentations: the draw (``draw(rng, ...) -> params``) is separate from the
transform (``apply(images, params)``), so a seeded draw is reproducible and the transform testable.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.errors import InputError


@dataclass(frozen=True)
class MaskParams:
    """Per image and mask: first column (row) and width (height) in pixels; width 0 = no mask."""
    time_start: np.ndarray   # (batch, time_masks)
    time_width: np.ndarray
    freq_start: np.ndarray   # (batch, freq_masks)
    freq_width: np.ndarray


@dataclass(frozen=True)
class SpecAugment:
    time_masks: int = 0
    max_time_fraction: float = 0.1   # widest time mask, as a fraction of the image width
    freq_masks: int = 0
    max_freq_fraction: float = 0.1   # tallest frequency mask, as a fraction of the image height
    fill: float = 0.0

    def __post_init__(self):
        if self.time_masks < 0 or self.freq_masks < 0:
            raise InputError(f"SpecAugment: mask counts must be >= 0, got {self.time_masks} time and "
                             f"{self.freq_masks} frequency masks")
        for name in ("max_time_fraction", "max_freq_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"SpecAugment: {name} must be in [0, 1], got {value}")

    @property
    def enabled(self) -> bool:
        return (self.time_masks > 0 and self.max_time_fraction > 0) or \
            (self.freq_masks > 0 and self.max_freq_fraction > 0)

    def draw(self, rng: np.random.Generator, batch: int, height: int, width: int) -> MaskParams:
        """Each mask's width uniform in [0, fraction x size], its start uniform where it fits."""
        def bands(count: int, fraction: float, size: int):
            widest = int(np.floor(fraction * size))
            w = rng.integers(0, widest + 1, size=(batch, count))
            start = np.floor(rng.random((batch, count)) * (size - w + 1)).astype(np.int64)
            return start, w

        t_start, t_width = bands(self.time_masks, self.max_time_fraction, width)
        f_start, f_width = bands(self.freq_masks, self.max_freq_fraction, height)
        return MaskParams(t_start, t_width, f_start, f_width)

    def apply(self, images: torch.Tensor, params: MaskParams) -> torch.Tensor:
        """A copy of ``images`` (B, C, H, W) with the bands of ``params`` set to ``fill``."""
        _, _, height, width = images.shape

        def band_mask(start, size_of, length):
            start = torch.as_tensor(start, device=images.device).unsqueeze(-1)      # (B, M, 1)
            stop = start + torch.as_tensor(size_of, device=images.device).unsqueeze(-1)
            position = torch.arange(length, device=images.device)                   # (L,)
            return ((position >= start) & (position < stop)).any(dim=1)            # (B, L)

        cols = band_mask(params.time_start, params.time_width, width)               # (B, W)
        rows = band_mask(params.freq_start, params.freq_width, height)              # (B, H)
        blank = cols[:, None, None, :] | rows[:, None, :, None]                     # (B, 1, H, W)
        return images.masked_fill(blank, self.fill)

    def __call__(self, images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        batch, _, height, width = images.shape
        return self.apply(images, self.draw(rng, batch, height, width))


def from_args(args) -> SpecAugment | None:
    """The SpecAugment that train.py's flags ask for, or None (the default: no masks)."""
    augment = SpecAugment(time_masks=args.specaugment_time_masks, max_time_fraction=args.specaugment_time_width,
                          freq_masks=args.specaugment_freq_masks, max_freq_fraction=args.specaugment_freq_width)
    return augment if augment.enabled else None
