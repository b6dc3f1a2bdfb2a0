"""CNN + Transformer encoder over time, one of the related systems specct compares against.

A conv stack (batch norm, ReLU, max-pooling that shrinks the frequency axis faster than time)
turns the spectrogram image into a feature map; its frequency rows are averaged, which leaves a
sequence along time. A post-norm transformer encoder (as torch's `nn.TransformerEncoderLayer`)
reads it, average pooling over time gives the utterance vector, a linear layer classifies.

Images are (B, 3, frequency, time): low frequencies at the bottom, time along the width, as
specct renders them. Normalised with the ImageNet statistics like every spectrogram model.

    timm.create_model('cnn_transformer_224', num_classes=4)          # the published sizes
    timm.create_model('cnn_transformer_tiny_112', num_classes=4)     # CPU-sized
    timm.create_model('speaker_cnn_transformer_tiny_112', ...)       # + speaker fusion
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import DropPath, to_2tuple
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .layers import Attention, dropout_or_identity, feature_grid, init_weights, sinusoidal_embedding, sync_input_size
from .linear import Linear
from .speaker_fusion import speaker_model, with_speaker_cfgs

__all__ = ['CNNTransformer', 'EncoderLayer', 'ConvStage']

Pool = Optional[Tuple[int, int]]


class ConvStage(nn.Sequential):
    """conv (same padding) -> batch norm -> ReLU -> max-pool (frequency, time), if any."""

    def __init__(self, in_chans: int, out_chans: int, kernel_size: int, pool: Pool):
        layers = [
            nn.Conv2d(in_chans, out_chans, kernel_size, padding=kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_chans),
            nn.ReLU(inplace=True),
        ]
        if pool is not None:
            layers.append(nn.MaxPool2d(pool, stride=pool))
        super().__init__(*layers)


class EncoderLayer(nn.Module):
    """Post-norm transformer encoder layer: x = norm1(x + attn(x)); x = norm2(x + ff(x)), ReLU."""

    def __init__(self, dim: int, num_heads: int, ff_dim: int, drop: float = 0.1, attn_drop: float = 0.,
                 drop_path: float = 0.):
        super().__init__()
        self.self_attn = Attention(dim, num_heads=num_heads, attn_drop=attn_drop, proj_drop=drop)
        self.norm1 = nn.LayerNorm(dim)
        self.linear1 = Linear(dim, ff_dim)
        self.dropout = dropout_or_identity(drop)
        self.linear2 = Linear(ff_dim, dim)
        self.dropout2 = dropout_or_identity(drop)
        self.norm2 = nn.LayerNorm(dim)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.drop_path(self.self_attn(x)))
        return self.norm2(x + self.drop_path(self.dropout2(self.linear2(self.dropout(F.relu(self.linear1(x)))))))


class CNNTransformer(nn.Module):
    """CNN front end + transformer encoder over time. Defaults: the published sizes at 224 px.

    Args:
        img_size: (frequency, time) pixels, or one int for a square image.
        conv_widths, kernel_sizes, pools: one entry per conv stage; a pool is
            (frequency, time) or None.
        embed_dim, depth, num_heads, ff_dim: the encoder (d_model, layers, heads, feed-forward).
        pos_embed: 'sine' (fixed table, the standard transformer's) or 'none'.
        drop_rate: dropout in the encoder and before the head; attn_drop_rate, drop_path_rate as in timm.
    """

    def __init__(
            self,
            img_size: Union[int, Tuple[int, int]] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            conv_widths: Sequence[int] = (32, 64, 128, 256, 512),
            kernel_sizes: Sequence[int] = (7, 3, 3, 3, 3),
            pools: Sequence[Pool] = ((2, 2), (4, 1), (2, 2), (4, 1), None),
            embed_dim: int = 512,
            depth: int = 6,
            num_heads: int = 4,
            ff_dim: int = 1024,
            pos_embed: str = 'sine',
            drop_rate: float = 0.1,
            attn_drop_rate: float = 0.,
            drop_path_rate: float = 0.,
            global_pool: str = 'avg',
    ):
        super().__init__()
        if not len(conv_widths) == len(kernel_sizes) == len(pools):
            raise ValueError('conv_widths, kernel_sizes and pools need one entry per conv stage')
        if pos_embed not in ('sine', 'none'):
            raise ValueError(f"pos_embed must be 'sine' or 'none', not {pos_embed!r}")
        if global_pool != 'avg':
            raise ValueError(f'the encoder output is averaged over time (avg), not {global_pool!r}')
        self.img_size = to_2tuple(img_size)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = self.head_hidden_size = self.embed_dim = embed_dim
        pools = [tuple(p) if p is not None else None for p in pools]
        self.grid_size = feature_grid(self.img_size, pools)
        if min(self.grid_size) < 1:
            raise ValueError(f'input {self.img_size} is too small for pooling {pools}')
        widths = [in_chans, *conv_widths]
        self.stages = nn.Sequential(*[ConvStage(widths[i], widths[i + 1], kernel_sizes[i], pools[i])
                                      for i in range(len(conv_widths))])
        self.proj = Linear(conv_widths[-1], embed_dim) if conv_widths[-1] != embed_dim else nn.Identity()
        steps = self.grid_size[1]
        # A fixed table, not in the state dict: it follows the sequence length of the input size.
        self.register_buffer('pos_table', sinusoidal_embedding(steps, embed_dim) if pos_embed == 'sine'
                             else torch.zeros(1, steps, embed_dim), persistent=False)
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([
            EncoderLayer(embed_dim, num_heads, ff_dim, drop=drop_rate, attn_drop=attn_drop_rate, drop_path=rates[i])
            for i in range(depth)])
        self.head_drop = dropout_or_identity(drop_rate)
        self.head = Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self.arch_summary = (f'conv {"-".join(map(str, conv_widths))}, {depth} x {embed_dim} ({num_heads} heads), '
                             f'{steps} steps')
        self.apply(init_weights)

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        self.head = Linear(self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        init_weights(self.head)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image batch -> encoded sequence along time (B, steps, D)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.in_chans, *self.img_size):
            raise ValueError(f'expected images of shape (B, {self.in_chans}, {self.img_size[0]}, {self.img_size[1]}), '
                             f'got {tuple(x.shape)}')
        x = self.stages(x).mean(dim=2).transpose(1, 2)  # average the frequency rows: (B, steps, C)
        x = self.proj(x) + self.pos_table
        for block in self.blocks:
            x = block(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(x.mean(dim=1))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _create(variant: str, pretrained: bool = False, **kwargs) -> CNNTransformer:
    return sync_input_size(build_model_with_cfg(CNNTransformer, variant, pretrained, **kwargs))


def _cfg(img_size: int, **kwargs) -> Dict:
    return {
        'url': '', 'num_classes': 1000, 'input_size': (3, img_size, img_size), 'pool_size': None,
        'crop_pct': 1.0, 'interpolation': 'bicubic', 'fixed_input_size': True,
        'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'stages.0.0', 'classifier': 'head',
        'notes': ('trained from scratch on spectrogram images; no pretrained weights',),
        **kwargs,
    }


default_cfgs = generate_default_cfgs(with_speaker_cfgs({
    'cnn_transformer_224': _cfg(224),
    'cnn_transformer_tiny_112': _cfg(112),
}))

# The published sizes: convs 32-512, d_model 512, 4 heads, feed-forward 1024, 6 layers.
PAPER = dict(conv_widths=(32, 64, 128, 256, 512), kernel_sizes=(7, 3, 3, 3, 3),
             pools=((2, 2), (4, 1), (2, 2), (4, 1), None), embed_dim=512, depth=6, num_heads=4, ff_dim=1024)
# CPU-sized: half the conv widths, d_model 256, 2 layers; 112 px leaves 28 steps.
TINY = dict(conv_widths=(16, 32, 64, 128, 256), kernel_sizes=(7, 3, 3, 3, 3),
            pools=((2, 2), (4, 1), (2, 2), (4, 1), None), embed_dim=256, depth=2, num_heads=4, ff_dim=512)


@register_model
def cnn_transformer_224(pretrained: bool = False, **kwargs) -> CNNTransformer:
    model_args = dict(**PAPER, img_size=224)
    return _create('cnn_transformer_224', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def cnn_transformer_tiny_112(pretrained: bool = False, **kwargs) -> CNNTransformer:
    model_args = dict(**TINY, img_size=112)
    return _create('cnn_transformer_tiny_112', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def speaker_cnn_transformer_224(pretrained: bool = False, **kwargs):
    return speaker_model('cnn_transformer_224', pretrained=pretrained, **kwargs)


@register_model
def speaker_cnn_transformer_tiny_112(pretrained: bool = False, **kwargs):
    return speaker_model('cnn_transformer_tiny_112', pretrained=pretrained, **kwargs)
