"""Tracing: run the step once, eagerly, and note what the replay needs that the graph does not hold.

The graph of a step holds every primitive applied to a tensor that requires grad: op name, argument
arrays and parents. What it does not hold, tracing notes while the step runs, by patching a few
methods for the duration of the call only (the eager hot path is untouched):

- ``Tensor.backward``: the roots and seeds of the backward passes; the graph is retained for reading.
- comparisons of tensors (``x > 0``): a recipe for the boolean array, recomputed at every replay.
- ``nn.functional.dropout``: a recipe for the random mask, drawn anew from the same generator.
- ``nn.functional.cross_entropy``: a recipe for the target mask built from the integer targets.
- ``bool(t)``, ``t.item()``, ``float(t)``, ``int(t)``: Python control flow on tensor values cannot be
  replayed; they raise ``CompileError`` naming the line.
- primitives whose results are not recorded (their operands carry no gradient: a detached value, a constant,
  recording off): what they computed from which arguments (``tensor.unrecorded``), so that the replay
  recomputes them rather than keeping the values of the traced call.
- every read of a tensor's array (``Tensor._data``, a property while tracing): which tensor the array
  belongs to, so that the replay reads the current array of a tensor that outlives the call (a parameter
  used only detached, a buffer) and recomputes a recorded result that the graph does not reach (detached).
"""

from __future__ import annotations

import contextlib
import math
import types
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..engine import backward as engine_backward
from ..forget import forget_at
from ..nn import functional as F
from ..recording import CompileError, unrecorded
from ..tensor import Tensor, as_tensor, creation_ids
from ..user_code import user_line


class Recorder:
    """What one traced call noted besides the graph."""

    def __init__(self) -> None:
        self.roots: list[tuple[Tensor, Any]] = []  # (root, seed array or None), in call order
        self.recipes: dict[int, tuple] = {}  # id(array) -> (function, args): an array made outside the graph
        self.randoms: list[int] = []  # ids of random recipes, in draw order
        self.keep: list[Any] = []  # every array noted, so that its id stays unique
        # (these two hold their arrays too, for the trace only: ids of live arrays stay unique)
        self.constants: dict[int, tuple] = {}  # id(array) -> (op, args, array): an unrecorded primitive's result
        self.owners: dict[int, tuple] = {}  # id(array) -> (the first tensor read holding it, array)
        self.first_id = next(creation_ids)  # tensors with a smaller id existed before the call

    def note_unrecorded(self, op: Any, data: np.ndarray, args: tuple) -> None:
        """An unrecorded result: of the primitive named ``op``, or of the NumPy function ``op`` (a mask)."""
        if callable(op):
            self.recipes[id(data)] = (op, args)
            self.keep.append(data)
        else:
            self.constants[id(data)] = (op, args, data)


def _where_in_user_code() -> str:
    return user_line(3)[0]


def _refuse(what: str) -> Any:
    def method(self: Tensor, *args: Any) -> Any:
        raise CompileError(
            f"compile: {what} reads a tensor's value into Python at {_where_in_user_code()}; a compiled step is "
            "replayed without running Python, so control flow on values cannot be captured. Return the tensor "
            "and read it outside the step, or use mg.where / mg.maximum for value-dependent choices"
        )

    return method


class TracedMask(np.ndarray):
    """A comparison of tensors made while tracing: an array, whose truth value cannot be replayed."""

    def __bool__(self) -> bool:
        raise CompileError(
            f"compile: an if or while on a comparison of tensors at {_where_in_user_code()} depends on values, "
            "which a replay cannot follow; use mg.where for a value-dependent choice, or run the step eagerly"
        )


def _compare(name: str, ufunc: Any) -> Any:
    def method(self: Tensor, other: Any) -> np.ndarray:
        b = other._data if isinstance(other, Tensor) else other
        raw = np.asarray(ufunc(self._data, b))
        out = raw.view(TracedMask)
        for array in (raw, out):  # np.asarray(out) is a view whose base is raw
            _active.recipes[id(array)] = (ufunc, (self._data, b))
            _active.keep.append(array)
        return out

    return method


def _backward(self: Tensor, gradient: Any = None, retain_graph: bool = False, create_graph: bool = False) -> None:
    if create_graph:
        raise CompileError("compile: backward(create_graph=True) inside a compiled step is not supported")
    seed = gradient._data if isinstance(gradient, Tensor) else gradient
    _active.roots.append((self, seed))
    engine_backward(self, gradient, retain_graph=True)


def _random_mask(rng: Any, shape: tuple, p: float, dtype: Any) -> np.ndarray:
    return ((np.random.default_rng(rng).random(shape) >= p) / (1.0 - p)).astype(dtype)


def _dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Tensor:
    if not 0.0 <= p < 1.0 or not training or p == 0.0:
        return _originals["dropout"](x, p, training, rng)
    x = as_tensor(x)
    mask = _random_mask(rng, x._data.shape, p, x._data.dtype)
    _active.recipes[id(mask)] = (_random_mask, (rng, x._data.shape, p, x._data.dtype))
    _active.randoms.append(id(mask))
    _active.keep.append(mask)
    out = x * mask
    if not out._rg:  # x carries no gradient: the product is made outside the graph, so note it too
        _active.recipes[id(out._data)] = (np.multiply, (x._data, mask))
        _active.keep.append(out._data)
    return out


def target_pick(t: np.ndarray, shape: tuple, dtype: Any, ignore_index: int, weight: Any) -> np.ndarray:
    """−w_y at the target class, 0 elsewhere: cross-entropy's mask, as ``nn.functional.cross_entropy`` builds it."""
    counted = t != ignore_index
    safe = np.where(counted, t, 0)
    w = counted.astype(dtype)
    if weight is not None:
        w = w * weight[safe]
    pick = np.zeros(shape, dtype=dtype)
    np.put_along_axis(pick, safe[..., None], -w[..., None], axis=-1)
    return pick


def _cross_entropy(logits: Any, target: Any, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"):
    """Cross-entropy as log_softmax times a mask rebuilt from the targets at every replay (the fused
    primitive of ``nn.functional`` has no replay template); every weight and reduction."""
    _originals["cross_entropy"](as_tensor(logits).detach(), target, weight, ignore_index, reduction)  # its checks
    logits = as_tensor(logits)
    z = logits._data
    t = np.asarray(target._data if isinstance(target, Tensor) else target)
    w = None if weight is None else np.asarray(weight._data if isinstance(weight, Tensor) else weight, dtype=z.dtype)
    pick = target_pick(t, z.shape, z.dtype, ignore_index, w)
    _active.recipes[id(pick)] = (target_pick, (t, z.shape, z.dtype, ignore_index, w))
    _active.keep.append(pick)
    terms = F.log_softmax(logits, axis=-1) * pick
    if reduction == "none":
        return terms.sum(axis=-1)
    wide = z.dtype == np.float16  # summed in float32, as the eager primitive does: a float16 sum overflows
    total = (terms.astype(np.float32) if wide else terms).sum()
    if reduction == "mean":
        count = _count(t, ignore_index, total.dtype, w)
        none = _nan_if_none_counted(t, ignore_index, total.dtype, w)
        for made, recipe in ((count, _count), (none, _nan_if_none_counted)):
            _active.recipes[id(made)] = (recipe, (t, ignore_index, total.dtype, w))
            _active.keep.append(made)
        total = total / count + none  # with no target counted: nan, and a zero gradient, as the eager primitive
    return total.astype(np.float16) if wide else total


def _count(t: np.ndarray, ignore_index: int, dtype: Any, weight: Any = None) -> np.ndarray:
    """The denominator of the mean: the number of counted targets, or the sum of their class weights (1 if none
    is counted: the mean's nan then comes from ``_nan_if_none_counted``, its gradient stays 0)."""
    total = _counted(t, ignore_index, dtype, weight)
    return np.asarray(total if total != 0 else 1, dtype=dtype)


def _nan_if_none_counted(t: np.ndarray, ignore_index: int, dtype: Any, weight: Any = None) -> np.ndarray:
    """nan when the count is 0 (every target ignored, or weighted 0: the mean of nothing), else 0: added to the
    mean, it has no gradient, as the eager primitive's den = 0."""
    return np.asarray(np.nan if _counted(t, ignore_index, dtype, weight) == 0 else 0, dtype=dtype)


def _counted(t: np.ndarray, ignore_index: int, dtype: Any, weight: Any) -> Any:
    counted = t != ignore_index
    if weight is None:
        return counted.sum()
    return weight[np.where(counted, t, 0)][counted].sum(dtype=dtype)


_active: Recorder = Recorder()
_DATA = Tensor.__dict__["_data"]  # the slot itself


def _read_data(self: Tensor) -> Any:
    d = _DATA.__get__(self, Tensor)
    owners = _active.owners
    if id(d) not in owners:
        owners[id(d)] = (self, d)
    return d


_DATA_WHILE_TRACING = property(_read_data, _DATA.__set__)


def _copy(fn: Any) -> Any:
    """A function object of its own running ``fn``'s code: it keeps working while ``fn.__code__`` is swapped."""
    new = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    new.__kwdefaults__ = fn.__kwdefaults__
    return new


def _dropout_trampoline(x, p=0.5, training=True, rng=None):  # noqa: ANN001, ANN202  (runs as F.dropout)
    from minigrad.compile.trace import _dropout

    return _dropout(x, p, training, rng)


def _cross_entropy_trampoline(logits, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: ANN001, ANN202
    from minigrad.compile.trace import _cross_entropy

    return _cross_entropy(logits, target, weight, ignore_index, reduction)


# Swapping the code of the functions themselves reaches every reference to them (``from ... import dropout``,
# a dict of operations), which rebinding a module attribute would not.
# (cross_entropy is a primitive: its public function wraps the one swapped, ``__wrapped__``)
_originals: dict[str, Any] = {"dropout": _copy(F.dropout), "cross_entropy": _copy(F.cross_entropy.__wrapped__)}
_SWAPS = [
    (F.dropout, _dropout_trampoline.__code__),
    (F.cross_entropy.__wrapped__, _cross_entropy_trampoline.__code__),
]
_CODES = [fn.__code__ for fn, _ in _SWAPS]
_PATCHES = {
    "backward": _backward,
    "__bool__": _refuse("bool(tensor) (an if or while on a tensor)"),
    "__float__": _refuse("float(tensor)"),
    "__int__": _refuse("int(tensor)"),
    "item": _refuse("tensor.item()"),
    "__lt__": _compare("less", np.less),
    "__le__": _compare("less_equal", np.less_equal),
    "__gt__": _compare("greater", np.greater),
    "__ge__": _compare("greater_equal", np.greater_equal),
    "__eq__": _compare("equal", np.equal),
    "__ne__": _compare("not_equal", np.not_equal),
}


@contextlib.contextmanager
def tracing(recorder: Recorder) -> Iterator[None]:
    """Patch the methods listed in the module docstring while the step runs; restore them after."""
    global _active
    if Tensor.__dict__["backward"] is _backward:
        raise CompileError(
            "compile: a step is being traced while another one is: compile the outer step only (a compiled step "
            "called inside a traced one cannot be followed)"
        )
    saved = {name: Tensor.__dict__[name] for name in _PATCHES}
    _active = recorder
    threshold = forget_at[0]
    forget_at[0] = math.inf  # the plan names every value of the step
    try:
        for name, method in _PATCHES.items():
            setattr(Tensor, name, method)
        for fn, code in _SWAPS:
            fn.__code__ = code
        Tensor._data = _DATA_WHILE_TRACING
        unrecorded.append(recorder.note_unrecorded)
        yield
    finally:
        unrecorded.clear()
        Tensor._data = _DATA
        for name, method in saved.items():
            setattr(Tensor, name, method)
        for (fn, _), code in zip(_SWAPS, _CODES):
            fn.__code__ = code
        _active = Recorder()
        forget_at[0] = threshold
