"""How each primitive is written in ONNX: the lowerings that the registry entries name (``onnx=...``).

An elementwise primitive names one ONNX operator ("Exp"); the others name a lowering ``f(g, args, ans)`` from
here, which emits ONNX nodes through ``g`` (``minigrad.onnx.graph.Lowering``) and returns the name of the value
that stands for ``ans``. ``args`` are the node's arguments as its rules take them (arrays, then parameters) and
``ans`` its traced value, whose shape and dtype a lowering may read. ``g.input(i)`` is the ONNX value of argument
i, ``g.op(...)`` adds a node, ``g.ints(...)`` an int64 constant. Nothing here imports ``onnx``.

Shapes are written as traced (``minigrad.onnx.dynamic`` rewrites those that change with a dynamic axis); slices
run to the end of their axis, Expand keeps the sizes that already match (1).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

END = 2**63 - 1  # a slice's open end: ONNX clamps it to the axis' length


def not_exportable(reason: str) -> Any:
    """The lowering of a primitive that has no ONNX form: it refuses, giving ``reason``."""

    def lower(g: Any, args: tuple, ans: np.ndarray) -> str:
        g.fail(f"not exportable to ONNX: {reason}")

    lower.reason = reason  # type: ignore[attr-defined]
    return lower


def traced_through(reason: str) -> Any:
    """The lowering of a primitive whose node a trace never holds (tracing runs the primitives it stands for
    instead, as ``mg.checkpoint`` runs its function): reaching it is a bug, reported as one."""

    def lower(g: Any, args: tuple, ans: np.ndarray) -> str:
        g.fail(f"internal error: a traced graph holds this node, but {reason}")

    lower.traced_through = reason  # type: ignore[attr-defined]
    return lower


def scalar(g: Any, value: float, dtype: Any) -> str:
    return g.constant(np.asarray(value, dtype=dtype))


# -- elementwise functions without an ONNX operator of their own ------------------------------------------
def log1p(g: Any, args: tuple, ans: np.ndarray) -> str:
    return g.op("Log", g.op("Add", g.input(0), scalar(g, 1, ans.dtype)))


def expm1(g: Any, args: tuple, ans: np.ndarray) -> str:
    return g.op("Sub", g.op("Exp", g.input(0)), scalar(g, 1, ans.dtype))


def square(g: Any, args: tuple, ans: np.ndarray) -> str:
    x = g.input(0)
    return g.op("Mul", x, x)


def exp2(g: Any, args: tuple, ans: np.ndarray) -> str:
    return g.op("Pow", scalar(g, 2, ans.dtype), g.input(0))


def log2(g: Any, args: tuple, ans: np.ndarray) -> str:
    return g.op("Div", g.op("Log", g.input(0)), scalar(g, math.log(2), ans.dtype))


def log10(g: Any, args: tuple, ans: np.ndarray) -> str:
    return g.op("Div", g.op("Log", g.input(0)), scalar(g, math.log(10), ans.dtype))


def logaddexp(g: Any, args: tuple, ans: np.ndarray) -> str:
    # log(eᵃ + eᵇ) = max(a, b) + log(1 + e^−|a − b|)
    a, b = g.input(0, ans.dtype), g.input(1, ans.dtype)
    tail = g.op("Exp", g.op("Neg", g.op("Abs", g.op("Sub", a, b))))
    return g.op("Add", g.op("Max", a, b), g.op("Log", g.op("Add", tail, scalar(g, 1, ans.dtype))))


def hypot(g: Any, args: tuple, ans: np.ndarray) -> str:
    a, b = g.input(0, ans.dtype), g.input(1, ans.dtype)
    return g.op("Sqrt", g.op("Add", g.op("Mul", a, a), g.op("Mul", b, b)))


def clip(g: Any, args: tuple, ans: np.ndarray) -> str:
    x = g.input(0, ans.dtype)
    if args[1] is not None:
        x = g.op("Max", x, g.input(1, ans.dtype))
    if args[2] is not None:
        x = g.op("Min", x, g.input(2, ans.dtype))
    return x


# -- reductions: (x, axis, keepdims) ------------------------------------------------------------------------
def _axes(g: Any, axis: Any, ndim: int) -> list:
    """The axes input of a Reduce operator (none: every axis)."""
    if axis is None:
        return []
    return [g.ints([a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))])]


def reduce(op_type: str) -> Any:
    """The lowering of a reduction that is the ONNX operator ``op_type`` (ReduceSum...)."""

    def lower(g: Any, args: tuple, ans: np.ndarray) -> str:
        x, axis, keepdims = args[:3]
        return g.op(op_type, g.input(0), *_axes(g, axis, x.ndim), keepdims=int(bool(keepdims)))

    lower.__name__ = lower.__qualname__ = op_type
    return lower


def logsumexp(g: Any, args: tuple, ans: np.ndarray) -> str:
    # log Σ exp(x − m) + m with m the maximum (0 where it is infinite), as minigrad computes it
    x, axis, keepdims = args
    v, axes = g.input(0), _axes(g, axis, x.ndim)
    m = g.op("ReduceMax", v, *axes, keepdims=1)
    m = g.op("Where", g.op("IsInf", m), scalar(g, 0, x.dtype), m)
    out = g.op("Add", g.op("Log", g.op("ReduceSum", g.op("Exp", g.op("Sub", v, m)), *axes, keepdims=1)), m)
    return out if keepdims else g.op("Reshape", out, g.ints(ans.shape))


def cumsum(g: Any, args: tuple, ans: np.ndarray) -> str:
    x, axis = args
    v = g.input(0)
    if axis is None:
        v, axis = g.op("Reshape", v, g.ints([-1])), 0
    return g.op("CumSum", v, g.constant(np.asarray(axis % max(x.ndim, 1), dtype=np.int64)))


def cumprod(g: Any, args: tuple, ans: np.ndarray) -> str:
    # ONNX has no cumulative product: the running product of the slices along the axis, joined again
    x, axis = args
    v = g.input(0)
    if axis is None:
        v, axis, n = g.op("Reshape", v, g.ints([-1])), 0, x.size
    else:
        axis, n = axis % x.ndim, x.shape[axis]
    running, pieces = None, []
    for k in range(n):
        piece = g.op("Slice", v, g.ints([k]), g.ints([k + 1]), g.ints([axis]))
        running = piece if running is None else g.op("Mul", running, piece)
        pieces.append(running)
    return g.op("Concat", *pieces, axis=axis) if n else v


# -- shapes and indexing -----------------------------------------------------------------------------------
def reshape(g: Any, args: tuple, ans: np.ndarray) -> str:
    # the traced shape (a dynamic axis is rewritten in terms of the inputs' sizes: minigrad.onnx.dynamic)
    zero = {"allowzero": 1} if 0 in ans.shape else {}  # a size 0, not "the input's size"
    return g.op("Reshape", g.input(0), g.ints(ans.shape), **zero)


def transpose(g: Any, args: tuple, ans: np.ndarray) -> str:
    x, axes = args
    perm = list(axes if axes is not None else range(x.ndim)[::-1])
    return g.op("Transpose", g.input(0), perm=perm) if perm else g.op("Identity", g.input(0))


def broadcast_to(g: Any, args: tuple, ans: np.ndarray) -> str:
    x, lead = args[0], ans.ndim - args[0].ndim
    spec = [1 if i >= lead and x.shape[i - lead] == n else n for i, n in enumerate(ans.shape)]
    return g.op("Expand", g.input(0), g.ints(spec))


def astype(g: Any, args: tuple, ans: np.ndarray) -> str:
    return g.op("Cast", g.input(0), to=ans.dtype)


def getitem(g: Any, args: tuple, ans: np.ndarray) -> str:
    """Basic indexing (ints, slices, None, ...) and one integer array, one ONNX node per indexed axis."""
    x, index = args
    index = list(index) if type(index) is tuple else [index]
    arrays = [i for i in index if isinstance(i, np.ndarray)]
    if len(arrays) > 1 or any(a.dtype.kind not in "iu" for a in arrays):
        g.fail("only basic indexing and one integer array are exportable (no boolean masks, no several arrays)")
    dots = [k for k, i in enumerate(index) if i is Ellipsis]
    used = sum(1 for i in index if i is not None and i is not Ellipsis)
    if dots:
        index[dots[0] : dots[0] + 1] = [slice(None)] * (x.ndim - used)
    index += [slice(None)] * (x.ndim - used if not dots else 0)
    v, axis, shape = g.input(0), 0, list(x.shape)
    for i in index:
        if i is None:
            v, axis = g.op("Unsqueeze", v, g.ints([axis])), axis + 1
            shape.insert(axis - 1, 1)
        elif isinstance(i, slice):
            if i != slice(None):
                step = 1 if i.step is None else int(i.step)
                start = (0 if step > 0 else END) if i.start is None else int(i.start)
                stop = (END if step > 0 else -END) if i.stop is None else int(i.stop)
                v = g.op("Slice", v, g.ints([start]), g.ints([stop]), g.ints([axis]), g.ints([step]))
                shape[axis] = len(range(*i.indices(shape[axis])))
            axis += 1
        elif isinstance(i, np.ndarray):
            v = g.op("Gather", v, g.value(i, np.int64), axis=axis)
            shape[axis : axis + 1] = i.shape
            axis += i.ndim
        else:
            v = g.op("Gather", v, g.constant(np.asarray(int(i), dtype=np.int64)), axis=axis)
            del shape[axis]
    if tuple(shape) != ans.shape:  # NumPy moves the array's axes first when ints and slices separate them
        g.fail(f"an index mixing an array with ints this way is not exportable (gives {ans.shape})")
    return v


def scatter_add(g: Any, args: tuple, ans: np.ndarray) -> str:
    # zeros(shape) with g added at index: the flat positions of index, worked out here (index must be constant)
    values, index, shape = args
    index = index if type(index) is tuple else (index,)
    index = tuple(g.static(i) if isinstance(i, np.ndarray) else i for i in index)
    at = np.arange(math.prod(shape), dtype=np.int64).reshape(shape)[index]
    flat = g.op("Reshape", g.op("Expand", g.input(0), g.ints(at.shape)), g.ints([-1]))
    zeros = g.constant(np.zeros(math.prod(shape), dtype=ans.dtype))
    total = g.op("ScatterElements", zeros, g.constant(at.reshape(-1)), flat, axis=0, reduction="add")
    return g.op("Reshape", total, g.ints(shape))


def concatenate(g: Any, args: tuple, ans: np.ndarray) -> str:
    return g.op("Concat", *(g.input(i, ans.dtype) for i in range(len(args) - 1)), axis=args[-1])


def where(g: Any, args: tuple, ans: np.ndarray) -> str:
    return g.op("Where", g.input(0, np.bool_), g.input(1, ans.dtype), g.input(2, ans.dtype))


# -- products ----------------------------------------------------------------------------------------------
def matmul(g: Any, args: tuple, ans: np.ndarray) -> str:
    return g.op("MatMul", g.input(0, ans.dtype), g.input(1, ans.dtype))


def einsum(g: Any, args: tuple, ans: np.ndarray) -> str:
    (inputs, output), letters = args[0], {}
    for ch in "".join(inputs) + output:  # ONNX takes lower-case letters only: rename them in order
        if ch.isalpha() and ch not in letters:
            letters[ch] = "abcdefghijklmnopqrstuvwxyz"[len(letters)]
    rename = lambda term: "".join(letters.get(ch, ch) for ch in term)
    equation = ",".join(map(rename, inputs)) + "->" + rename(output)
    return g.op("Einsum", *(g.input(i, ans.dtype) for i in range(1, len(args))), equation=equation)
