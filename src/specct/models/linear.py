"""A drop-in `nn.Linear` whose float32 CPU matmuls can run through oneDNN.

`F.linear` on CPU hands float32 matmuls to the BLAS library torch was built with (MKL in the
official wheels). Measured on the transformer's shapes (docs/performance.md):
- AMD EPYC with AVX-512: MKL takes a generic code path, about 150 GFLOP/s on 2 threads, where
  oneDNN reaches 320-380; the whole model trains 1.6x faster through oneDNN;
- AMD EPYC with AVX2 only: both reach about 108 GFLOP/s; no gain (0.98x);
- Intel CPUs: not measured; MKL is expected to be fast there.
So the path is chosen by CPU features, once per process: on by default only on an AMD CPU with
AVX-512, where it was measured to help. `SPECCT_ONEDNN_LINEAR=1` or `0` overrides the choice.
A deterministic rule rather than a timing check, so that the same run gives the same numbers.

The oneDNN operator is private to torch. Where a torch release lacks it, or a call to it fails,
the layer falls back to `F.linear` (once, with a warning) instead of failing.

Same parameters, same state-dict keys, same numbers to float32 rounding (the summation order
differs). The oneDNN path is taken only where it is safe: float32 on CPU, outside autocast,
outside tracing, export and torch.compile (which all see a plain `F.linear`).
"""
from __future__ import annotations

import functools
import os
import platform
import warnings

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['Linear', 'cpu_features', 'onednn_available', 'onednn_helps', 'set_onednn_linear']

ENV_SWITCH = 'SPECCT_ONEDNN_LINEAR'


@functools.lru_cache(maxsize=1)
def cpu_features() -> dict:
    """``{'model': ..., 'vendor': ..., 'flags': set(...)}`` of this host (Linux /proc/cpuinfo; else empty)."""
    info = {'model': platform.processor() or platform.machine(), 'vendor': '', 'flags': frozenset()}
    try:
        text = open('/proc/cpuinfo', encoding='utf-8', errors='replace').read()
    except OSError:
        return info
    for line in text.splitlines():
        key, _, value = line.partition(':')
        key, value = key.strip(), value.strip()
        if key == 'model name' and value:
            info['model'] = value
        elif key == 'vendor_id':
            info['vendor'] = value
        elif key == 'flags':
            info['flags'] = frozenset(value.split())
            break  # the first processor describes them all
    return info


def _onednn_op():
    """torch's private oneDNN linear operator, or None where this torch release has none."""
    try:
        return getattr(torch.ops.mkldnn, '_linear_pointwise')
    except (AttributeError, RuntimeError):
        return None


def onednn_available() -> bool:
    """The operator exists and oneDNN is usable on this (x86-64) machine."""
    return (platform.machine().lower() in ('x86_64', 'amd64')
            and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
            and _onednn_op() is not None)


def onednn_helps() -> bool:
    """Whether the oneDNN path is on by default here: measured to help on AMD CPUs with AVX-512 only."""
    switch = os.environ.get(ENV_SWITCH, '').strip().lower()
    if switch in ('0', 'false', 'off', 'no'):
        return False
    if not onednn_available():
        return False
    if switch in ('1', 'true', 'on', 'yes'):
        return True
    features = cpu_features()
    return features['vendor'] == 'AuthenticAMD' and 'avx512f' in features['flags']


def _matmul(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x @ weight.T + bias through oneDNN; strided (transposed) operands are read in place."""
    return _onednn_op()(x, weight, bias, 'none', [], '')


class _OneDNNLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return _matmul(x, weight, bias)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad2d = grad.reshape(-1, grad.shape[-1])
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = _matmul(grad2d, weight.t(), None).reshape(x.shape)
        if ctx.needs_input_grad[1]:
            grad_weight = _matmul(grad2d.t(), x.reshape(-1, x.shape[-1]).t(), None)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad2d.sum(0)
        return grad_x, grad_weight, grad_bias


def _plain_path_required(x: torch.Tensor, weight: torch.Tensor) -> bool:
    # Tracers and compilers first: they must see F.linear, and shape checks would warn there.
    if (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling()
            or torch.onnx.is_in_onnx_export()):
        return True
    return (x.device.type != 'cpu' or x.dtype != torch.float32 or weight.dtype != torch.float32
            or x.numel() == 0 or torch.is_autocast_enabled('cpu'))


class Linear(nn.Linear):
    """`nn.Linear` with the oneDNN path on CPU float32 (see the module docstring).
    `onednn=False` gives the plain `F.linear`, as the original code computed it."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, **kwargs):
        super().__init__(in_features, out_features, bias=bias, **kwargs)
        self.onednn = onednn_helps()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.onednn or _plain_path_required(x, self.weight):
            return F.linear(x, self.weight, self.bias)
        try:
            if torch.is_grad_enabled() and any(t is not None and t.requires_grad
                                               for t in (x, self.weight, self.bias)):
                return _OneDNNLinear.apply(x, self.weight, self.bias)
            return _matmul(x, self.weight, self.bias)
        except (RuntimeError, TypeError) as exc:  # a torch release whose private operator changed
            warnings.warn(f'oneDNN linear failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ""}); '
                          f'using F.linear from now on', RuntimeWarning, stacklevel=2)
            self.onednn = False
            return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, onednn={self.onednn}'


def set_onednn_linear(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch every `Linear` of `model` between the oneDNN and the plain path."""
    for module in model.modules():
        if isinstance(module, Linear):
            module.onednn = enabled and onednn_available()
    return model
