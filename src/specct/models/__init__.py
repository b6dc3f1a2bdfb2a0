"""specct's models in the timm registry: importing this package registers every family, so
`timm.create_model('speaker_vgg_cct_14_7x2_224', ...)` works after `import specct.models`.

One module per family; FAMILIES lists them (Variants.md and the tests read it). Adding a family
is its file, one line here, and its test (docs/models.md).
"""
from . import cct, cnn_lstm, cnn_transformer, dcnn_blstm_attn, speaker_cct  # noqa: F401  (register the models)
from . import whisper_finetune, whisper_head  # noqa: F401  (on Whisper frames, not image families: not in FAMILIES)
from .cct import CCT, checkpoint_filter_fn, resize_pos_embed
from .factory import create_model, model_from_checkpoint, takes_speaker
from .layers import set_fused_attn
from .speaker_cct import FUSIONS, SpeakerCCT
from .speaker_fusion import FUSIONS as SPEAKER_FUSIONS
from .speaker_fusion import SpeakerModel

FAMILIES = ['cct', 'speaker_cct', 'cnn_transformer', 'dcnn_blstm_attn', 'cnn_lstm']

__all__ = ['CCT', 'SpeakerCCT', 'SpeakerModel', 'FUSIONS', 'SPEAKER_FUSIONS', 'FAMILIES', 'checkpoint_filter_fn',
           'resize_pos_embed', 'set_fused_attn', 'create_model', 'model_from_checkpoint', 'takes_speaker']
