"""``mg.compile``: trace a training step once, replay it as one flat function of NumPy calls.

>>> import numpy as np, minigrad as mg
>>> W = mg.tensor(np.ones((2, 3)), requires_grad=True)
>>> @mg.compile
... def step(x):
...     loss = mg.tanh(W @ x).sum()
...     loss.backward()
...     return loss
>>> x = np.array([0.1, 0.2, 0.3])
>>> for _ in range(3):
...     W.grad = None
...     loss = step(x)
>>> bool(np.allclose(W.grad, np.outer(1 - np.tanh(W.data @ x) ** 2, x)))  # ∂/∂W Σ tanh(Wx) = f′(z) xᵀ
True
>>> step.traces
1

The first call with a new signature (the shapes, dtypes and ``requires_grad`` of the tensor and array
arguments, the values of the other arguments) runs ``fn`` eagerly and records it (``trace.py``); the
graph becomes the source of one Python function (``codegen.py``). The second call checks that function
against an eager run (a safety net for what tracing cannot see); later calls only replay it.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from ..grad_mode import is_grad_enabled
from ..guard import release_node
from ..tensor import Tensor, constant, is_float
from .codegen import Builder
from .siblings import batch_siblings
from .trace import CompileError, Recorder, TracedMask, tracing

__all__ = ["compile", "Compiled", "CompileError", "TracedMask"]


class _Plan:
    """One traced signature: the replay function, the leaves it writes, and whether it was checked."""

    def __init__(self, replay: Callable, source: str, leaves: list[Tensor], inputs: list[int], rngs: list) -> None:
        self.replay, self.source, self.leaves, self.inputs, self.rngs = replay, source, leaves, inputs, rngs
        self.checked = False


class Compiled:
    """A compiled step: call it as ``fn``. ``trace_seconds`` holds the time of each trace."""

    def __init__(self, fn: Callable, cache_size: int = 8, check: bool = True, batch: bool = True) -> None:
        self.fn, self.cache_size, self.check, self.batch = fn, cache_size, check, batch
        self.cache: OrderedDict[tuple, _Plan] = OrderedDict()
        self.traces = 0
        self.trace_seconds: list[float] = []
        self.__name__ = getattr(fn, "__name__", "step")
        self.__doc__ = getattr(fn, "__doc__", None)

    def clear(self) -> None:
        """Forget every trace (needed after replacing a parameter object, rather than its ``.data``)."""
        self.cache.clear()

    def __call__(self, *args: Any) -> Any:
        key = _signature(args)
        plan = self.cache.get(key)
        if plan is None:
            return self._trace(key, args)
        self.cache.move_to_end(key)
        if not plan.checked and self.check:
            if any(not isinstance(r, np.random.Generator) for r in plan.rngs):
                plan.checked = True  # dropout with fresh entropy (rng=None) draws other masks in each run: no check
                return plan.replay(args)
            return self._check(plan, args)
        return plan.replay(args)

    def source(self, *args: Any) -> str:
        """The Python source of the replay for the signature of ``args`` (traced by an earlier call)."""
        return self.cache[_signature(args)].source

    # -- tracing ------------------------------------------------------------------------------------
    def _trace(self, key: tuple, args: tuple) -> Any:
        start = time.perf_counter()
        recorder = Recorder()
        call_args, stand_ins = _stand_ins(args)
        with tracing(recorder):
            out = self.fn(*call_args)
        builder = Builder(recorder, tuple(call_args), stand_ins)
        for i in stand_ins:
            builder.leaf_expr[id(stand_ins[i])] = f"A[{i}]"
        traced, leaves = _graph([r for r, _ in recorder.roots] + _tensors(out))
        source = self._write(builder, recorder, traced, leaves, out)
        namespace = builder.ns
        exec(compile_source(source, self.__name__), namespace)
        rngs = [recipe[1][0] for k, recipe in recorder.recipes.items() if k in recorder.randoms]
        wanted_leaves = [leaf for leaf in leaves if id(leaf) in builder.wanted]
        plan = _Plan(namespace["replay"], source, wanted_leaves, [i for i, a in enumerate(args) if _wants(a)], rngs)
        plan.keep = (builder.keep, recorder.keep)  # type: ignore[attr-defined]
        # the check's tolerance: that of the least precise dtype the step computes in (a float64 parameter
        # multiplied in float32 has a float64 gradient rounded as float32's)
        plan.tolerance = max((_TOLERANCE.get(t._data.dtype.type, 1e-9) for t in traced), default=1e-9)  # type: ignore[attr-defined]
        for node in traced:  # the traced graph is only read: its arrays are writeable again (see minigrad.guard)
            release_node(node)
        self.cache[key] = plan
        while len(self.cache) > self.cache_size:
            self.cache.popitem(last=False)
        self.traces += 1
        self.trace_seconds.append(time.perf_counter() - start)
        return _detached(out)  # as a replay returns them: the traced graph was let go of above

    def _write(self, builder: Builder, recorder: Recorder, traced: list[Tensor], leaves: list[Tensor], out: Any) -> str:
        """The source of the replay of the graph ``traced`` (of leaves ``leaves``) returning ``out``."""
        nodes, roots = traced, recorder.roots
        if self.batch:
            nodes, stand, builder.unstack = batch_siblings(nodes, recorder)
            roots = [(stand.get(id(root), root), seed) for root, seed in roots]
        for leaf in leaves:
            if id(leaf._data) not in builder.names:  # a parameter: read its .data at every call
                builder.names[id(leaf._data)] = name = f"p{leaf._id}"
                builder.lines.append(f"{name} = {builder.const(leaf, 'P')}._data")
        for node in sorted(nodes, key=lambda n: n._id):
            if node._op is not None:
                builder.forward(node)
        outputs = _outputs(builder, out, self.__name__)
        for leaf in leaves:
            if id(leaf) not in builder.leaf_expr and leaf._rg:
                builder.wanted.add(id(leaf))
        reach = _reaching(nodes, builder.wanted)
        for r, (root, seed) in enumerate(roots):
            builder.backward(r, root, seed, nodes, reach)
        for key in recorder.randoms:  # random masks drawn but unused: draw them too, to keep the generator in step
            if key not in builder.names:
                builder.ref(next(a for a in recorder.keep if id(a) == key))
        return builder.source(outputs)

    # -- the check of the first replay --------------------------------------------------------------
    def _check(self, plan: _Plan, args: tuple) -> Any:
        """Replay, then run eagerly from the same state; they must agree (else CompileError)."""
        leaves = plan.leaves + [args[i] for i in plan.inputs]
        before = [leaf.grad for leaf in leaves]
        states = [r.bit_generator.state for r in plan.rngs if isinstance(r, np.random.Generator)]
        replayed = plan.replay(args)
        grads = [leaf.grad for leaf in leaves]
        for leaf, g in zip(leaves, before):
            leaf.grad = g
        for r, s in zip((r for r in plan.rngs if isinstance(r, np.random.Generator)), states):
            r.bit_generator.state = s
        eager = self.fn(*args)
        for what, a, b in [("the result", replayed, eager)] + [
            (f"the gradient of a {leaf._data.shape} leaf", g, leaf.grad) for leaf, g in zip(leaves, grads)
        ]:
            if not _close(a, b, plan.tolerance):  # type: ignore[attr-defined]
                raise CompileError(
                    f"compile: the replay of {self.__name__} disagrees with eager execution on {what} at its second "
                    "call: the step depends on values in a way tracing cannot see (NumPy on .data or on array "
                    "arguments, Python numbers read from tensors, tensors built inside the step). Run it eagerly, "
                    "or move that computation out of the step"
                )
        plan.checked = True
        return eager


def compile(fn: Callable | None = None, *, cache_size: int = 8, check: bool = True, batch: bool = True) -> Any:
    """Compile a training step ``fn(*tensors_or_arrays)`` that calls ``loss.backward()``.

    Parameters
    ----------
    fn : the step. It may read parameters from its closure or take them as arguments; it returns
        None, a Tensor or a tuple of Tensors (returned as fresh constant tensors at every replay).
    cache_size : how many signatures to keep traced (least recently used dropped).
    check : compare the first replay of each signature with an eager run (on by default).
    batch : run sibling subgraphs (the same operations on different inputs) as one (``siblings.py``).

    Returns
    -------
    A ``Compiled`` callable; also usable as ``@mg.compile`` or ``@mg.compile(cache_size=2)``.
    """
    if fn is None:
        return lambda f: Compiled(f, cache_size, check, batch)
    return Compiled(fn, cache_size, check, batch)


def compile_source(source: str, name: str) -> Any:
    import builtins

    return builtins.compile(source, f"<mg.compile {name}>", "exec")


def _stand_ins(args: tuple) -> tuple[list, dict[int, Tensor]]:
    """The arguments to trace with: each float tensor that does not require grad replaced by a stand-in that
    does, so that what the step computes from it is recorded (its gradient is dropped); and the stand-ins."""
    stand_ins: dict[int, Tensor] = {}
    call_args = list(args)
    for i, a in enumerate(args):
        if isinstance(a, Tensor) and not a._rg and is_float(a._data.dtype) and is_grad_enabled():
            stand_in = constant(a._data)
            stand_in._rg = True
            stand_ins[i] = call_args[i] = stand_in
    return call_args, stand_ins


def _wants(a: Any) -> bool:
    return isinstance(a, Tensor) and a._rg and a._op is None


def _signature(args: tuple) -> tuple:
    """What a trace depends on: shape, dtype and strides of arrays; also requires_grad of tensors; other values."""
    key: list = [is_grad_enabled()]
    for a in args:
        kind = type(a)
        if kind is np.ndarray:  # strides: equal strides, equal layout (views into inputs rely on it)
            key.append((a.shape, a.dtype, a.strides))
        elif kind is Tensor or isinstance(a, Tensor):
            d = a._data
            key.append((Tensor, d.shape, d.dtype, d.strides, a._rg, a._op is None))
        elif isinstance(a, np.ndarray):
            key.append((kind, a.shape, a.dtype, a.strides))
        else:
            try:
                hash(a)
            except TypeError:
                raise CompileError(
                    f"compile: argument of type {kind.__name__} is neither a Tensor, an array nor hashable"
                ) from None
            key.append((kind, a))
    return tuple(key)


def _detached(out: Any) -> Any:
    """The step's outputs as constants over copies of their values, as the replay returns them."""
    if isinstance(out, Tensor):
        return constant(np.array(out._data))
    if isinstance(out, (tuple, list)):
        return type(out)(_detached(t) for t in out)
    return out


def _tensors(out: Any) -> list[Tensor]:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for t in out if isinstance(t, Tensor)]
    return []


def _outputs(builder: Builder, out: Any, name: str) -> str:
    def one(t: Any) -> str:
        if not isinstance(t, Tensor):
            raise CompileError(
                f"compile: {name} must return None, a Tensor or a tuple of Tensors, got {type(t).__name__}"
            )
        return f"_constant(np.array({builder.ref(t._data)}))"

    if out is None:
        return "None"
    if isinstance(out, (tuple, list)):
        return "(" + "".join(one(t) + ", " for t in out) + ")"
    return one(out)


def _graph(tops: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
    """Every node and leaf reachable from ``tops`` through parents that require grad."""
    seen: dict[int, Tensor] = {}
    stack = list(tops)
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen[id(t)] = t
        if t._parents is None:
            raise CompileError("compile: the graph was freed inside the step (a backward without retain)")
        stack.extend(p for p in t._parents if p is not None)
    nodes = list(seen.values())
    return nodes, [t for t in nodes if t._op is None]


def _reaching(nodes: list[Tensor], wanted: set[int]) -> set[int]:
    """Ids of the tensors from which a wanted leaf can be reached (the wanted leaves included)."""
    reach = set(wanted)
    for node in sorted(nodes, key=lambda n: n._id):
        if node._op is not None and any(p is not None and id(p) in reach for p in node._parents):
            reach.add(id(node))
    return reach


_TOLERANCE = {np.float16: 1e-2, np.float32: 1e-4}  # the replay may round in another order than eager did


def _close(a: Any, b: Any, tol: float) -> bool:
    if isinstance(a, (tuple, list)):
        return isinstance(b, (tuple, list)) and len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if a is None or b is None:
        return a is None and b is None
    x, y = np.asarray(a._data if isinstance(a, Tensor) else a), np.asarray(b._data if isinstance(b, Tensor) else b)
    tol = max(tol, _TOLERANCE.get(x.dtype.type, 1e-9), _TOLERANCE.get(y.dtype.type, 1e-9))
    return x.shape == y.shape and np.allclose(x, y, rtol=tol, atol=tol, equal_nan=True)
