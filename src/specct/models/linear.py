"""A drop-in `nn.Linear` whose float32 CPU matmuls run through oneDNN.

`F.linear` on CPU hands float32 matmuls to the BLAS library torch was built with (MKL in the
official wheels). On AMD CPUs MKL takes a generic code path: on the 2-core AVX-512 EPYC this
project is developed on it reaches about 150 GFLOP/s on the transformer's shapes, where
oneDNN, which torch also ships and uses for its convolutions, reaches 320-380. The linear
layers are about three quarters of a CCT's work, so this is the largest single speed-up on
such machines. On Intel CPUs MKL is fast too (not measured here); on other architectures
oneDNN may be built on other kernels, so the path is on by default on x86-64 only.

Same parameters, same state-dict keys, same numbers to float32 rounding (the summation order
differs). The oneDNN path is taken only where it is safe: float32 on CPU, outside autocast,
outside tracing, export and torch.compile (which all see a plain `F.linear`).
"""
from __future__ import annotations

import platform

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ['Linear', 'onednn_available', 'set_onednn_linear']


def onednn_available() -> bool:
    return (platform.machine().lower() in ('x86_64', 'amd64')
            and torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
            and hasattr(torch.ops.mkldnn, '_linear_pointwise'))


def _matmul(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x @ weight.T + bias through oneDNN; strided (transposed) operands are read in place."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, bias, 'none', [], '')


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
        self.onednn = onednn_available()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.onednn or _plain_path_required(x, self.weight):
            return F.linear(x, self.weight, self.bias)
        if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, self.weight, self.bias)):
            return _OneDNNLinear.apply(x, self.weight, self.bias)
        return _matmul(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f'{super().extra_repr()}, onednn={self.onednn}'


def set_onednn_linear(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Switch every `Linear` of `model` between the oneDNN and the plain path."""
    for module in model.modules():
        if isinstance(module, Linear):
            module.onednn = enabled and onednn_available()
    return model
