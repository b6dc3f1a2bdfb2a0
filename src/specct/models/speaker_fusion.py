"""Speaker fusion for any image model: the pooled emotion features of a timm model, fused with
the speaker vector of the same utterance (Arezzo & Berretti 2022, "SPEAKER VGG CCT", applied to
other backbones).

    model = timm.create_model('speaker_cnn_transformer_tiny_112', num_classes=4)   # registered
    model = specct.models.create_model('speaker_resnet18', num_classes=4)         # any timm name
    logits = model((images, speaker_vectors))                                     # one tuple

The backbone is any registered image model with timm's `forward_features` and
`forward_head(x, pre_logits=True)`, built without its head (`num_classes=0`): its pooled
features are the emotion vector (width `backbone.num_features`).

Speaker vector path (shared with the CCT token-level fusions in speaker_cct.py, same state-dict
keys): `(x - speaker_pca_mean) @ speaker_pca_components.T` when the model holds a PCA
(`speaker_raw_dim` set; fill it with `attach_speaker_pca`), then `speaker_proj`, a learned
Linear from `speaker_dim` to the emotion width (an identity when the widths are equal).

Fusions:

- `second_transformer` (the paper's): [emotion vector, speaker vector] + their own positions
  -> a second transformer (1 layer, 1 head by default) -> the emotion position -> LayerNorm -> head.
- `concat` (the simple baseline): [emotion vector ; speaker vector] -> head.

Whether a model takes a speaker vector is stated once, by the model: `takes_speaker`
(True here and on SpeakerCCT, absent = False on every image model); `specct.models.factory`
reads it for training, evaluation, prediction, Variants.md and the benchmark.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, Optional, Sequence, Set

import numpy as np
import torch
import torch.nn as nn

from .layers import Block, init_weights
from .linear import Linear

__all__ = ['SpeakerInput', 'SpeakerFusion', 'SpeakerModel', 'FUSIONS', 'speaker_model', 'with_speaker_cfgs',
           'SPEAKER_PREFIX']

FUSIONS = ('second_transformer', 'concat')
SPEAKER_PREFIX = 'speaker_'


class SpeakerInput:
    """Mixin of the models that take `(image, speaker_vector)`: the PCA buffers, the projection
    and `takes_speaker`. Registers `speaker_pca_mean`, `speaker_pca_components` (when
    `speaker_raw_dim` is set) and `speaker_proj` on the model itself, so every speaker model has
    the same keys for them."""

    takes_speaker = True

    def init_speaker_input(self, speaker_dim: int, speaker_raw_dim: Optional[int], width: int) -> None:
        self.speaker_dim = speaker_dim
        self.speaker_raw_dim = speaker_raw_dim
        if speaker_raw_dim is not None:
            self.register_buffer('speaker_pca_mean', torch.zeros(speaker_raw_dim))
            self.register_buffer('speaker_pca_components', torch.eye(speaker_dim, speaker_raw_dim))
        self.speaker_proj = Linear(speaker_dim, width) if speaker_dim != width else nn.Identity()
        self.speaker_proj.apply(init_weights)

    @property
    def speaker_input_dim(self) -> int:
        """Width of the vector the model takes: raw (it holds a PCA) or already reduced."""
        return self.speaker_raw_dim if self.speaker_raw_dim is not None else self.speaker_dim

    def attach_speaker_pca(self, mean, components):
        """Copy a fitted PCA (mean (raw,), components (speaker_dim, raw)) into the model."""
        if self.speaker_raw_dim is None:
            raise ValueError('this model takes PCA-reduced vectors; build it with speaker_raw_dim=... to hold a PCA')
        mean = torch.as_tensor(np.asarray(mean), dtype=torch.float32)
        components = torch.as_tensor(np.asarray(components), dtype=torch.float32)
        if tuple(mean.shape) != tuple(self.speaker_pca_mean.shape) or \
                tuple(components.shape) != tuple(self.speaker_pca_components.shape):
            raise ValueError(
                f'PCA shapes mean {tuple(mean.shape)}, components {tuple(components.shape)} do not fit the model: '
                f'expected {tuple(self.speaker_pca_mean.shape)} and {tuple(self.speaker_pca_components.shape)}')
        with torch.no_grad():
            self.speaker_pca_mean.copy_(mean)
            self.speaker_pca_components.copy_(components)
        return self

    def embed_speaker(self, speaker: torch.Tensor) -> torch.Tensor:
        """Speaker vector (B, raw or speaker_dim) -> (B, width)."""
        expected = self.speaker_input_dim
        if speaker.ndim != 2 or speaker.shape[1] != expected:
            raise ValueError(f'expected speaker vectors of shape (B, {expected}), got {tuple(speaker.shape)}')
        if self.speaker_raw_dim is not None:
            speaker = (speaker - self.speaker_pca_mean) @ self.speaker_pca_components.T
        return self.speaker_proj(speaker)


def split_inputs(inputs: Sequence[torch.Tensor]):
    if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
        raise TypeError(f'speaker models take one tuple (image, speaker_vector), got {type(inputs).__name__}')
    return inputs


class SpeakerFusion(nn.Module):
    """The paper's second transformer over [emotion, speaker] (CCT blocks, own positions, final norm)."""

    def __init__(self, dim: int, depth: int = 1, num_heads: int = 1, mlp_ratio: float = 3.):
        super().__init__()
        self.positional_emb = nn.Parameter(torch.zeros(1, 2, dim))
        nn.init.trunc_normal_(self.positional_emb, std=0.2)
        # No dropout or stochastic depth here, as in the paper's model.
        self.blocks = nn.ModuleList([Block(dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.blocks.apply(init_weights)

    def forward(self, emotion: torch.Tensor, speaker: torch.Tensor) -> torch.Tensor:
        x = torch.stack((emotion, speaker), dim=1) + self.positional_emb
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class SpeakerModel(SpeakerInput, nn.Module):
    """Any image model + a speaker vector.

    Args:
        backbone: an image model with `forward_features` / `forward_head(pre_logits=True)`, built
            with `num_classes=0` (its pooled features are the emotion vector).
        fusion: one of FUSIONS.
        num_classes: classes of the head.
        speaker_dim, speaker_raw_dim: as in SpeakerCCT (after-PCA width; raw width when the model
            holds the PCA).
        fusion_depth, fusion_heads, fusion_mlp_ratio: the second transformer (`second_transformer` only).
    """

    def __init__(
            self,
            backbone: nn.Module,
            fusion: str = 'second_transformer',
            num_classes: int = 1000,
            speaker_dim: int = 256,
            speaker_raw_dim: Optional[int] = None,
            fusion_depth: int = 1,
            fusion_heads: int = 1,
            fusion_mlp_ratio: float = 3.,
    ):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f'fusion must be one of {FUSIONS}, not {fusion!r}')
        self.backbone = backbone
        self.fusion_kind = fusion
        width = backbone.num_features
        self.init_speaker_input(speaker_dim, speaker_raw_dim, width)
        if fusion == 'second_transformer':
            self.fusion = SpeakerFusion(width, depth=fusion_depth, num_heads=fusion_heads, mlp_ratio=fusion_mlp_ratio)
        self.num_features = self.head_hidden_size = width * (2 if fusion == 'concat' else 1)
        self.num_classes = num_classes
        self.head = self._new_head(num_classes)
        cfg = dict(getattr(backbone, 'pretrained_cfg', {}) or {})
        self.in_chans = getattr(backbone, 'in_chans', cfg.get('input_size', (3,))[0])
        self.img_size = tuple(getattr(backbone, 'img_size', cfg.get('input_size', (3, 224, 224))[1:]))
        self.pretrained_cfg = self.default_cfg = {**cfg, 'classifier': 'head',
                                                  'input_size': (self.in_chans, *self.img_size)}

    def _new_head(self, num_classes: int) -> nn.Module:
        head = Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        head.apply(init_weights)
        return head

    @property
    def arch_summary(self) -> str:
        inner = getattr(self.backbone, 'arch_summary', type(self.backbone).__name__)
        return f'{inner}; speaker {self.fusion_kind.replace("_", " ")}'

    @torch.jit.ignore
    def no_weight_decay(self) -> Set[str]:
        """The backbone's own exemptions (timm's convention) and the fusion's position slots."""
        inner = getattr(self.backbone, 'no_weight_decay', lambda: set())()
        own = {'fusion.positional_emb'} if self.fusion_kind == 'second_transformer' else set()
        return {f'backbone.{name}' for name in inner} | own

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: Optional[str] = None) -> None:
        self.num_classes = num_classes
        self.head = self._new_head(num_classes)

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """(image, speaker) -> (B, 2, D) [emotion, speaker] after the second transformer, or the
        concatenation (B, 2D)."""
        image, speaker = split_inputs(inputs)
        emotion = self.backbone.forward_head(self.backbone.forward_features(image), pre_logits=True)
        speaker = self.embed_speaker(speaker.to(emotion.dtype))
        if self.fusion_kind == 'second_transformer':
            return self.fusion(emotion, speaker)
        return torch.cat((emotion, speaker), dim=1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.fusion_kind == 'second_transformer':
            x = x[:, 0]  # the emotion position
        return x if pre_logits else self.head(x)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.forward_head(self.forward_features(inputs))


FUSION_ARGS = tuple(p for p in inspect.signature(SpeakerModel.__init__).parameters if p not in ('self', 'backbone'))


def speaker_model(backbone_name: str, pretrained: bool = False, **kwargs: Any) -> SpeakerModel:
    """SpeakerModel around `timm.create_model(backbone_name, num_classes=0, ...)`.

    Fusion arguments (FUSION_ARGS) go to the wrapper, everything else to the backbone, so
    `pretrained`, `pretrained_cfg_overlay=dict(file=...)`, `img_size` or `drop_rate` reach it.
    """
    import timm

    kwargs.pop('pretrained_cfg', None)  # the speaker name's cfg; the backbone uses its own
    own = {k: kwargs.pop(k) for k in FUSION_ARGS if k in kwargs}
    backbone = timm.create_model(backbone_name, pretrained=pretrained, **{**kwargs, 'num_classes': 0})
    model = SpeakerModel(backbone, **own)
    model.pretrained_cfg = model.default_cfg = {**model.pretrained_cfg, 'architecture': SPEAKER_PREFIX + backbone_name}
    if hasattr(backbone, 'pretrained_report'):
        model.pretrained_report = backbone.pretrained_report
    return model


def with_speaker_cfgs(cfgs: Dict[str, Dict]) -> Dict[str, Dict]:
    """A family's pretrained cfgs plus the same cfg under each `speaker_` name (input size,
    normalisation, weights of the backbone), for `generate_default_cfgs`."""
    return {**cfgs, **{SPEAKER_PREFIX + name: dict(cfg, classifier='head') for name, cfg in cfgs.items()}}
