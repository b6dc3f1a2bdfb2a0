"""Speaker CCT: a CCT reading a spectrogram image, fused with a speaker embedding of the
same utterance (Arezzo & Berretti 2022, "SPEAKER VGG CCT").

Called as `model((image, speaker_vector))`: one tuple, so timm-style loops pass one input.
Three fusions, as in the paper's figures:

- `second_transformer` (`speaker_vgg_cct_*`): CCT -> sequence pooling -> emotion vector;
  [emotion vector, speaker vector] + their own positional embedding -> a second transformer
  (1 layer, 1 head by default) -> the emotion position -> LayerNorm -> head.
- `end_to_end` (`speaker_vgg_cct_end_to_end_*`): the speaker vector is a token prepended to
  the CCT sequence, with its own positional slot; sequence pooling reads all tokens.
- `end_to_end_speaker_token` (`speaker_vgg_cct_end_to_end_speaker_token_*`): as
  `end_to_end`, but the head reads the speaker-token position.

Speaker vector path: `(x - speaker_pca_mean) @ speaker_pca_components.T` when the model holds
a PCA (`speaker_raw_dim` set; fill it with `attach_speaker_pca`), then `speaker_proj`, a
learned Linear from `speaker_dim` to the CCT width. When the two widths are equal there is
no projection (identity), as in the paper, where the PCA reduced straight to the CCT width.

The backbone keeps the CCT key names, so the ImageNet CCT-14 checkpoint loads into every
backbone weight (tokenizer, positions, blocks, final norm and the sequence-pooling
`classifier.attention_pool`); what stays random is logged and kept in
`model.pretrained_report`.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Set

import numpy as np
import torch
import torch.nn as nn
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .cct import (
    CCT, CCT_14, CCT_14_FIRST_7, TOKENIZER_7x2, Block, _init_weights, checkpoint_filter_fn,
    spectrogram_cfg, sync_input_size,
)
from .linear import Linear

__all__ = ['SpeakerCCT', 'SpeakerFusion', 'FUSIONS']

FUSIONS = ('second_transformer', 'end_to_end', 'end_to_end_speaker_token')


class SpeakerFusion(nn.Module):
    """The second transformer of the `second_transformer` fusion, over [emotion, speaker]."""

    def __init__(self, dim: int, depth: int = 1, num_heads: int = 1, mlp_ratio: float = 3.):
        super().__init__()
        self.positional_emb = nn.Parameter(torch.zeros(1, 2, dim))
        nn.init.trunc_normal_(self.positional_emb, std=0.2)
        # No dropout or stochastic depth here, as in the paper's model.
        self.blocks = nn.ModuleList([Block(dim, num_heads, mlp_ratio) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)

    def forward(self, emotion: torch.Tensor, speaker: torch.Tensor) -> torch.Tensor:
        x = torch.stack((emotion, speaker), dim=1) + self.positional_emb
        for block in self.blocks:
            x = block(x)
        return self.norm(x)


class SpeakerCCT(CCT):
    """CCT + speaker embedding. Takes all CCT arguments, plus:

    Args:
        fusion: one of FUSIONS.
        speaker_dim: width of the speaker vector the model fuses (after PCA), default 256.
        speaker_raw_dim: when set, the model holds a fixed PCA (buffers `speaker_pca_mean`
            (raw,) and `speaker_pca_components` (speaker_dim, raw), initialised to zero mean and
            a truncated identity) and takes raw vectors of this width.
        fusion_depth, fusion_heads: size of the second transformer (`second_transformer` only).
    """

    def __init__(
            self,
            fusion: str = 'second_transformer',
            speaker_dim: int = 256,
            speaker_raw_dim: Optional[int] = None,
            fusion_depth: int = 1,
            fusion_heads: int = 1,
            **cct_kwargs,
    ):
        super().__init__(**cct_kwargs)
        if fusion not in FUSIONS:
            raise ValueError(f'fusion must be one of {FUSIONS}, not {fusion!r}')
        self.fusion_kind = fusion
        self.speaker_dim = speaker_dim
        self.speaker_raw_dim = speaker_raw_dim
        dim = self.embed_dim
        if speaker_raw_dim is not None:
            self.register_buffer('speaker_pca_mean', torch.zeros(speaker_raw_dim))
            self.register_buffer('speaker_pca_components', torch.eye(speaker_dim, speaker_raw_dim))
        self.speaker_proj = Linear(speaker_dim, dim) if speaker_dim != dim else nn.Identity()
        if fusion == 'second_transformer':
            self.fusion = SpeakerFusion(dim, depth=fusion_depth, num_heads=fusion_heads, mlp_ratio=self.mlp_ratio)
        else:
            # The speaker token's own positional slot, ahead of the image-token grid.
            self.speaker_pos_emb = nn.Parameter(torch.zeros(1, 1, dim))
            nn.init.trunc_normal_(self.speaker_pos_emb, std=0.2)
        self.speaker_proj.apply(_init_weights)
        if fusion == 'second_transformer':
            self.fusion.blocks.apply(_init_weights)

    @torch.jit.ignore
    def no_weight_decay(self) -> Set[str]:
        """The CCT's position embedding, and the speaker's: the fusion's [emotion, speaker] slots or
        the speaker token's slot."""
        own = {'fusion.positional_emb'} if self.fusion_kind == 'second_transformer' else {'speaker_pos_emb'}
        return super().no_weight_decay() | own

    def attach_speaker_pca(self, mean, components) -> 'SpeakerCCT':
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
        """Speaker vector (B, raw or speaker_dim) -> (B, embed_dim)."""
        expected = self.speaker_raw_dim if self.speaker_raw_dim is not None else self.speaker_dim
        if speaker.ndim != 2 or speaker.shape[1] != expected:
            raise ValueError(f'expected speaker vectors of shape (B, {expected}), got {tuple(speaker.shape)}')
        if self.speaker_raw_dim is not None:
            speaker = (speaker - self.speaker_pca_mean) @ self.speaker_pca_components.T
        return self.speaker_proj(speaker)

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """(image, speaker) -> normalised token sequence: (B, 2, D) for `second_transformer`
        ([emotion, speaker]), (B, 1 + N, D) for the end-to-end fusions (speaker token first)."""
        if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
            raise TypeError('speaker models take one tuple (image, speaker_vector), '
                            f'got {type(inputs).__name__}')
        image, speaker = inputs
        self._check_image(image)
        tokens = self.classifier.add_positions(self.tokenizer(image))
        speaker = self.embed_speaker(speaker.to(tokens.dtype))
        if self.fusion_kind == 'second_transformer':
            emotion = self.classifier.sequence_pool(self.classifier.encode(tokens))
            return self.fusion(emotion, speaker)
        speaker_token = speaker.unsqueeze(1) + self.speaker_pos_emb
        return self.classifier.encode(torch.cat((speaker_token, tokens), dim=1))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if self.fusion_kind == 'end_to_end':
            x = self.classifier.sequence_pool(x)
        else:
            # the emotion position of the second transformer, or the speaker token
            x = x[:, 0]
        return x if pre_logits else self.classifier.fc(x)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.forward_head(self.forward_features(inputs))


def _create_speaker_cct(variant: str, pretrained: bool = False, **kwargs) -> SpeakerCCT:
    model = build_model_with_cfg(
        SpeakerCCT, variant, pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        pretrained_strict=False,  # fusion weights are new; the filter reports them
        **kwargs,
    )
    return sync_input_size(model)


# Names: the paper's (users type them) and short aliases; the 112 px ones are CPU-sized.
PAPER_TO_ALIAS = {
    'speaker_vgg_cct': 'speaker_cct',
    'speaker_vgg_cct_end_to_end': 'speaker_cct_end_to_end',
    'speaker_vgg_cct_end_to_end_speaker_token': 'speaker_cct_speaker_token',
}
SIZES = {'14_7x2_224': 224, '7_7x2_112': 112}

default_cfgs = generate_default_cfgs({
    f'{prefix}_{size}.in1k': spectrogram_cfg(img_size)
    for paper, alias in PAPER_TO_ALIAS.items() for prefix in (paper, alias)
    for size, img_size in SIZES.items()
})


def _speaker(variant: str, fusion: str, size: str, pretrained: bool, kwargs: Dict) -> SpeakerCCT:
    arch = CCT_14 if size == '14_7x2_224' else CCT_14_FIRST_7
    model_args = dict(**arch, **TOKENIZER_7x2, img_size=SIZES[size], fusion=fusion)
    return _create_speaker_cct(variant, pretrained=pretrained, **dict(model_args, **kwargs))


@register_model
def speaker_vgg_cct_14_7x2_224(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_vgg_cct_14_7x2_224', 'second_transformer', '14_7x2_224', pretrained, kwargs)


@register_model
def speaker_vgg_cct_end_to_end_14_7x2_224(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_vgg_cct_end_to_end_14_7x2_224', 'end_to_end', '14_7x2_224', pretrained, kwargs)


@register_model
def speaker_vgg_cct_end_to_end_speaker_token_14_7x2_224(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_vgg_cct_end_to_end_speaker_token_14_7x2_224', 'end_to_end_speaker_token',
                    '14_7x2_224', pretrained, kwargs)


@register_model
def speaker_vgg_cct_7_7x2_112(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_vgg_cct_7_7x2_112', 'second_transformer', '7_7x2_112', pretrained, kwargs)


@register_model
def speaker_vgg_cct_end_to_end_7_7x2_112(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_vgg_cct_end_to_end_7_7x2_112', 'end_to_end', '7_7x2_112', pretrained, kwargs)


@register_model
def speaker_vgg_cct_end_to_end_speaker_token_7_7x2_112(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_vgg_cct_end_to_end_speaker_token_7_7x2_112', 'end_to_end_speaker_token',
                    '7_7x2_112', pretrained, kwargs)


@register_model
def speaker_cct_14_7x2_224(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_cct_14_7x2_224', 'second_transformer', '14_7x2_224', pretrained, kwargs)


@register_model
def speaker_cct_end_to_end_14_7x2_224(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_cct_end_to_end_14_7x2_224', 'end_to_end', '14_7x2_224', pretrained, kwargs)


@register_model
def speaker_cct_speaker_token_14_7x2_224(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_cct_speaker_token_14_7x2_224', 'end_to_end_speaker_token', '14_7x2_224',
                    pretrained, kwargs)


@register_model
def speaker_cct_7_7x2_112(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_cct_7_7x2_112', 'second_transformer', '7_7x2_112', pretrained, kwargs)


@register_model
def speaker_cct_end_to_end_7_7x2_112(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_cct_end_to_end_7_7x2_112', 'end_to_end', '7_7x2_112', pretrained, kwargs)


@register_model
def speaker_cct_speaker_token_7_7x2_112(pretrained: bool = False, **kwargs) -> SpeakerCCT:
    return _speaker('speaker_cct_speaker_token_7_7x2_112', 'end_to_end_speaker_token', '7_7x2_112',
                    pretrained, kwargs)
