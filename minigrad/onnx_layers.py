"""The ONNX lowerings of the network layers' primitives: convolution, pooling, embedding, the fused norms and
softmax, the GRU and LSTM scans (see ``minigrad.onnx_ops`` for what a lowering is). Nothing here imports ``onnx``."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import onnx_unrolled
from .onnx_ops import not_exportable, scalar

__all__ = ["not_exportable"]


def linear_rows(g: Any, args: tuple, ans: np.ndarray) -> str:
    bias = [] if args[2] is None else [g.input(2, ans.dtype)]
    return g.op("Gemm", g.input(0, ans.dtype), g.input(1, ans.dtype), *bias, transB=1)


# -- convolution and pooling -------------------------------------------------------------------------------
def _geometry(stride: tuple, pads: tuple, dilation: tuple) -> dict:
    pads = [lo for lo, _ in pads] + [hi for _, hi in pads]
    return {"strides": list(stride), "pads": pads, "dilations": list(dilation)}


def conv(g: Any, args: tuple, ans: np.ndarray) -> str:
    stride, pads, dilation, groups = args[2]
    x, w = g.input(0, ans.dtype), g.input(1, ans.dtype)
    return g.op("Conv", x, w, group=groups, **_geometry(stride, pads, dilation))


def conv_input(g: Any, args: tuple, ans: np.ndarray) -> str:
    # the transposed convolution; w (O, C/G, *K) is already ConvTranspose's layout (in, out/G, *K)
    gd, w, x_shape, (stride, pads, dilation, groups) = args
    reach = [
        s * (p - 1) + d * (k - 1) + 1 - lo - hi
        for s, p, d, k, (lo, hi) in zip(stride, gd.shape[2:], dilation, w.shape[2:], pads)
    ]
    extra = [i - r for i, r in zip(x_shape[2:], reach)]
    return g.op(
        "ConvTranspose", g.input(0, ans.dtype), g.input(1, ans.dtype), group=groups, output_padding=extra,
        **_geometry(stride, pads, dilation),
    )  # fmt: skip


def max_pool(g: Any, args: tuple, ans: np.ndarray) -> str:
    kernel, stride, pads, dilation = args[1]
    return g.op("MaxPool", g.input(0), kernel_shape=list(kernel), **_geometry(stride, pads, dilation))


# -- layers ------------------------------------------------------------------------------------------------
def embedding(g: Any, args: tuple, ans: np.ndarray) -> str:
    return g.op("Gather", g.input(0), g.value(args[1], np.int64), axis=0)


def layer_norm(g: Any, args: tuple, ans: np.ndarray) -> str:
    x, w, b, axes, eps = args
    inner = x.shape[x.ndim - len(axes) :]
    scale = g.input(1, ans.dtype) if w is not None else g.constant(np.ones(inner, dtype=ans.dtype))
    bias = [] if b is None else [g.input(2, ans.dtype)]
    if ans.dtype != np.float64:
        return g.op("LayerNormalization", g.input(0), scale, *bias, axis=x.ndim - len(axes), epsilon=eps)
    # in float64, as its formula: ONNX's epsilon attribute is a float32 (0.1 would be 0.1 + 1.5e-9)
    v, inner_axes = g.input(0), g.ints(range(x.ndim - len(axes), x.ndim))
    d = g.op("Sub", v, g.op("ReduceMean", v, inner_axes, keepdims=1))
    var = g.op("ReduceMean", g.op("Mul", d, d), inner_axes, keepdims=1)
    y = g.op("Mul", g.op("Div", d, g.op("Sqrt", g.op("Add", var, scalar(g, eps, ans.dtype)))), scale)
    return g.op("Add", y, bias[0]) if bias else y


def fused_softmax(g: Any, args: tuple, ans: np.ndarray) -> str:
    x = g.input(0)
    if args[1] != 1:
        x = g.op("Mul", x, scalar(g, args[1], ans.dtype))
    return g.op("Softmax", x, axis=-1)


def _recurrent(g: Any, args: tuple, ans: np.ndarray, op_type: str, order: tuple, states: int) -> list:
    """ONNX's GRU or LSTM for one direction of minigrad's scan: gi = x Wᵢₕᵀ is the input (W the identity, its
    gates put in ONNX's ``order``), Wₕₕ the recurrence, the two biases B. Returns (Y, Y_h[, Y_c])."""
    h0 = args[1]
    reverse = args[5 + states]
    size = h0.shape[-1]
    perm = np.concatenate([np.arange(k * size, (k + 1) * size) for k in order])
    pick = g.constant(perm)
    gates = lambda i: g.op("Gather", g.input(i, ans.dtype), pick, axis=0)
    batch1 = lambda v: g.op("Unsqueeze", v, g.ints([0]))
    zeros = np.zeros(len(perm), ans.dtype)
    biases = [gates(i) if args[i] is not None else g.constant(zeros) for i in (2 + states, 3 + states)]
    identity = g.constant(np.eye(len(perm), dtype=ans.dtype)[perm][None])
    inputs = [g.input(0, ans.dtype), identity, batch1(gates(1 + states))]
    inputs += [batch1(g.op("Concat", *biases, axis=0)), ""]
    for i in range(1, 1 + states):  # initial states: ONNX's zeros when they are constant zeros (any batch size)
        start = g.static_or_none(i)
        inputs.append("" if start is not None and not start.any() else batch1(g.input(i, ans.dtype)))
    direction = "reverse" if reverse else "forward"
    extra = {"linear_before_reset": 1} if op_type == "GRU" else {}
    return g.op(op_type, *inputs, outputs=1 + states, hidden_size=size, direction=direction, **extra)


def gru_scan(g: Any, args: tuple, ans: np.ndarray) -> str:
    # minigrad's gates are PyTorch's (r, z, n), ONNX's (z, r, h); n = tanh(xWₙ + r (hWₕₙ + bₕₙ)): linear_before_reset
    if args[5] is not None:  # padded sequences: step by step (ONNX's sequence_lens zeroes the state there)
        return onnx_unrolled.gru(g, args, ans)
    y, _ = _recurrent(g, args, ans, "GRU", (1, 0, 2), 1)
    return g.op("Squeeze", y, g.ints([1]))


def lstm_scan(g: Any, args: tuple, ans: np.ndarray) -> str:
    # gates (i, f, g, o) in ONNX's order (i, o, f, c). The value is [h | c] after every step; ONNX gives c after
    # the last step only: when the node's users read more (or the sequences are padded), step by step
    steps, size = ans.shape[0], ans.shape[-1] // 2
    last = 0 if args[-2] else steps - 1
    for op, user_args in g.users():
        picked = user_args[1] if op == "getitem" else None
        h_only = type(picked) is tuple and picked == (Ellipsis, slice(None, size, None))
        if not (h_only or (isinstance(picked, (int, np.integer)) and int(picked) % steps == last)):
            return onnx_unrolled.lstm(g, args, ans)
    if args[6] is not None or g.tensor is None:
        return onnx_unrolled.lstm(g, args, ans)
    y, _, c = _recurrent(g, args, ans, "LSTM", (0, 3, 1, 2), 2)
    h = g.op("Squeeze", y, g.ints([1]))
    return g.op("Concat", h, g.op("Expand", c, g.op("Shape", h)), axis=-1)


def cross_entropy(g: Any, args: tuple, ans: np.ndarray) -> str:
    # −log softmax(z) at each target's flat position (the targets are constants of the graph), weighed, reduced
    z, _, flat, w, den, reduced = args
    rows = g.op("Reshape", g.input(0), g.ints([-1, z.shape[-1]]))
    logp = g.op("Reshape", g.op("LogSoftmax", rows, axis=-1), g.ints([-1]))
    losses = g.op("Neg", g.op("Gather", logp, g.value(flat, np.int64), axis=0))
    if w is not None:
        losses = g.op("Mul", losses, g.value(w, ans.dtype))
    if not reduced:
        return g.op("Reshape", losses, g.ints(ans.shape))
    total = g.op("ReduceSum", losses, keepdims=0)
    return total if den == 1 else g.op("Div", total, scalar(g, den, ans.dtype))


def conv_weight(g: Any, args: tuple, ans: np.ndarray) -> str:
    # the weight's gradient is a convolution too: of x with the batch as its channels (each group's channels as
    # the batch) by g with the batch as its input channels, stride and dilation swapped; cropped to the kernel
    x, _, w_shape, (stride, pads, dilation, groups) = args
    n, cg, spatial = x.shape[0], x.shape[1] // groups, list(range(2, x.ndim))
    xs = g.op("Reshape", g.input(0, ans.dtype), g.ints([n, groups, cg, *x.shape[2:]]))
    xs = g.op("Transpose", xs, perm=[2, 1, 0, *(a + 1 for a in spatial)])
    xs = g.op("Reshape", xs, g.ints([cg, groups * n, *x.shape[2:]]))
    gs = g.op("Transpose", g.input(1, ans.dtype), perm=[1, 0, *spatial])
    y = g.op("Conv", xs, gs, group=groups, **_geometry(dilation, pads, stride))
    y = g.op("Transpose", y, perm=[1, 0, *spatial])
    k = list(w_shape[2:])
    return g.op("Slice", y, g.ints([0] * len(k)), g.ints(k), g.ints(spatial))
