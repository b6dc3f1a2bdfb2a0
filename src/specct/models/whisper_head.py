"""The EmoBox / SUPERB probe on a frozen speech encoder's frames: ``whisper_head``.

Input: every encoder layer's frames, (batch, frames, layers, hidden), zero-padded, with each clip's
number of real frames. The head

1. normalises each layer (layer norm without parameters, as SUPERB's featurizer does: Whisper's
   layers differ in scale by orders of magnitude, so an unnormalised sum would be decided by scale);
2. sums the layers with softmax weights it learns (initially equal);
3. projects each frame to ``hidden`` units (ReLU, dropout): the one hidden layer;
4. pools the real frames by self-attention (a learned score per frame, softmax over the clip's own
   frames; padding frames get no weight);
5. classifies the pooled vector (softmax over the classes in the loss and at prediction).

Like the speaker models it takes one tuple, ``model((frames, lengths))``, so specct's training
engine passes both through unchanged.

    timm.create_model('whisper_head', num_classes=4, num_layers=7, in_dim=512)   # Whisper base
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .linear import Linear

__all__ = ['WhisperHead', 'AttentivePool']


class AttentivePool(nn.Module):
    """Self-attention pooling over the real frames: softmax of a learned score per frame."""

    def __init__(self, dim: int):
        super().__init__()
        self.score = Linear(dim, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        scores = self.score(x).squeeze(-1).float().masked_fill(~mask, float('-inf'))
        weights = scores.softmax(dim=1).to(x.dtype)                  # (B, T): zero on padding frames
        return torch.einsum('bt,btd->bd', weights, x)


class WhisperHead(nn.Module):
    """Learned layer weights, one hidden layer on each frame, attentive pooling, a linear classifier."""

    def __init__(self, num_classes: int = 4, num_layers: int = 7, in_dim: int = 512, hidden: int = 256,
                 drop_rate: float = 0.1, **kwargs):
        super().__init__()
        self.num_classes, self.num_layers, self.in_dim, self.hidden = num_classes, num_layers, in_dim, hidden
        self.layer_weights = nn.Parameter(torch.zeros(num_layers))
        self.proj = Linear(in_dim, hidden)
        self.drop = nn.Dropout(drop_rate)
        self.pool = AttentivePool(hidden)
        self.head = Linear(hidden, num_classes)

    def layer_mix(self) -> torch.Tensor:
        """The layers' weights (softmax), what the head learnt about where emotion is."""
        return self.layer_weights.softmax(dim=0)

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool=None) -> None:
        self.num_classes = num_classes
        self.head = Linear(self.hidden, num_classes)

    def forward_features(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(frames.float(), (frames.shape[-1],))
        x = torch.einsum('btlh,l->bth', x, self.layer_mix())
        x = self.drop(F.relu(self.proj(x)))
        mask = torch.arange(x.shape[1], device=x.device)[None] < lengths.to(x.device)[:, None]
        return self.pool(x, mask)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.head(self.drop(x))

    def forward(self, inputs: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        frames, lengths = inputs
        return self.forward_head(self.forward_features(frames, lengths))


def _cfg(**kwargs) -> Dict:
    return {'url': '', 'num_classes': 4, 'input_size': None, 'classifier': 'head',
            'notes': ('a probe on cached frozen Whisper frames; trained from scratch, no pretrained weights',),
            **kwargs}


default_cfgs = generate_default_cfgs({'whisper_head': _cfg()})


@register_model
def whisper_head(pretrained: bool = False, **kwargs) -> WhisperHead:
    return build_model_with_cfg(WhisperHead, 'whisper_head', pretrained, **kwargs)
