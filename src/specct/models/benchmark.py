"""Throughput of the models: training samples/s (forward + backward + AdamW step) and inference
samples/s at a fixed batch, and one-image latency, for several execution paths of the same
model, measured in the same run.

Paths:
    naive    explicit softmax(QK^T/sqrt(d))V attention, NCHW tokenizer, for-loop AdamW:
             how the original code computed it
    fused    F.scaled_dot_product_attention, channels-last tokenizer, fused AdamW
             (the model defaults)
    compiled as `fused`, under torch.compile
    bf16     as `fused`, under torch.autocast with bfloat16 (mixed precision: other numbers,
             so it is reported apart from the float32 paths)

The paths are timed in alternation, step by step, and the median is reported, so that load
from other processes on the machine affects them alike.
"""
from __future__ import annotations

import copy
import statistics
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

import timm
import torch
import torch.nn as nn
from tqdm import tqdm

from .cct import set_fused_attn
from .linear import set_onednn_linear

__all__ = ['PATHS', 'REFERENCE', 'Measurement', 'run_benchmark', 'format_results']

PATHS = ('naive', 'fused', 'compiled', 'bf16')
# The original code, same machine, batch 8: samples/s for the 14-layer speaker model.
REFERENCE = {'speaker_vgg_cct_14_7x2_224': dict(train=4.4, infer=16.0)}


@dataclass
class Measurement:
    model: str
    path: str
    device: str
    batch: int
    train_per_s: float
    infer_per_s: float
    latency_ms: float


def make_inputs(model: nn.Module, batch: int, device: torch.device, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, model.in_chans, *model.img_size, generator=generator).to(device)
    if hasattr(model, 'speaker_dim'):
        width = model.speaker_raw_dim or model.speaker_dim
        return image, torch.randn(batch, width, generator=generator).to(device)
    return image


def _prepare(base: nn.Module, path: str, device: torch.device):
    """A copy of `base` set up for `path`, with its optimizer and a callable to run."""
    model = copy.deepcopy(base).to(device)
    naive = path == 'naive'
    set_fused_attn(model, not naive)
    set_onednn_linear(model, not naive)
    if naive:
        model.tokenizer.channels_last = False
        model.tokenizer.to(memory_format=torch.contiguous_format)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.05, fused=not naive)
    runner = torch.compile(model) if path == 'compiled' else model
    if path == 'bf16':
        return model, _autocast(runner, device), optimizer
    return model, runner, optimizer


def _autocast(model: nn.Module, device: torch.device) -> Callable:
    def run(inputs):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            return model(inputs).float()
    return run


def _timed(fn: Callable[[], None], device: torch.device) -> float:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _interleaved(steps: Dict[str, Callable[[], None]], warmup: int, repeats: int,
                 device: torch.device, label: str) -> Dict[str, float]:
    """Median seconds per call of each step, timing the steps in turn."""
    times = {name: [] for name in steps}
    for _ in range(warmup):
        for step in steps.values():
            step()
    for _ in tqdm(range(repeats), desc=label, leave=False):
        for name, step in steps.items():
            times[name].append(_timed(step, device))
    return {name: statistics.median(t) for name, t in times.items()}


def run_benchmark(
        model_names: Sequence[str],
        paths: Sequence[str] = ('naive', 'fused'),
        batch: int = 8,
        repeats: int = 5,
        warmup: int = 2,
        device: str = 'cpu',
        num_classes: int = 4,
        seed: int = 0,
) -> List[Measurement]:
    device = torch.device(device)
    unknown = set(paths) - set(PATHS)
    if unknown:
        raise ValueError(f'unknown path(s) {sorted(unknown)}; choose from {PATHS}')
    results = []
    for name in model_names:
        torch.manual_seed(seed)
        base = timm.create_model(name, num_classes=num_classes)
        prepared = {path: _prepare(base, path, device) for path in paths}
        inputs = make_inputs(base, batch, device, seed)
        one = make_inputs(base, 1, device, seed)
        targets = torch.arange(batch, device=device) % num_classes
        loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

        def train_step(model, runner, optimizer):
            def step():
                model.train()
                optimizer.zero_grad(set_to_none=True)
                loss_fn(runner(inputs), targets).backward()
                optimizer.step()
            return step

        def infer_step(model, runner, x):
            def step():
                model.eval()
                with torch.inference_mode():
                    runner(x)
            return step

        train = _interleaved({p: train_step(*prepared[p]) for p in paths}, warmup, repeats, device,
                             f'{name} train')
        infer = _interleaved({p: infer_step(m, r, inputs) for p, (m, r, _) in prepared.items()}, warmup, repeats,
                             device, f'{name} infer')
        latency = _interleaved({p: infer_step(m, r, one) for p, (m, r, _) in prepared.items()}, warmup,
                               repeats * 2, device, f'{name} latency')
        for path in paths:
            results.append(Measurement(name, path, device.type, batch, batch / train[path], batch / infer[path],
                                       1000 * latency[path]))
    return results


def format_results(results: Sequence[Measurement]) -> str:
    """Markdown table; speed-ups against the naive path and against the original code's figures."""
    naive = {(r.model, r.device): r for r in results if r.path == 'naive'}
    lines = ['| model | device | path | train samples/s | infer samples/s | latency ms (1 image) '
             '| vs naive (train / infer) | vs original code (train / infer) |',
             '|---|---|---|---|---|---|---|---|']
    for r in results:
        base = naive.get((r.model, r.device))
        vs_naive = f'{r.train_per_s / base.train_per_s:.2f}x / {r.infer_per_s / base.infer_per_s:.2f}x' \
            if base else '-'
        ref = REFERENCE.get(r.model) if r.device == 'cpu' and r.batch == 8 else None
        vs_ref = f'{r.train_per_s / ref["train"]:.2f}x / {r.infer_per_s / ref["infer"]:.2f}x' if ref else '-'
        lines.append(f'| {r.model} | {r.device} | {r.path} | {r.train_per_s:.2f} | {r.infer_per_s:.2f} '
                     f'| {r.latency_ms:.1f} | {vs_naive} | {vs_ref} |')
    return '\n'.join(lines)
