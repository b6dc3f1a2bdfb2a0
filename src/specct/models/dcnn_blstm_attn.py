"""DCNN + BLSTM with attention, one of the related systems specct compares against.

The spectrogram image is cut along time into fixed-length, overlapping segments; each is
resized to the DCNN's input and an AlexNet-style DCNN turns it into a segment embedding; a
bidirectional LSTM reads the segment embeddings in order; attention pooling (learned scores,
softmax over segments) gives the utterance vector; a linear head classifies.

The DCNN is torchvision's AlexNet (its modules and key names: `features.*`, fc6/fc7 as
`segment_fc.1` / `segment_fc.4`), so torchvision's ImageNet weights load:

    timm.create_model('dcnn_blstm_attn_224', pretrained=True)                  # online (torchvision URL)
    timm.create_model('dcnn_blstm_attn_224', pretrained=True,
                      pretrained_cfg_overlay=dict(file='alexnet-owt-7be5be79.pth'))   # offline

Online, the file lands in the torch hub cache (`$TORCH_HOME/hub/checkpoints/`), the same place
torchvision keeps it, so a file torchvision already fetched is not fetched again.
`checkpoint_filter_fn` is the one place that knows torchvision's key names.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from timm.layers import to_2tuple
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .layers import dropout_or_identity, init_weights, summarise_keys, sync_input_size
from .linear import Linear
from .speaker_fusion import speaker_model, with_speaker_cfgs

__all__ = ['DCNNBLSTMAttention', 'AttentionPool', 'checkpoint_filter_fn', 'ALEXNET_URL']

_logger = logging.getLogger(__name__)

ALEXNET_URL = 'https://download.pytorch.org/models/alexnet-owt-7be5be79.pth'  # torchvision IMAGENET1K_V1


class AttentionPool(nn.Module):
    """Weights a sequence by learned scores, softmax over its steps: v^T tanh(W h)."""

    def __init__(self, dim: int, attn_dim: int = 128):
        super().__init__()
        self.proj = Linear(dim, attn_dim)
        self.score = Linear(attn_dim, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.score(torch.tanh(self.proj(x))).softmax(dim=1)  # (B, S, 1)
        return (weights * x).sum(dim=1)


def segment_starts(width: int, segment_width: int, hop: int) -> List[int]:
    """Left edges of the segments along time; the last one ends at the right edge."""
    if segment_width > width:
        raise ValueError(f'segments of {segment_width} px do not fit an image {width} px wide')
    starts = list(range(0, width - segment_width + 1, hop))
    if starts[-1] != width - segment_width:
        starts.append(width - segment_width)
    return starts


class DCNNBLSTMAttention(nn.Module):
    """AlexNet on spectrogram segments -> BLSTM -> attention pooling -> head.

    Args:
        img_size: (frequency, time) pixels, or one int.
        segment_width, segment_hop: segment length and hop along time, in pixels.
        segment_size: (height, width) each segment is resized to for the DCNN.
        fc_dims: widths of AlexNet's fc6/fc7 used as segment embedding (4096, 4096), or () for
            the conv features, averaged (256).
        lstm_hidden: units per direction; attn_dim: width of the attention scorer.
        drop_rate: dropout in fc6/fc7 and before the head.
    """

    def __init__(
            self,
            img_size: Union[int, Tuple[int, int]] = 224,
            in_chans: int = 3,
            num_classes: int = 1000,
            segment_width: int = 64,
            segment_hop: int = 32,
            segment_size: Tuple[int, int] = (224, 224),
            fc_dims: Sequence[int] = (4096, 4096),
            lstm_hidden: int = 256,
            attn_dim: int = 128,
            drop_rate: float = 0.5,
            global_pool: str = 'attn',
    ):
        super().__init__()
        from torchvision.models import AlexNet

        if in_chans != 3:
            raise ValueError('the AlexNet DCNN reads 3-channel images')
        if tuple(fc_dims) not in ((), (4096, 4096)):
            raise ValueError(f'fc_dims must be (4096, 4096) (AlexNet fc6/fc7) or (), not {fc_dims}')
        if global_pool != 'attn':
            raise ValueError(f'segments are pooled by attention (attn), not {global_pool!r}')
        self.img_size = to_2tuple(img_size)
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.segment_width, self.segment_size = segment_width, tuple(segment_size)
        self.starts = segment_starts(self.img_size[1], segment_width, segment_hop)
        alexnet = AlexNet(dropout=drop_rate)
        self.features = alexnet.features
        if fc_dims:
            self.avgpool = alexnet.avgpool
            self.segment_fc = alexnet.classifier[:6]  # dropout, fc6, ReLU, dropout, fc7, ReLU
            embed_dim = 4096
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.segment_fc = nn.Identity()
            embed_dim = 256
        self.embed_dim = embed_dim
        self.lstm = nn.LSTM(embed_dim, lstm_hidden, batch_first=True, bidirectional=True)
        self.num_features = self.head_hidden_size = 2 * lstm_hidden
        self.attention_pool = AttentionPool(self.num_features, attn_dim)
        self.head_drop = dropout_or_identity(drop_rate)
        self.head = Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.attention_pool.apply(init_weights)
        init_weights(self.head)
        self.arch_summary = (f'AlexNet on {len(self.starts)} segments of {segment_width} px '
                             f'({"fc7" if fc_dims else "conv"} {embed_dim}), BLSTM 2 x {lstm_hidden}')

    @property
    def num_segments(self) -> int:
        return len(self.starts)

    def backbone_keys(self) -> List[str]:
        """State-dict keys an ImageNet AlexNet checkpoint must provide."""
        return [k for k in self.state_dict() if k.startswith(('features.', 'segment_fc.'))]

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        self.head = Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        init_weights(self.head)

    def segments(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> (B * S, C, *segment_size), segments in time order per image."""
        parts = torch.stack([x[..., s:s + self.segment_width] for s in self.starts], dim=1)
        parts = parts.flatten(0, 1)
        if tuple(parts.shape[-2:]) != self.segment_size:
            parts = F.interpolate(parts, size=self.segment_size, mode='bilinear', align_corners=False)
        return parts

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Image batch -> BLSTM outputs over the segments (B, S, 2 * lstm_hidden)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.in_chans, *self.img_size):
            raise ValueError(f'expected images of shape (B, {self.in_chans}, {self.img_size[0]}, {self.img_size[1]}), '
                             f'got {tuple(x.shape)}')
        batch = x.shape[0]
        embedded = self.segment_fc(self.avgpool(self.features(self.segments(x))).flatten(1))
        output, _ = self.lstm(embedded.reshape(batch, self.num_segments, self.embed_dim))
        return output

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.attention_pool(x))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def checkpoint_filter_fn(state_dict: Dict[str, torch.Tensor], model: DCNNBLSTMAttention) -> Dict[str, torch.Tensor]:
    """Fit torchvision's AlexNet checkpoint (or one of ours) to `model`.

    torchvision's `classifier.1` / `classifier.4` (fc6, fc7) become `segment_fc.1` / `.4`; its
    1000-class `classifier.6` and anything the model lacks go unused. A checkpoint without the
    conv features (or fc6/fc7, when the model has them) is refused. What stays at its initial
    value is logged and kept in `model.pretrained_report`.
    """
    for wrapper in ('model', 'state_dict'):
        if wrapper in state_dict and isinstance(state_dict[wrapper], dict):
            state_dict = state_dict[wrapper]
    target = model.state_dict()
    fitted, unused = {}, []
    for key, value in state_dict.items():
        key = key[len('module.'):] if key.startswith('module.') else key
        name = key
        if key.startswith(('classifier.1.', 'classifier.4.')):
            name = 'segment_fc.' + key[len('classifier.'):]
        if name not in target or value.shape != target[name].shape:
            unused.append(key)
            continue
        fitted[name] = value
    missing = [k for k in model.backbone_keys() if k not in fitted]
    if missing:
        raise RuntimeError(f'checkpoint does not fit {type(model).__name__}: it lacks {len(missing)} AlexNet '
                           f'weights ({summarise_keys(missing)})')
    left_random = [k for k in target if k not in fitted]
    model.pretrained_report = dict(loaded=sorted(fitted), left_random=left_random, unused=unused)
    _logger.info('Pretrained weights: %d tensors loaded; left at init: %s; unused from checkpoint: %s',
                 len(fitted), summarise_keys(left_random), summarise_keys(unused))
    return fitted


def _create(variant: str, pretrained: bool = False, **kwargs) -> DCNNBLSTMAttention:
    model = build_model_with_cfg(
        DCNNBLSTMAttention, variant, pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        pretrained_strict=False,  # the filter checks the AlexNet part; LSTM, attention and head are new
        **kwargs,
    )
    return sync_input_size(model)


def _cfg(img_size: int, **kwargs) -> Dict:
    return {
        'url': ALEXNET_URL, 'num_classes': 1000, 'input_size': (3, img_size, img_size), 'pool_size': None,
        'crop_pct': 1.0, 'interpolation': 'bicubic', 'fixed_input_size': True,
        'mean': IMAGENET_DEFAULT_MEAN, 'std': IMAGENET_DEFAULT_STD,
        'first_conv': 'features.0', 'classifier': 'head', 'license': 'bsd-3-clause',
        'origin_url': 'https://pytorch.org/vision/stable/models/alexnet.html',
        'notes': ("torchvision's ImageNet AlexNet fills the DCNN; the BLSTM, attention and head start random",),
        **kwargs,
    }


default_cfgs = generate_default_cfgs(with_speaker_cfgs({
    'dcnn_blstm_attn_224.tv_in1k': _cfg(224),
    'dcnn_blstm_attn_tiny_112.tv_in1k': _cfg(112),
}))

# The published design: 64-frame segments (hop 32) resized to AlexNet's input, fc7 embeddings.
PAPER = dict(segment_width=64, segment_hop=32, segment_size=(224, 224), fc_dims=(4096, 4096), lstm_hidden=256)
# CPU-sized: 32 px segments (hop 16) resized to 112 x 64, averaged conv features, 2 x 128 BLSTM.
TINY = dict(segment_width=32, segment_hop=16, segment_size=(112, 64), fc_dims=(), lstm_hidden=128)


@register_model
def dcnn_blstm_attn_224(pretrained: bool = False, **kwargs) -> DCNNBLSTMAttention:
    model_args = dict(**PAPER, img_size=224)
    return _create('dcnn_blstm_attn_224', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def dcnn_blstm_attn_tiny_112(pretrained: bool = False, **kwargs) -> DCNNBLSTMAttention:
    model_args = dict(**TINY, img_size=112)
    return _create('dcnn_blstm_attn_tiny_112', pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def speaker_dcnn_blstm_attn_224(pretrained: bool = False, **kwargs):
    return speaker_model('dcnn_blstm_attn_224', pretrained=pretrained, **kwargs)


@register_model
def speaker_dcnn_blstm_attn_tiny_112(pretrained: bool = False, **kwargs):
    return speaker_model('dcnn_blstm_attn_tiny_112', pretrained=pretrained, **kwargs)
