"""Whisper's top encoder blocks and the whisper_head probe, trained end to end: ``whisper_finetune``.

Input: the hidden states entering block L-k of a frozen Whisper encoder of L blocks,
(batch, frames, 1, hidden) at the encoder's own 50 Hz, zero-padded, with each clip's number of real
frames (the cache of :mod:`specct.baselines.whisper_frames` with ``input_top = k``). The model

1. runs the top k blocks (``transformers``' ``WhisperEncoderLayer``; the pretrained weights are copied
   in by :meth:`WhisperFinetune.load_encoder`), padding frames masked out of the attention as the
   frozen encoder masks them, so a clip gives in a batch what it gives alone;
2. applies the encoder's final layer norm to the last block's output, as the encoder does;
3. hands the k + 1 states (the input and each block's output) to
   :class:`~specct.models.whisper_head.WhisperHead`: learned layer weights, one hidden layer,
   attentive pooling, a linear classifier.

The blocks below L-k are not part of the model: they are frozen and run once, for the cache (and by
predict.py on new audio before this model).

    timm.create_model('whisper_finetune', num_classes=4, blocks=2, encoder_config={'d_model': 512, ...})
"""
from __future__ import annotations

from typing import Dict, Tuple

import torch
import torch.nn as nn
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .whisper_head import WhisperHead

__all__ = ['WhisperFinetune', 'ENCODER_KEYS', 'encoder_config_of']

# What a block needs of the encoder's config; kept in the checkpoint so that it rebuilds the model alone.
ENCODER_KEYS = ('d_model', 'encoder_attention_heads', 'encoder_ffn_dim', 'activation_function', 'dropout',
                'attention_dropout', 'activation_dropout')
WHISPER_BASE = {'d_model': 512, 'encoder_attention_heads': 8, 'encoder_ffn_dim': 2048,
                'activation_function': 'gelu', 'dropout': 0.0, 'attention_dropout': 0.0, 'activation_dropout': 0.0}


def encoder_config_of(config) -> dict:
    """The block settings of a ``WhisperConfig`` (plain values, as a checkpoint stores them)."""
    return {key: getattr(config, key) for key in ENCODER_KEYS}


def padding_mask(lengths: torch.Tensor, frames: int, dtype: torch.dtype) -> torch.Tensor:
    """The additive attention mask (batch, 1, 1, keys) of the frozen encoder: padding keys get no weight."""
    keep = torch.arange(frames, device=lengths.device)[None] < lengths[:, None]
    return torch.zeros(keep.shape, dtype=dtype, device=lengths.device).masked_fill(
        ~keep, torch.finfo(dtype).min)[:, None, None, :]


class WhisperFinetune(nn.Module):
    """The top ``blocks`` Whisper encoder blocks, the final layer norm and a :class:`WhisperHead` on their states."""

    def __init__(self, num_classes: int = 4, blocks: int = 2, encoder_config: Dict | None = None, hidden: int = 256,
                 drop_rate: float = 0.1, **kwargs):
        super().__init__()
        from transformers import WhisperConfig
        from transformers.models.whisper.modeling_whisper import WhisperEncoderLayer

        self.encoder_config = {**WHISPER_BASE, **(encoder_config or {})}
        config = WhisperConfig(**self.encoder_config)
        config._attn_implementation = 'sdpa'   # the fused attention: the same result as eager, faster on CPU
        self.num_classes, self.num_blocks, self.hidden = num_classes, blocks, hidden
        width = int(self.encoder_config['d_model'])
        self.blocks = nn.ModuleList([WhisperEncoderLayer(config) for _ in range(blocks)])
        self.norm = nn.LayerNorm(width)
        self.head = WhisperHead(num_classes, num_layers=blocks + 1, in_dim=width, hidden=hidden, drop_rate=drop_rate)

    def load_encoder(self, encoder) -> None:
        """Start from a pretrained encoder: its top blocks and its final layer norm."""
        top = list(encoder.layers)[len(encoder.layers) - self.num_blocks:]
        for mine, pretrained in zip(self.blocks, top):
            mine.load_state_dict(pretrained.state_dict())
        self.norm.load_state_dict(encoder.layer_norm.state_dict())

    def layer_mix(self) -> torch.Tensor:
        """The head's weights of the input and each block's output (softmax)."""
        return self.head.layer_mix()

    def get_classifier(self) -> nn.Module:
        return self.head.get_classifier()

    def reset_classifier(self, num_classes: int, global_pool=None) -> None:
        self.num_classes = num_classes
        self.head.reset_classifier(num_classes)

    def forward_states(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(batch, frames, blocks + 1, hidden): the input and each trained block's output."""
        x = frames[:, :, -1].float()
        mask = padding_mask(lengths.to(x.device), x.shape[1], x.dtype)
        states = [x]
        for block in self.blocks:
            x = block(x, mask)
            states.append(x)
        states[-1] = self.norm(x)
        return torch.stack(states, dim=2)

    def forward_features(self, frames: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.head.forward_features(self.forward_states(frames, lengths), lengths)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head.forward_head(x, pre_logits)

    def forward(self, inputs: Tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        frames, lengths = inputs
        return self.forward_head(self.forward_features(frames, lengths))


def _cfg(**kwargs) -> Dict:
    return {'url': '', 'num_classes': 4, 'input_size': None, 'classifier': 'head.head',
            'notes': ('the top blocks start from a Whisper encoder given at training (load_encoder); '
                      'the head is trained from scratch',), **kwargs}


default_cfgs = generate_default_cfgs({'whisper_finetune': _cfg()})


@register_model
def whisper_finetune(pretrained: bool = False, **kwargs) -> WhisperFinetune:
    return build_model_with_cfg(WhisperFinetune, 'whisper_finetune', pretrained, **kwargs)
