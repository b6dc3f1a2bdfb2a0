"""Building blocks shared by more than one model family, as timm keeps its own in `timm.layers`.

- `dropout_or_identity`, `dropout_mask`: dropout that is an identity at rate zero (no module
  call, no random numbers drawn), and the cheap boolean mask of the CPU attention-dropout path;
- `Attention` (its three paths, docs/models.md) and `set_fused_attn`, which switches them in a
  whole model; `Block`, the CCT encoder layer (CCT and the speaker fusion's second transformer);
- `sinusoidal_embedding`: the fixed sine/cosine position table;
- `init_weights`: the truncated-normal / Kaiming initialisation every family applies;
- `feature_grid`: the (frequency, time) grid after a conv front end's pooling;
- `summarise_keys`: short text for a list of state-dict keys (the checkpoint filters' reports);
- `sync_input_size`: `pretrained_cfg['input_size']` made to describe the model as built.

Nothing here owns state-dict keys of its own: the modules are named by the models that hold them.
"""
from __future__ import annotations

import math
import re
from typing import Dict, Iterable, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath, use_fused_attn

from .linear import Linear

__all__ = [
    'Attention', 'Block', 'dropout_mask', 'dropout_or_identity', 'feature_grid', 'init_weights', 'set_fused_attn',
    'sinusoidal_embedding', 'summarise_keys', 'sync_input_size',
]


def dropout_or_identity(rate: float) -> nn.Module:
    """nn.Dropout(rate); at rate zero an identity: no module call, no random numbers drawn."""
    return nn.Dropout(rate) if rate > 0 else nn.Identity()


def dropout_mask(shape: torch.Size, rate: float, device: torch.device) -> torch.Tensor:
    """Boolean mask of the entries to drop, each True with probability `rate` (to 1/65536).

    Drawn as 16-bit integers, four from each 64-bit random number: a quarter of the generator
    calls of F.dropout (one float each), whose mask was about 15% of a CPU training step.
    Seeded by torch's generator like any other random op.
    """
    count = math.prod(shape)
    words = torch.empty((count + 3) // 4, dtype=torch.int64, device=device).random_(-2 ** 63, None)
    lanes = words.view(torch.int16)[:count].view(shape)
    return lanes < round(rate * 65536) - 32768


class Attention(nn.Module):
    """Multi-head self-attention with three named paths, as timm's `fused_attn` plus one:

    - `fused_attn` (default): F.scaled_dot_product_attention;
    - `cpu_dropout_attn` (default): training on CPU with attention dropout, where SDPA has no
      fused kernel (its generic path is slower) and F.dropout's mask costs more than the
      attention matmuls: the explicit product with the cheap `dropout_mask`;
    - otherwise the explicit softmax(QK^T/sqrt(d))V of the original code, kept for comparison.
      The compiler sees this one for CPU dropout too, since `random_` would split its graph.
    """

    def __init__(self, dim: int, num_heads: int = 8, attn_drop: float = 0., proj_drop: float = 0.):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'embedding width {dim} is not divisible by {num_heads} heads')
        if not 0. <= attn_drop < 1.:
            raise ValueError(f'attention dropout must be in [0, 1), not {attn_drop}')
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.fused_attn = use_fused_attn()
        self.cpu_dropout_attn = True
        self.attn_drop = attn_drop
        self.qkv = Linear(dim, dim * 3, bias=False)
        self.proj = Linear(dim, dim)
        self.proj_drop = dropout_or_identity(proj_drop)

    def path(self, x: torch.Tensor, drop: float) -> str:
        """'cpu_dropout', 'fused' or 'explicit': the computation this call takes."""
        if drop > 0. and x.is_cpu and self.cpu_dropout_attn:
            return 'explicit' if torch.compiler.is_compiling() else 'cpu_dropout'
        return 'fused' if self.fused_attn else 'explicit'

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.qkv(x).reshape(batch, tokens, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        drop = self.attn_drop if self.training else 0.
        path = self.path(x, drop)
        if path == 'fused':
            x = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        elif path == 'cpu_dropout':
            attn = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            attn = attn.masked_fill(dropout_mask(attn.shape, drop, attn.device), 0.)
            x = attn @ (v * (1. / (1. - drop)))
        else:
            attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
            x = F.dropout(attn, p=drop) @ v if drop > 0 else attn @ v
        x = x.transpose(1, 2).reshape(batch, tokens, dim)
        return self.proj_drop(self.proj(x))

    def extra_repr(self) -> str:
        return (f'num_heads={self.num_heads}, fused_attn={self.fused_attn}, '
                f'cpu_dropout_attn={self.cpu_dropout_attn}, attn_drop={self.attn_drop}')


class Block(nn.Module):
    """CCT encoder layer (SHI-Labs `TransformerEncoderLayer`).

    Unlike a plain pre-norm block, `norm1` normalises the residual stream itself after the
    attention step; the pretrained weights were trained that way, so it stays.
    """

    def __init__(
            self,
            dim: int,
            num_heads: int,
            mlp_ratio: float = 4.,
            drop: float = 0.,
            attn_drop: float = 0.,
            drop_path: float = 0.,
    ):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.pre_norm = nn.LayerNorm(dim)
        self.self_attn = Attention(dim, num_heads=num_heads, attn_drop=attn_drop, proj_drop=drop)
        self.linear1 = Linear(dim, hidden)
        self.dropout1 = dropout_or_identity(drop)
        self.norm1 = nn.LayerNorm(dim)
        self.linear2 = Linear(hidden, dim)
        self.dropout2 = dropout_or_identity(drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.self_attn(self.pre_norm(x)))
        x = self.norm1(x)
        x = x + self.drop_path(self.dropout2(self.linear2(self.dropout1(F.gelu(self.linear1(x))))))
        return x


def set_fused_attn(model: nn.Module, enabled: bool = True, cpu_dropout: bool | None = None) -> nn.Module:
    """Switch every attention layer of `model` between its fast paths (SDPA, and the cheap CPU
    dropout unless `cpu_dropout` says otherwise) and the original explicit computation."""
    for module in model.modules():
        if isinstance(module, Attention):
            module.fused_attn = enabled
            module.cpu_dropout_attn = enabled if cpu_dropout is None else cpu_dropout
    return model


def sinusoidal_embedding(num_tokens: int, dim: int) -> torch.Tensor:
    """The fixed sine/cosine table of CCT's `*_sine` variants, shape (1, num_tokens, dim)."""
    position = torch.arange(num_tokens, dtype=torch.float64)[:, None]
    rate = 10000 ** (2 * (torch.arange(dim) // 2).double() / dim)
    table = position / rate
    table[:, 0::2] = torch.sin(table[:, 0::2])
    table[:, 1::2] = torch.cos(table[:, 1::2])
    return table.float().unsqueeze(0)


def init_weights(module: nn.Module) -> None:
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        nn.init.kaiming_normal_(module.weight)


def feature_grid(img_size: Tuple[int, int], pools: Sequence[Optional[Tuple[int, int]]]) -> Tuple[int, int]:
    """(frequency rows, time steps) after the stages' pooling (the convs keep the size)."""
    rows, steps = img_size
    for pool in pools:
        if pool is not None:
            rows, steps = rows // pool[0], steps // pool[1]
    return rows, steps


def _ranges(numbers: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5'."""
    numbers, spans = sorted(numbers), []
    for n in numbers:
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ','.join(f'{a}' if a == b else f'{a}-{b}' for a, b in spans)


def summarise_keys(keys: Iterable[str]) -> str:
    """Short text for a list of state-dict keys: 'classifier.blocks.7-13, speaker_proj, speaker_pos_emb'."""
    groups: Dict[str, set] = {}
    for key in keys:
        block = re.match(r'(.*\.blocks)\.(\d+)\.', key)
        if block:
            groups.setdefault(block.group(1), set()).add(int(block.group(2)))
        else:
            groups.setdefault(key.rsplit('.', 1)[0] if key.endswith(('.weight', '.bias')) else key, set())
    parts = [f'{label}.{_ranges(index)}' if index else label for label, index in groups.items()]
    return ', '.join(parts) if parts else 'none'


def sync_input_size(model: nn.Module) -> nn.Module:
    """Make `pretrained_cfg['input_size']` describe the model as built (img_size may be overridden),
    because data pipelines read the input size from it."""
    cfg = dict(model.pretrained_cfg)
    cfg['input_size'] = (model.in_chans, *model.img_size)
    model.pretrained_cfg = model.default_cfg = cfg
    return model
