"""CNN + LSTM, one of the related systems specct compares against.

A small conv front end of local feature learning blocks (conv 3x3, batch norm, ELU,
max-pooling) reads the spectrogram image; its frequency rows are averaged, which leaves one
feature vector per time step (frame); an LSTM reads the frames; the head reads the last step
(or the mean over steps) and classifies.

    timm.create_model('cnn_lstm_224', num_classes=4)              # the published sizes
    timm.create_model('cnn_lstm_tiny_112', num_classes=4)         # CPU-sized
    timm.create_model('speaker_cnn_lstm_tiny_112', ...)           # + speaker fusion
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import to_2tuple
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .layers import dropout_or_identity, feature_grid, init_weights, sync_input_size
from .linear import Linear
from .speaker_fusion import speaker_model, with_speaker_cfgs

__all__ = ['CNNLSTM', 'LocalFeatureBlock', 'POOLS']

POOLS = ('last', 'avg')


class LocalFeatureBlock(nn.Sequential):
    """conv 3x3 -> batch norm -> ELU -> max-pool (frequency, time)."""

    def __init__(self, in_chans: int, out_chans: int, pool: Tuple[int, int]):
        super().__init__(
            nn.Conv2d(in_chans, out_chans, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_chans),
            nn.ELU(inplace=True),
            nn.MaxPool2d(pool, stride=pool),
        )


class CNNLSTM(nn.Module):
    """Local feature learning blocks over frames -> LSTM -> last step (or mean) -> head.

    Args:
        img_size: (frequency, time) pixels, or one int.
        conv_widths, pools: one entry per block; a pool is (frequency, time).
        lstm_hidden, lstm_layers: the LSTM.
        global_pool: 'last' (the last step's output) or 'avg' (mean over steps).
        drop_rate: dropout before the head.
    """

    def __init__(
            self,
            img_size: Union[int, Tuple[int, int]] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            conv_widths: Sequence[int] = (64, 64, 128, 128),
            pools: Sequence[Tuple[int, int]] = ((2, 2), (4, 2), (4, 2), (4, 2)),
            lstm_hidden: int = 256,
            lstm_layers: int = 1,
            global_pool: str = 'last',
            drop_rate: float = 0.,
    ):
        super().__init__()
        if len(conv_widths) != len(pools):
            raise ValueError('conv_widths and pools need one entry per block')
        if global_pool not in POOLS:
            raise ValueError(f'global_pool must be one of {POOLS}, not {global_pool!r}')
        self.img_size = to_2tuple(img_size)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.global_pool = global_pool
        pools = [tuple(p) for p in pools]
        self.grid_size = feature_grid(self.img_size, pools)
        if min(self.grid_size) < 1:
            raise ValueError(f'input {self.img_size} is too small for pooling {pools}')
        widths = [in_chans, *conv_widths]
        self.blocks = nn.Sequential(*[LocalFeatureBlock(widths[i], widths[i + 1], pools[i])
                                      for i in range(len(conv_widths))])
        self.lstm = nn.LSTM(conv_widths[-1], lstm_hidden, num_layers=lstm_layers, batch_first=True)
        self.num_features = self.head_hidden_size = lstm_hidden
        self.head_drop = dropout_or_identity(drop_rate)
        self.head = Linear(lstm_hidden, num_classes) if num_classes > 0 else nn.Identity()
        self.blocks.apply(init_weights)
        init_weights(self.head)
        self.arch_summary = (f'conv {"-".join(map(str, conv_widths))}, LSTM {lstm_hidden} over '
                             f'{self.grid_size[1]} frames, {global_pool} step')

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        if global_pool is not None:
            if global_pool not in POOLS:
                raise ValueError(f'global_pool must be one of {POOLS}, not {global_pool!r}')
            self.global_pool = global_pool
        self.num_classes = num_classes
        self.head = Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        init_weights(self.head)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image batch -> LSTM outputs over the frames (B, frames, lstm_hidden)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.in_chans, *self.img_size):
            raise ValueError(f'expected images of shape (B, {self.in_chans}, {self.img_size[0]}, {self.img_size[1]}), '
                             f'got {tuple(x.shape)}')
        frames = self.blocks(x).mean(dim=2).transpose(1, 2)  # average the frequency rows: (B, frames, C)
        output, _ = self.lstm(frames)
        return output

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(x[:, -1] if self.global_pool == 'last' else x.mean(dim=1))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _create(variant: str, pretrained: bool = False, **kwargs) -> CNNLSTM:
    return sync_input_size(build_model_with_cfg(CNNLSTM, variant, pretrained, **kwargs))


def _cfg(img_size: int, **kwargs) -> Dict:
    return {
        'url': '', 'num_classes': 1000, 'input_size': (3, img_size, img_size), 'pool_size': None,
        'crop_pct': 1.0, 'interpolation': 'bicubic', 'fixed_input_size': True,
        'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'blocks.0.0', 'classifier': 'head',
        'notes': ('trained from scratch on spectrogram images; no pretrained weights',),
        **kwargs,
    }


default_cfgs = generate_default_cfgs(with_speaker_cfgs({
    'cnn_lstm_224': _cfg(224),
    'cnn_lstm_tiny_112': _cfg(112),
}))

# The published sizes: four blocks of 64, 64, 128, 128 filters, an LSTM of 256, the last step.
# Time is pooled by 2 per block (not 4): the whole utterance is one image here, so this keeps 14 frames.
PAPER = dict(conv_widths=(64, 64, 128, 128), pools=((2, 2), (4, 2), (4, 2), (4, 2)), lstm_hidden=256)
# CPU-sized: half the filters, an LSTM of 128, 112 px -> 14 frames.
TINY = dict(conv_widths=(32, 32, 64, 64), pools=((2, 2), (4, 2), (4, 2), (2, 1)), lstm_hidden=128)


@register_model
def cnn_lstm_224(pretrained: bool = False, **kwargs) -> CNNLSTM:
    model_args = dict(**PAPER, img_size=224)
    return _create('cnn_lstm_224', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def cnn_lstm_tiny_112(pretrained: bool = False, **kwargs) -> CNNLSTM:
    model_args = dict(**TINY, img_size=112)
    return _create('cnn_lstm_tiny_112', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def speaker_cnn_lstm_224(pretrained: bool = False, **kwargs):
    return speaker_model('cnn_lstm_224', pretrained=pretrained, **kwargs)


@register_model
def speaker_cnn_lstm_tiny_112(pretrained: bool = False, **kwargs):
    return speaker_model('cnn_lstm_tiny_112', pretrained=pretrained, **kwargs)
