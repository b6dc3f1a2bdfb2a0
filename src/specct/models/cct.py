"""Compact Convolutional Transformers (CCT), Hassani et al. 2021, "Escaping the Big Data
Paradigm with Compact Transformers", written the timm way.

A small convolutional tokenizer turns the image into a sequence of tokens, pre-norm
transformer blocks read it, sequence pooling (a learned softmax-weighted average of the
tokens) replaces the class token, and a linear head classifies.

State-dict keys are those of the SHI-Labs release (`tokenizer.conv_layers.0.0.weight`,
`classifier.positional_emb`, `classifier.attention_pool.*`, `classifier.blocks.N.*`,
`classifier.norm.*`, `classifier.fc.*`), so the published checkpoints load as they are:

    timm.create_model('cct_14_7x2_224', pretrained=True)                       # online
    timm.create_model('cct_14_7x2_224', pretrained=True,
                      pretrained_cfg_overlay=dict(file='cct_14_7x2_224_imagenet.pth'))  # offline

`checkpoint_filter_fn` is the one place that knows about foreign checkpoints: it resizes the
positional embedding to the model's token grid, drops a head of another class count and
reports what was left at its initial value.
"""
from __future__ import annotations

import logging
import math
from typing import Dict, List, Literal, Optional, Set, Tuple, Union

import torch
import torch.nn as nn
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import resample_abs_pos_embed, to_2tuple
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .layers import Block, dropout_or_identity, init_weights, sinusoidal_embedding, summarise_keys, sync_input_size
from .linear import Linear

__all__ = [
    'CCT', 'ConvTokenizer', 'TransformerClassifier',
    'checkpoint_filter_fn', 'resize_pos_embed', 'IMAGENET_CHECKPOINT_URL',
]

_logger = logging.getLogger(__name__)

CHECKPOINT_ROOT = 'https://shi-labs.com/projects/cct/checkpoints'
IMAGENET_CHECKPOINT_URL = f'{CHECKPOINT_ROOT}/pretrained/cct_14_7x2_224_imagenet.pth'

PosEmbedKind = Literal['learnable', 'sine', 'none']


class ConvTokenizer(nn.Module):
    """`n_conv_layers` x (conv, ReLU, max-pool), then the feature map read as a token sequence.

    With `channels_last` (the default) the convolutions run on channels-last tensors, which
    oneDNN on CPU computes about 1.5x faster than NCHW; the numbers are the same.
    """

    def __init__(
            self,
            in_chans: int = 3,
            embed_dim: int = 384,
            kernel_size: int = 7,
            n_conv_layers: int = 2,
            stride: int = 2,
            padding: int = 3,
            pool_kernel_size: int = 3,
            pool_stride: int = 2,
            pool_padding: int = 1,
            in_planes: int = 64,
            channels_last: bool = True,
    ):
        super().__init__()
        widths = [in_chans] + [in_planes] * (n_conv_layers - 1) + [embed_dim]
        self.conv_layers = nn.Sequential(*[
            nn.Sequential(
                nn.Conv2d(widths[i], widths[i + 1], kernel_size, stride=stride, padding=padding, bias=False),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(pool_kernel_size, stride=pool_stride, padding=pool_padding),
            )
            for i in range(n_conv_layers)
        ])
        self.channels_last = channels_last

    def grid_size(self, img_size: Tuple[int, int]) -> Tuple[int, int]:
        """Token grid (rows, columns) for an input of `img_size`, by the conv/pool arithmetic."""
        size = list(img_size)
        for stage in self.conv_layers:
            for layer in stage:
                if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
                    k, s, p = (to_2tuple(getattr(layer, a)) for a in ('kernel_size', 'stride', 'padding'))
                    size = [(size[i] + 2 * p[i] - k[i]) // s[i] + 1 for i in range(2)]
        return size[0], size[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        # From a channels-last map, (B, C, H, W) -> (B, H*W, C) is a free view.
        return self.conv_layers(x).flatten(2).transpose(1, 2)


class TransformerClassifier(nn.Module):
    """Everything after the tokenizer: positions, blocks, final norm, sequence pooling, head."""

    def __init__(
            self,
            grid_size: Tuple[int, int],
            embed_dim: int = 384,
            depth: int = 14,
            num_heads: int = 6,
            mlp_ratio: float = 3.,
            num_classes: int = 1000,
            pos_embed: PosEmbedKind = 'learnable',
            drop_rate: float = 0.,
            attn_drop_rate: float = 0.1,
            drop_path_rate: float = 0.1,
    ):
        super().__init__()
        if pos_embed not in ('learnable', 'sine', 'none'):
            raise ValueError(f"pos_embed must be 'learnable', 'sine' or 'none', not {pos_embed!r}")
        self.grid_size = grid_size
        num_tokens = grid_size[0] * grid_size[1]
        self.attention_pool = Linear(embed_dim, 1)
        if pos_embed == 'learnable':
            self.positional_emb = nn.Parameter(torch.zeros(1, num_tokens, embed_dim))
            nn.init.trunc_normal_(self.positional_emb, std=0.2)
        elif pos_embed == 'sine':
            # A frozen parameter, not a buffer, so that the key is in the state dict as in the release.
            self.positional_emb = nn.Parameter(sinusoidal_embedding(num_tokens, embed_dim), requires_grad=False)
        else:
            self.positional_emb = None
        self.dropout = dropout_or_identity(drop_rate)
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([
            Block(embed_dim, num_heads, mlp_ratio, drop=drop_rate, attn_drop=attn_drop_rate, drop_path=rates[i])
            for i in range(depth)
        ])
        self.norm = nn.LayerNorm(embed_dim)
        self.fc = Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()

    def add_positions(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.positional_emb is None else x + self.positional_emb

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Dropout, the blocks and the final norm over a token sequence (positions already added)."""
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)

    def sequence_pool(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.attention_pool(x).softmax(dim=1)  # (B, N, 1)
        return (weights.transpose(1, 2) @ x).squeeze(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.sequence_pool(self.encode(self.add_positions(x))))


class CCT(nn.Module):
    """Compact Convolutional Transformer.

    The defaults are CCT-14/7x2 at 224 px, the ImageNet model (22.36 M parameters, ~5.1 GMACs).
    `img_size` may be an int or (height, width); the token grid follows from the tokenizer.
    """

    def __init__(
            self,
            img_size: Union[int, Tuple[int, int]] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            embed_dim: int = 384,
            depth: int = 14,
            num_heads: int = 6,
            mlp_ratio: float = 3.,
            kernel_size: int = 7,
            n_conv_layers: int = 2,
            conv_stride: Optional[int] = None,
            conv_padding: Optional[int] = None,
            pool_kernel_size: int = 3,
            pool_stride: int = 2,
            pool_padding: int = 1,
            in_planes: int = 64,
            pos_embed: PosEmbedKind = 'learnable',
            drop_rate: float = 0.,
            attn_drop_rate: float = 0.1,
            drop_path_rate: float = 0.1,
    ):
        super().__init__()
        self.img_size = to_2tuple(img_size)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = self.head_hidden_size = self.embed_dim = embed_dim
        self.mlp_ratio = mlp_ratio
        self.pos_embed = pos_embed
        self.tokenizer = ConvTokenizer(
            in_chans=in_chans,
            embed_dim=embed_dim,
            kernel_size=kernel_size,
            n_conv_layers=n_conv_layers,
            # The release derives stride and padding from the kernel: 7 -> (2, 3), 3 -> (1, 1).
            stride=conv_stride if conv_stride is not None else max(1, kernel_size // 2 - 1),
            padding=conv_padding if conv_padding is not None else max(1, kernel_size // 2),
            pool_kernel_size=pool_kernel_size,
            pool_stride=pool_stride,
            pool_padding=pool_padding,
            in_planes=in_planes,
        )
        self.grid_size = self.tokenizer.grid_size(self.img_size)
        self.classifier = TransformerClassifier(
            grid_size=self.grid_size,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            num_classes=num_classes,
            pos_embed=pos_embed,
            drop_rate=drop_rate,
            attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate,
        )
        self.apply(init_weights)
        if self.tokenizer.channels_last:
            self.tokenizer.to(memory_format=torch.channels_last)

    @property
    def num_tokens(self) -> int:
        return self.grid_size[0] * self.grid_size[1]

    @torch.jit.ignore
    def no_weight_decay(self) -> Set[str]:
        """Parameters the optimizer does not decay: the learned position embedding, as in timm's
        ViT (docs/models.md says why). timm's optimizer factory reads this set."""
        emb = self.classifier.positional_emb
        return {'classifier.positional_emb'} if emb is not None and emb.requires_grad else set()

    def backbone_keys(self) -> List[str]:
        """State-dict keys an ImageNet CCT checkpoint must provide (all but the head)."""
        return [k for k in self.state_dict() if k.startswith(('tokenizer.', 'classifier.'))
                and not k.startswith('classifier.fc.')]

    def get_classifier(self) -> nn.Module:
        return self.classifier.fc

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        if global_pool not in (None, 'seq'):
            raise ValueError(f'CCT pools by sequence pooling only, not {global_pool!r}')
        self.num_classes = num_classes
        fc = Linear(self.embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        init_weights(fc)
        self.classifier.fc = fc

    def _check_image(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.in_chans, *self.img_size):
            if self.pos_embed != 'none':
                raise ValueError(
                    f'expected images of shape (B, {self.in_chans}, {self.img_size[0]}, {self.img_size[1]}), '
                    f'got {tuple(x.shape)}: the positional embedding fixes the input size')

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image batch -> normalised token sequence (B, N, D)."""
        self._check_image(x)
        return self.classifier.encode(self.classifier.add_positions(self.tokenizer(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.classifier.sequence_pool(x)
        return x if pre_logits else self.classifier.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


# --- foreign checkpoints -----------------------------------------------------------------

def resize_pos_embed(
        posemb: torch.Tensor,
        new_grid: Tuple[int, int],
        old_grid: Optional[Tuple[int, int]] = None,
) -> torch.Tensor:
    """Resize a (1, H*W, D) positional embedding to another token grid, bilinear on the 2-D grid.
    Without `old_grid` the source grid must be square."""
    num_tokens = posemb.shape[1]
    if old_grid is None:
        side = math.isqrt(num_tokens)
        if side * side != num_tokens:
            raise ValueError(
                f'cannot tell the token grid of a positional embedding with {num_tokens} tokens '
                '(not square); pass old_grid')
        old_grid = (side, side)
    if tuple(old_grid) == tuple(new_grid):
        return posemb
    return resample_abs_pos_embed(
        posemb, new_size=list(new_grid), old_size=list(old_grid), num_prefix_tokens=0,
        interpolation='bilinear', antialias=False)


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Fit a SHI-Labs CCT checkpoint (or one of ours) to `model`.

    The positional embedding is resized to the model's grid (a sine one is recomputed), a head
    of another class count is dropped, keys the model lacks are ignored. A checkpoint that
    lacks any backbone weight is refused: it is not a checkpoint of this architecture. What
    stays at its initial value is logged and kept in `model.pretrained_report`.
    """
    for wrapper in ('model', 'state_dict'):
        if wrapper in state_dict and isinstance(state_dict[wrapper], dict):
            state_dict = state_dict[wrapper]
    state_dict = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state_dict.items()}
    target = model.state_dict()
    fitted, unused = {}, []
    for key, value in state_dict.items():
        if key not in target:
            unused.append(key)
            continue
        if key == 'classifier.positional_emb':
            if model.pos_embed == 'sine':
                value = target[key]
            elif value.shape != target[key].shape:
                old_grid = model.grid_size if value.shape[1] == model.num_tokens else None
                value = resize_pos_embed(value, model.grid_size, old_grid)
                _logger.info('Resized positional embedding from %d to %s tokens', state_dict[key].shape[1],
                             'x'.join(map(str, model.grid_size)))
        if key.startswith('classifier.fc.') and value.shape != target[key].shape:
            continue  # a head for another class set: the new one starts random
        fitted[key] = value

    missing_backbone = [k for k in model.backbone_keys() if k not in fitted]
    if missing_backbone:
        raise RuntimeError(
            f'checkpoint does not fit {type(model).__name__}: it lacks {len(missing_backbone)} backbone '
            f'weights ({summarise_keys(missing_backbone)})')
    left_random = [k for k in target if k not in fitted]
    model.pretrained_report = dict(loaded=sorted(fitted), left_random=left_random, unused=unused)
    _logger.info('Pretrained weights: %d tensors loaded; left at init: %s; unused from checkpoint: %s',
                 len(fitted), summarise_keys(left_random), summarise_keys(unused))
    return fitted


# --- construction ------------------------------------------------------------------------

def _create_cct(variant: str, pretrained: bool = False, **kwargs) -> CCT:
    model = build_model_with_cfg(
        CCT, variant, pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        # the filter checks completeness itself (see checkpoint_filter_fn)
        pretrained_strict=False,
        **kwargs,
    )
    return sync_input_size(model)


def _cfg(url: str = '', **kwargs) -> Dict:
    return {
        'url': url,
        'num_classes': 1000, 'input_size': (3, 224, 224), 'pool_size': None,
        'crop_pct': .9, 'interpolation': 'bicubic', 'fixed_input_size': True,
        'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'tokenizer.conv_layers.0.0', 'classifier': 'classifier.fc',
        'license': 'apache-2.0', 'paper_ids': 'arXiv:2104.05704',
        'origin_url': 'https://github.com/SHI-Labs/Compact-Transformers',
        **kwargs,
    }


def _cifar_cfg(url: str = '', num_classes: int = 10, **kwargs) -> Dict:
    stats = dict(mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))  # CIFAR-10
    return _cfg(url, num_classes=num_classes, input_size=(3, 32, 32), crop_pct=1.0, **dict(stats, **kwargs))


def spectrogram_cfg(img_size: int = 112, **kwargs) -> Dict:
    """Config of the variants meant for spectrogram images: ImageNet weights, ImageNet mean/std.

    Spectrogram images are normalised with the ImageNet statistics because those are what the
    pretrained tokenizer was trained on. Images are rendered at the model size, so nothing
    is cropped (crop_pct 1.0): cropping would cut the time and frequency axes."""
    return _cfg(
        IMAGENET_CHECKPOINT_URL, input_size=(3, img_size, img_size), crop_pct=1.0,
        notes=('ImageNet CCT-14/7x2 weights; positional embedding resized to the token grid',
               'normalise spectrogram images with the ImageNet mean/std, as the pretrained tokenizer expects'),
        **kwargs,
    )


default_cfgs = generate_default_cfgs({
    'cct_2_3x2_32': _cifar_cfg(),
    'cct_2_3x2_32_sine': _cifar_cfg(),
    'cct_4_3x2_32': _cifar_cfg(),
    'cct_4_3x2_32_sine': _cifar_cfg(),
    'cct_6_3x1_32': _cifar_cfg(),
    'cct_6_3x1_32_sine': _cifar_cfg(),
    'cct_6_3x2_32': _cifar_cfg(),
    'cct_6_3x2_32_sine': _cifar_cfg(),
    'cct_7_3x1_32.cifar10_300e': _cifar_cfg(
        f'{CHECKPOINT_ROOT}/pretrained/cct_7_3x1_32_cifar10_300epochs.pth'),
    'cct_7_3x1_32_sine.cifar10_5000e': _cifar_cfg(
        f'{CHECKPOINT_ROOT}/pretrained/cct_7_3x1_32_sine_cifar10_5000epochs.pth'),
    'cct_7_3x1_32_c100.cifar100_300e': _cifar_cfg(
        f'{CHECKPOINT_ROOT}/pretrained/cct_7_3x1_32_cifar100_300epochs.pth', num_classes=100,
        mean=(0.5071, 0.4867, 0.4408), std=(0.2675, 0.2565, 0.2761)),
    'cct_7_3x1_32_sine_c100.cifar100_5000e': _cifar_cfg(
        f'{CHECKPOINT_ROOT}/pretrained/cct_7_3x1_32_sine_cifar100_5000epochs.pth', num_classes=100,
        mean=(0.5071, 0.4867, 0.4408), std=(0.2675, 0.2565, 0.2761)),
    'cct_7_3x2_32': _cifar_cfg(),
    'cct_7_3x2_32_sine': _cifar_cfg(),
    'cct_7_7x2_224': _cfg(),
    'cct_7_7x2_224_sine.flowers102': _cfg(
        f'{CHECKPOINT_ROOT}/pretrained/cct_7_7x2_224_flowers102.pth', num_classes=102),
    'cct_14_7x2_224.in1k': _cfg(IMAGENET_CHECKPOINT_URL),
    'cct_14_7x2_384.in1k': _cfg(
        f'{CHECKPOINT_ROOT}/finetuned/cct_14_7x2_384_imagenet.pth', input_size=(3, 384, 384), crop_pct=1.0),
    'cct_14_7x2_384_fl.flowers102': _cfg(
        f'{CHECKPOINT_ROOT}/finetuned/cct_14_7x2_384_flowers102.pth', num_classes=102,
        input_size=(3, 384, 384), crop_pct=1.0),
    'cct_7_7x2_112.in1k': spectrogram_cfg(112),
})

# Architecture numbers of the release: layers, heads, MLP ratio, width.
CCT_2 = dict(depth=2, num_heads=2, mlp_ratio=1, embed_dim=128)
CCT_4 = dict(depth=4, num_heads=2, mlp_ratio=1, embed_dim=128)
CCT_6 = dict(depth=6, num_heads=4, mlp_ratio=2, embed_dim=256)
CCT_7 = dict(depth=7, num_heads=4, mlp_ratio=2, embed_dim=256)
CCT_14 = dict(depth=14, num_heads=6, mlp_ratio=3, embed_dim=384)
# CPU-sized: the first 7 blocks of the ImageNet CCT-14 (its width, so its weights load).
CCT_14_FIRST_7 = dict(CCT_14, depth=7)
TOKENIZER_3x1 = dict(kernel_size=3, n_conv_layers=1)
TOKENIZER_3x2 = dict(kernel_size=3, n_conv_layers=2)
TOKENIZER_7x2 = dict(kernel_size=7, n_conv_layers=2)


def _cifar(variant: str, arch: Dict, tokenizer: Dict, pos_embed: str, pretrained: bool, kwargs: Dict) -> CCT:
    model_args = dict(**arch, **tokenizer, img_size=32, pos_embed=pos_embed)
    return _create_cct(variant, pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def cct_2_3x2_32(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_2_3x2_32', CCT_2, TOKENIZER_3x2, 'learnable', pretrained, kwargs)


@register_model
def cct_2_3x2_32_sine(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_2_3x2_32_sine', CCT_2, TOKENIZER_3x2, 'sine', pretrained, kwargs)


@register_model
def cct_4_3x2_32(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_4_3x2_32', CCT_4, TOKENIZER_3x2, 'learnable', pretrained, kwargs)


@register_model
def cct_4_3x2_32_sine(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_4_3x2_32_sine', CCT_4, TOKENIZER_3x2, 'sine', pretrained, kwargs)


@register_model
def cct_6_3x1_32(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_6_3x1_32', CCT_6, TOKENIZER_3x1, 'learnable', pretrained, kwargs)


@register_model
def cct_6_3x1_32_sine(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_6_3x1_32_sine', CCT_6, TOKENIZER_3x1, 'sine', pretrained, kwargs)


@register_model
def cct_6_3x2_32(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_6_3x2_32', CCT_6, TOKENIZER_3x2, 'learnable', pretrained, kwargs)


@register_model
def cct_6_3x2_32_sine(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_6_3x2_32_sine', CCT_6, TOKENIZER_3x2, 'sine', pretrained, kwargs)


@register_model
def cct_7_3x1_32(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_7_3x1_32', CCT_7, TOKENIZER_3x1, 'learnable', pretrained, kwargs)


@register_model
def cct_7_3x1_32_sine(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_7_3x1_32_sine', CCT_7, TOKENIZER_3x1, 'sine', pretrained, kwargs)


@register_model
def cct_7_3x1_32_c100(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_7_3x1_32_c100', CCT_7, TOKENIZER_3x1, 'learnable', pretrained, kwargs)


@register_model
def cct_7_3x1_32_sine_c100(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_7_3x1_32_sine_c100', CCT_7, TOKENIZER_3x1, 'sine', pretrained, kwargs)


@register_model
def cct_7_3x2_32(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_7_3x2_32', CCT_7, TOKENIZER_3x2, 'learnable', pretrained, kwargs)


@register_model
def cct_7_3x2_32_sine(pretrained: bool = False, **kwargs) -> CCT:
    return _cifar('cct_7_3x2_32_sine', CCT_7, TOKENIZER_3x2, 'sine', pretrained, kwargs)


@register_model
def cct_7_7x2_224(pretrained: bool = False, **kwargs) -> CCT:
    model_args = dict(**CCT_7, **TOKENIZER_7x2, img_size=224)
    return _create_cct('cct_7_7x2_224', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def cct_7_7x2_224_sine(pretrained: bool = False, **kwargs) -> CCT:
    model_args = dict(**CCT_7, **TOKENIZER_7x2, img_size=224, pos_embed='sine')
    return _create_cct('cct_7_7x2_224_sine', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def cct_14_7x2_224(pretrained: bool = False, **kwargs) -> CCT:
    model_args = dict(**CCT_14, **TOKENIZER_7x2, img_size=224)
    return _create_cct('cct_14_7x2_224', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def cct_14_7x2_384(pretrained: bool = False, **kwargs) -> CCT:
    model_args = dict(**CCT_14, **TOKENIZER_7x2, img_size=384)
    return _create_cct('cct_14_7x2_384', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def cct_14_7x2_384_fl(pretrained: bool = False, **kwargs) -> CCT:
    model_args = dict(**CCT_14, **TOKENIZER_7x2, img_size=384)
    return _create_cct('cct_14_7x2_384_fl', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def cct_7_7x2_112(pretrained: bool = False, **kwargs) -> CCT:
    """CPU-sized: 7 blocks at the CCT-14 width (384), 7x2 tokenizer, 112 px = 7x7 tokens.
    Takes the ImageNet CCT-14 weights (first 7 blocks, positional embedding resized)."""
    model_args = dict(**CCT_14_FIRST_7, **TOKENIZER_7x2, img_size=112)
    return _create_cct('cct_7_7x2_112', pretrained=pretrained, **dict(model_args, **kwargs))
