"""CCT and Speaker-CCT models in the timm registry: importing this package registers them all,
so `timm.create_model('speaker_vgg_cct_14_7x2_224', ...)` works after `import specct.models`."""
from .cct import CCT, checkpoint_filter_fn, resize_pos_embed, set_fused_attn
from .speaker_cct import FUSIONS, SpeakerCCT

__all__ = ['CCT', 'SpeakerCCT', 'FUSIONS', 'checkpoint_filter_fn', 'resize_pos_embed', 'set_fused_attn']
