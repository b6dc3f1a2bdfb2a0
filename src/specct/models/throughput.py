"""Throughput of the models: training samples/s (forward + backward + AdamW step) and inference
samples/s at a fixed batch, and one-image latency, for several execution paths of the same
model, measured in the same run; and what fraction of the machine's float32 matmul peak, also
measured in the same run, each reaches.

Any family runs here (CCTs, the related systems, speaker-wrapped models); a path switches what
the model has (attention, linear layers, a CCT tokenizer) and leaves the rest as it is.

Paths:
    naive    explicit softmax(QK^T/sqrt(d))V attention, plain F.linear, NCHW tokenizer,
             for-loop AdamW: how the original code computed it
    fused    F.scaled_dot_product_attention, channels-last tokenizer, fused AdamW, linear
             layers as the models choose them on this host (oneDNN on AMD CPUs with AVX-512,
             F.linear elsewhere): the model defaults
    compiled as `fused`, under torch.compile
    bf16     as `fused`, under torch.autocast with bfloat16 (mixed precision: other numbers,
             so it is reported apart from the float32 paths)

The paths are timed in alternation, step by step, and the median is reported, so that load
from other processes on the machine affects them alike.
"""
from __future__ import annotations

import copy
import statistics
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence

import torch
import torch.nn as nn
from tqdm import tqdm

from .cct import ConvTokenizer
from .factory import create_model, takes_speaker
from .layers import set_fused_attn
from .linear import set_onednn_linear
from .variants import count_gmacs

__all__ = ['PATHS', 'REFERENCE', 'Measurement', 'run_benchmark', 'format_results', 'matmul_peak', 'host_description']

PATHS = ('naive', 'fused', 'compiled', 'bf16')
# The original code, same machine, batch 8: samples/s for the 14-layer speaker model. Printed
# beside the results as a figure, never as a ratio: it was not timed in this run.
REFERENCE = {'speaker_vgg_cct_14_7x2_224': dict(train=4.4, infer=16.0)}
# A training step is about three forward passes of work (forward, and backward for inputs and weights).
TRAIN_PASSES = 3


@dataclass
class Measurement:
    model: str
    path: str
    device: str
    batch: int
    train_per_s: float
    infer_per_s: float
    latency_ms: float
    gmacs: float = float('nan')          # one image, forward
    peak_gflops: float = float('nan')    # float32 matmul peak of this run

    def peak_fraction(self, per_s: float, passes: int = 1) -> float:
        return passes * 2 * self.gmacs * per_s / self.peak_gflops


def host_description() -> str:
    """CPU model, the ISA extensions that matter to the kernels, and torch's CPU code path."""
    model, flags = platform.processor() or platform.machine(), set()
    cpuinfo = Path('/proc/cpuinfo')
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(':')
            if key.strip() == 'model name' and value.strip():
                model = value.strip()
            elif key.strip() == 'flags':
                flags = set(value.split())
    isa = [f for f in ('avx2', 'fma', 'avx512f', 'avx512_bf16', 'avx512_vnni', 'amx_tile', 'amx_bf16') if f in flags]
    capability = torch.backends.cpu.get_cpu_capability()
    return (f'CPU {model}; ISA {" ".join(isa) if isa else "no avx2/avx512 reported"}; torch CPU kernels {capability}; '
            f'{torch.get_num_threads()} threads')


def matmul_peak(device: torch.device, size: int = 2048, repeats: int = 10, warmup: int = 2) -> float:
    """GFLOP/s of the best of `repeats` float32 (size x size) matmuls: the machine's practical peak."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    for _ in range(warmup):
        a @ b
    best = min(_timed(lambda: a @ b, device) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def make_inputs(model: nn.Module, batch: int, device: torch.device, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, model.in_chans, *model.img_size, generator=generator).to(device)
    if takes_speaker(model):
        return image, torch.randn(batch, model.speaker_input_dim, generator=generator).to(device)
    return image


def _prepare(base: nn.Module, path: str, device: torch.device):
    """A copy of `base` set up for `path`, with its optimizer and a callable to run."""
    model = copy.deepcopy(base).to(device)
    naive = path == 'naive'
    set_fused_attn(model, not naive)
    if naive:
        set_onednn_linear(model, False)   # the other paths keep the host's default (models/linear.py)
        for module in model.modules():
            if isinstance(module, ConvTokenizer):
                module.channels_last = False
                module.to(memory_format=torch.contiguous_format)
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
        peak_size: int = 2048,
) -> List[Measurement]:
    device = torch.device(device)
    unknown = set(paths) - set(PATHS)
    if unknown:
        raise ValueError(f'unknown path(s) {sorted(unknown)}; choose from {PATHS}')
    peak = matmul_peak(device, peak_size)
    results = []
    for name in model_names:
        torch.manual_seed(seed)
        base = create_model(name, num_classes=num_classes)
        gmacs = count_gmacs(copy.deepcopy(base))
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
                                       1000 * latency[path], gmacs, peak))
    return results


def format_results(results: Sequence[Measurement]) -> str:
    """Markdown table: speed, the fraction of the matmul peak reached, and speed-ups against the
    naive path of the same model (timed in the same run; no other ratio is given)."""
    naive = {(r.model, r.device): r for r in results if r.path == 'naive'}
    lines = ['| model | device | path | GMACs | train samples/s | infer samples/s | latency ms (1 image) '
             '| % of matmul peak (train / infer) | vs naive (train / infer) |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in results:
        base = naive.get((r.model, r.device))
        vs_naive = f'{r.train_per_s / base.train_per_s:.2f}x / {r.infer_per_s / base.infer_per_s:.2f}x' \
            if base and r.path != 'naive' else '-'
        peak = f'{100 * r.peak_fraction(r.train_per_s, TRAIN_PASSES):.1f} / {100 * r.peak_fraction(r.infer_per_s):.1f}'
        lines.append(f'| {r.model} | {r.device} | {r.path} | {r.gmacs:.2f} | {r.train_per_s:.2f} | {r.infer_per_s:.2f} '
                     f'| {r.latency_ms:.1f} | {peak} | {vs_naive} |')
    if results:
        lines.append('')
        lines.append(f'float32 matmul peak of this run: {results[0].peak_gflops:.0f} GFLOP/s; a training step '
                     f'counted as {TRAIN_PASSES} forward passes of work.')
    for name, ref in REFERENCE.items():
        if any(r.model == name for r in results):
            lines.append(f'The original code on the development machine (batch 8, not timed in this run): {name} '
                         f'{ref["train"]} train / {ref["infer"]} infer samples/s.')
    return '\n'.join(lines)
