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

import torch
import torch.nn as nn
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model

from .cct import CCT, CCT_14, CCT_14_FIRST_7, TOKENIZER_7x2, checkpoint_filter_fn, spectrogram_cfg
from .layers import sync_input_size
from .speaker_fusion import SpeakerFusion, SpeakerInput, split_inputs

__all__ = ['SpeakerCCT', 'SpeakerFusion', 'FUSIONS']

FUSIONS = ('second_transformer', 'end_to_end', 'end_to_end_speaker_token')


class SpeakerCCT(SpeakerInput, CCT):
    """CCT + speaker embedding. Takes all CCT arguments, plus:

    Args:
        fusion: one of FUSIONS.
        speaker_dim: width of the speaker vector the model fuses (after PCA), default 256.
        speaker_raw_dim: when set, the model holds a fixed PCA (buffers `speaker_pca_mean`
            (raw,) and `speaker_pca_components` (speaker_dim, raw), initialised to zero mean and
            a truncated identity) and takes raw vectors of this width.
        fusion_depth, fusion_heads: size of the second transformer (`second_transformer` only).

    The speaker vector path (PCA buffers, projection, `takes_speaker`) is speaker_fusion's
    SpeakerInput, shared with the fusion of any image model.
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
        dim = self.embed_dim
        self.init_speaker_input(speaker_dim, speaker_raw_dim, dim)
        if fusion == 'second_transformer':
            self.fusion = SpeakerFusion(dim, depth=fusion_depth, num_heads=fusion_heads, mlp_ratio=self.mlp_ratio)
        else:
            # The speaker token's own positional slot, ahead of the image-token grid.
            self.speaker_pos_emb = nn.Parameter(torch.zeros(1, 1, dim))
            nn.init.trunc_normal_(self.speaker_pos_emb, std=0.2)

    @torch.jit.ignore
    def no_weight_decay(self) -> Set[str]:
        """The CCT's position embedding, and the speaker's: the fusion's [emotion, speaker] slots or
        the speaker token's slot."""
        own = {'fusion.positional_emb'} if self.fusion_kind == 'second_transformer' else {'speaker_pos_emb'}
        return super().no_weight_decay() | own

    def forward_features(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """(image, speaker) -> normalised token sequence: (B, 2, D) for `second_transformer`
        ([emotion, speaker]), (B, 1 + N, D) for the end-to-end fusions (speaker token first)."""
        image, speaker = split_inputs(inputs)
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
