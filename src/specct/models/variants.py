"""Variants.md, generated from the registry so it never goes stale:

    python -m specct.models.variants > Variants.md

Every registered name of every family (`specct.models.FAMILIES`) with its input size, whether
it takes a speaker vector (the model's `takes_speaker`) and how it fuses it, its architecture,
parameters, GMACs (counted with torch.utils.flop_counter on one image, attention and LSTM
included), the weights its pretrained config points at, and the config file to use.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import timm
import torch
from timm.models import get_pretrained_cfg
from torch.utils.flop_counter import FlopCounterMode

from ..core.fileio import write_text_atomic
from . import FAMILIES, speaker_cct
from .cct import CCT
from .factory import takes_speaker
from .layers import set_fused_attn
from .linear import set_onednn_linear

__all__ = ['variant_rows', 'render_markdown', 'count_gmacs', 'config_file']

MODULES = FAMILIES
WEIGHTS = {
    'in1k': 'ImageNet-1k',
    'cifar10_300e': 'CIFAR-10 (300 epochs)',
    'cifar10_5000e': 'CIFAR-10 (5000 epochs)',
    'cifar100_300e': 'CIFAR-100 (300 epochs)',
    'cifar100_5000e': 'CIFAR-100 (5000 epochs)',
    'flowers102': 'Flowers-102',
    'tv_in1k': 'ImageNet-1k, torchvision AlexNet',
}
FUSION_TITLES = {
    'second_transformer': 'speaker: second transformer',
    'end_to_end': 'speaker: token, pooled',
    'end_to_end_speaker_token': 'speaker: token, read out',
    'concat': 'speaker: concatenation',
}


def count_gmacs(model: torch.nn.Module) -> float:
    """Multiply-accumulates of one forward pass on one image, in billions."""
    # Plain matmuls throughout, so that the counter sees the attention products and the linear
    # layers (it counts aten matmuls, not the oneDNN op).
    set_fused_attn(model, False)
    set_onednn_linear(model, False)
    image = torch.zeros(1, model.in_chans, *model.img_size)
    inputs = (image, torch.zeros(1, model.speaker_input_dim)) if takes_speaker(model) else image
    counter = FlopCounterMode(display=False)
    # Without oneDNN, torch's LSTM runs as matmuls the counter sees (the oneDNN RNN kernel is opaque to it).
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # switching oneDNN warns about TF32 on Intel GPUs
        with counter, torch.no_grad(), torch.backends.mkldnn.flags(enabled=False):
            model.eval()(inputs)
    return counter.get_total_flops() / 2e9


def config_file(name: str) -> Optional[str]:
    """The training config for a model name, or None where none is shipped: a family's
    `configs/scratch/<name>.yml` (the `speaker_` variant uses the plain one, with --model), else
    the CCT recipes; None for the CIFAR/Flowers reference variants."""
    for candidate in (name, name[len('speaker_'):] if name.startswith('speaker_') else None):
        if candidate and (Path(__file__).resolve().parents[1] / 'configs' / 'scratch' / f'{candidate}.yml').is_file():
            return f'configs/scratch/{candidate}.yml'
    if name not in timm.list_models(module=['cct', 'speaker_cct']):
        return None
    if name.endswith('_112'):
        paper_name = name
        for paper, alias in speaker_cct.PAPER_TO_ALIAS.items():
            if name.startswith(alias + '_'):
                paper_name = paper + name[len(alias):]
        return f'configs/cpu/{paper_name.replace("_7_7x2_112", "_7-7x2_112")}.yml'
    if name.startswith('speaker_') or name == 'cct_14_7x2_224':
        return 'configs/pretrained/cct_14-7x2_imagenet.yml'
    return None


def architecture(model: torch.nn.Module) -> str:
    if isinstance(model, CCT):
        heads = model.classifier.blocks[0].self_attn.num_heads
        return (f'CCT {len(model.classifier.blocks)} x {model.embed_dim} ({heads} heads), {model.num_tokens} tokens, '
                f'{model.pos_embed} positions')
    return getattr(model, 'arch_summary', type(model).__name__)


def variant_rows() -> List[Dict[str, str]]:
    rows = []
    for family in MODULES:
        for name in timm.list_models(module=family):
            model = timm.create_model(name)
            cfg = get_pretrained_cfg(name)
            kind = FUSION_TITLES[model.fusion_kind] if takes_speaker(model) else 'image only'
            weights = '-'
            if cfg is not None and cfg.url:
                weights = f'{WEIGHTS.get(cfg.tag, cfg.tag)} (`{cfg.url.rsplit("/", 1)[-1]}`)'
            config = config_file(name)
            rows.append({
                'name': f'`{name}`',
                'family': family,
                'input': 'x'.join(map(str, model.img_size)),
                'kind': kind,
                'architecture': architecture(model),
                'params (M)': f'{sum(p.numel() for p in model.parameters() if p.requires_grad) / 1e6:.2f}',
                'GMACs': f'{count_gmacs(model):.2f}',
                'pretrained weights': weights,
                'config': f'`{config}`' if config else '-',
            })
    return rows


def render_markdown(rows: List[Dict[str, str]]) -> str:
    header = [
        '# Model variants',
        '',
        'Generated by `python -m specct.models.variants > Variants.md`; do not edit by hand.',
        'Every name below is a `timm.create_model` name once `specct.models` is imported.',
        '',
        '- Parameters are trainable parameters with a 1000-class head (a fixed sine table is not counted).',
        '- GMACs: multiply-accumulates of one forward pass on one image, counted with',
        '  `torch.utils.flop_counter` (attention products included; without them CCT-14/7x2 at 224 px',
        '  is the 5.1 GMACs of the CCT paper).',
        '- *Pretrained weights* is the checkpoint the pretrained config loads (online with',
        '  `pretrained=True`, or offline with `pretrained_cfg_overlay=dict(file=PATH)`); the speaker',
        '  and `_112` models take the ImageNet CCT-14/7x2 weights: every backbone weight, the positional',
        '  embedding resized to their token grid; the speaker parts and the head start random.',
        '- The `*_7_7x2_112` models are CPU-sized: the first 7 blocks of the ImageNet CCT-14 (width 384),',
        '  at 112x112 px (7x7 tokens). They are not the CIFAR CCT-7 (width 256), which has no ImageNet weights.',
        '- Speaker names: the paper\'s (`speaker_vgg_cct_*`) and short aliases (`speaker_cct_*`) build',
        '  the same models.',
        '- `cnn_transformer`, `dcnn_blstm_attn`, `cnn_lstm`: the related systems (docs/models.md), each at',
        '  the published sizes (224 px) and CPU-sized (`*_tiny_112`); `speaker_<name>` adds the speaker',
        '  fusion of any image model (docs/models.md). `dcnn_blstm_attn_*` take torchvision\'s ImageNet',
        '  AlexNet for its DCNN; the others train from scratch (`configs/scratch/`).',
        '',
    ]
    columns = list(rows[0])
    table = ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
    table += ['| ' + ' | '.join(row[c] for c in columns) + ' |' for row in rows]
    return '\n'.join(header + table) + '\n'


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description='Print Variants.md (every registered specct model).')
    parser.add_argument('--out', type=Path, help='write here (atomically) instead of standard output')
    args = parser.parse_args(argv)
    text = render_markdown(variant_rows())
    if args.out is None:
        sys.stdout.write(text)
        return
    write_text_atomic(args.out, text)
    print(f'wrote {len(text.splitlines())} lines to {args.out}', file=sys.stderr)


if __name__ == '__main__':
    main()
