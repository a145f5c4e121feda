"""Convolution as three primitives closed under differentiation: ``conv``, ``conv_input``, ``conv_weight``.

y = conv(x, w) is bilinear in x and w, so each of its rules is a linear map of g, and a bilinear function of
its own two arrays: the transposed convolution ``conv_input(g, w)`` for x, ``conv_weight(x, g)`` for w. The
rules of those two are again the three (h is the upstream gradient of the rule's result):

    ⟨h, conv_input(g, w)⟩  = ⟨conv(h, w), g⟩     so its rules are conv(h, w) for g, conv_weight(h, g) for w
    ⟨H, conv_weight(x, g)⟩ = ⟨g, conv(x, H)⟩     so its rules are conv_input(g, H) for x, conv(x, H) for g

Each rule runs the NumPy kernel (``minigrad.conv_kernels``) on arrays and records the primitive on Tensors, so
``create_graph``, forward mode and ``mg.compile`` go through the same table to any order.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from . import conv_kernels as kernels
from . import onnx_layers
from .recording import record
from .registry import primitive
from .tensor import Tensor, as_tensor


def _run(name: str, *args: Any) -> Any:
    """The kernel ``name`` on arrays; on Tensors (under ``create_graph``) the primitive of that name, recorded."""
    if any(isinstance(a, Tensor) for a in args[:2]):
        return {"conv": conv_nd, "conv_input": conv_input, "conv_weight": conv_weight}[name](*args)
    return getattr(kernels, name)(*args)


# -- the rules: each a primitive of this file, run on arrays or recorded on Tensors --------------------------
def _conv_x_vjp(g: Any, ans: Any, x: Any, w: Any, geometry: tuple) -> Any:
    # y = x ⋆ w: ∂y/∂x spreads w over each window, so Jᵀg = Σ over windows of wᵀg: the transposed convolution
    return _run("conv_input", g, w, x.shape, geometry)


def _conv_w_vjp(g: Any, ans: Any, x: Any, w: Any, geometry: tuple) -> Any:
    # y = x ⋆ w: ∂yₙₒₚ/∂w_ock = x's window p at tap ck, so Jᵀg = Σₙₚ g ⊗ window. x's columns are made again
    # here rather than kept from the forward pass: on LeNet at batch 64 keeping them multiplies the peak
    # memory by 9 (benchmarks/net_cnn.py), and making them again costs about 110 µs a convolution
    return _run("conv_weight", x, g, w.shape, geometry)


def _input_g_vjp(h: Any, ans: Any, g: Any, w: Any, x_shape: tuple, geometry: tuple) -> Any:
    # r = conv_input(g, w), linear in g: its transpose is the convolution itself
    return _run("conv", h, w, geometry)


def _input_w_vjp(h: Any, ans: Any, g: Any, w: Any, x_shape: tuple, geometry: tuple) -> Any:
    # ⟨h, conv_input(g, w)⟩ = ⟨conv(h, w), g⟩: in w, the weight gradient of h's convolution against g
    return _run("conv_weight", h, g, w.shape, geometry)


def _weight_x_vjp(h: Any, ans: Any, x: Any, g: Any, w_shape: tuple, geometry: tuple) -> Any:
    # ⟨h, conv_weight(x, g)⟩ = ⟨g, conv(x, h)⟩: in x, the transposed convolution of g by h
    return _run("conv_input", g, h, x.shape, geometry)


def _weight_g_vjp(h: Any, ans: Any, x: Any, g: Any, w_shape: tuple, geometry: tuple) -> Any:
    # ⟨h, conv_weight(x, g)⟩ = ⟨g, conv(x, h)⟩: in g, x convolved with h
    return _run("conv", x, h, geometry)


def _parents(*tensors: Tensor) -> tuple:
    return tuple(t if t._rg else None for t in tensors)


@primitive("conv", (_conv_x_vjp, _conv_w_vjp, None), compute=kernels.conv, onnx=onnx_layers.conv)
def conv_nd(x: Any, w: Any, geometry: tuple) -> Tensor:
    """y = x ⋆ w for a checked ``geometry`` (stride, pads, dilation, groups); see ``conv`` for the arguments."""
    x, w = as_tensor(x, "conv"), as_tensor(w, "conv")
    xd, wd = x._data, w._data
    return record("conv", kernels.conv(xd, wd, geometry), (xd, wd, geometry), _parents(x, w), (x, w, geometry))


@primitive(
    "conv_input", (_input_g_vjp, _input_w_vjp, None, None), compute=kernels.conv_input, onnx=onnx_layers.conv_input
)
def conv_input(g: Any, w: Any, x_shape: tuple, geometry: tuple) -> Tensor:
    """The transposed convolution: the gradient of conv(x, w) in x for the upstream gradient g."""
    g, w = as_tensor(g, "conv_input"), as_tensor(w, "conv_input")
    gd, wd = g._data, w._data
    value = kernels.conv_input(gd, wd, x_shape, geometry)
    return record("conv_input", value, (gd, wd, x_shape, geometry), _parents(g, w), (g, w, x_shape, geometry))


@primitive(
    "conv_weight",
    (_weight_x_vjp, _weight_g_vjp, None, None),
    compute=kernels.conv_weight,
    onnx=onnx_layers.conv_weight,
)
def conv_weight(x: Any, g: Any, w_shape: tuple, geometry: tuple) -> Tensor:
    """The gradient of conv(x, w) in w for the upstream gradient g."""
    x, g = as_tensor(x, "conv_weight"), as_tensor(g, "conv_weight")
    xd, gd = x._data, g._data
    value = kernels.conv_weight(xd, gd, w_shape, geometry)
    return record("conv_weight", value, (xd, gd, w_shape, geometry), _parents(x, g), (x, g, w_shape, geometry))


# -- arguments ----------------------------------------------------------------------------------------------
def _per_axis(op: str, name: str, value: Any, nd: int, low: int) -> tuple:
    """An int or a tuple of ``nd`` ints, each at least ``low``, as a tuple."""
    values = (value,) * nd if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    if (
        not isinstance(values, (tuple, list))
        or len(values) != nd
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low for v in values)
    ):
        raise ValueError(f"{op}: {name} must be an int >= {low} or a tuple of {nd} such ints, got {value!r}")
    return tuple(int(v) for v in values)


def _pads(op: str, padding: Any, kernel: tuple, stride: tuple, dilation: tuple) -> tuple:
    """(before, after) per axis from an int, a tuple, 'valid' or 'same' (PyTorch's: the odd one after)."""
    nd = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding != "same":
            raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError(f"{op}: padding='same' needs stride 1, got stride={stride}")
        total = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
        return tuple((t // 2, t - t // 2) for t in total)
    return tuple((p, p) for p in _per_axis(op, "padding", padding, nd, 0))


def remembered(check: Any) -> Any:
    """``check`` with its answers kept for hashable arguments (lists are checked every time): a layer asks the
    same question at every step, and the answer costs more than a small convolution's arithmetic."""
    cached = functools.lru_cache(maxsize=256)(check)

    def call(*args: Any) -> Any:
        try:
            hash(args)
        except TypeError:
            return check(*args)
        return cached(*args)

    return functools.wraps(check)(call)


@remembered
def geometry(op: str, x_shape: tuple, w_shape: tuple, stride: Any, padding: Any, dilation: Any, groups: Any) -> tuple:
    """The checked geometry (stride, pads, dilation, groups) of convolving x_shape by w_shape."""
    nd = len(w_shape) - 2
    if len(x_shape) != nd + 2:
        raise ValueError(
            f"{op}: input of shape {x_shape} has {len(x_shape)} dimensions, expected {nd + 2} "
            f"(batch, channels and {nd} spatial) for a weight of shape {w_shape}"
        )
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, got {groups!r}")
    out_channels, c = w_shape[0], x_shape[1]
    if c % groups or out_channels % groups:
        raise ValueError(
            f"{op}: groups={groups} must divide the input channels ({c}) and the output channels ({out_channels})"
        )
    if c != w_shape[1] * groups:
        raise ValueError(
            f"{op}: input has {c} channels, expected weight.shape[1] * groups = {w_shape[1] * groups} "
            f"(input shape {x_shape}, weight shape {w_shape}, groups={groups})"
        )
    kernel = tuple(w_shape[2:])
    stride = _per_axis(op, "stride", stride, nd, 1)
    dilation = _per_axis(op, "dilation", dilation, nd, 1)
    pads = _pads(op, padding, kernel, stride, dilation)
    full = tuple(i + lo + hi for i, (lo, hi) in zip(x_shape[2:], pads, strict=True))
    reach = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True))
    if any(r > f for r, f in zip(reach, full, strict=True)):
        raise ValueError(
            f"{op}: kernel of size {kernel} (dilated {reach}) is larger than the padded input {full} "
            f"(input shape {x_shape}, padding {[p for p, _ in pads]})"
        )
    return stride, pads, dilation, int(groups)


def conv(x: Any, weight: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Tensor:
    """Convolution (cross-correlation, as PyTorch's) over the spatial axes of x, as many as weight has.

    x is (N, C, *I), weight (O, C/groups, *K); the result (N, O, *P) with
    P = ⌊(I + 2·padding − dilation·(K − 1) − 1) / stride⌋ + 1. ``stride``, ``padding`` and ``dilation`` are an
    int or one int per spatial axis; ``padding`` may also be 'valid' (0) or 'same' (stride 1; an odd total
    padding puts the extra zero after, as PyTorch). Zero padding only. Computed by im2col and one matrix
    product per group (``minigrad.conv_kernels``).
    """
    x, weight = as_tensor(x, "conv"), as_tensor(weight, "conv")
    if weight.ndim < 3:
        raise ValueError(f"conv: weight must be (out, in/groups, *kernel), got shape {weight.shape}")
    geom = geometry("conv", x.shape, weight.shape, stride, padding, dilation, groups)
    return conv_nd(x, weight, geom)
