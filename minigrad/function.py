"""Custom operations: subclass ``mg.Function`` with ``forward(ctx, *arrays)`` and ``backward(ctx, g)``.

>>> import numpy as np, minigrad as mg
>>> class Cube(mg.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x ** 3
...     @staticmethod
...     def backward(ctx, g):            # Jᵀg = 3x² ∘ g
...         (x,) = ctx.saved
...         return 3 * x ** 2 * g
>>> t = mg.tensor([1.0, 2.0], requires_grad=True)
>>> Cube.apply(t).sum().backward()
>>> t.grad
array([ 3., 12.])

``forward`` gets the inputs' arrays (non-tensor arguments as given) and returns an array; it is not
recorded. ``backward`` gets the upstream gradient g (the output's shape) and returns one gradient per
input of ``forward`` (a single value for one input; None for an input without gradient). A gradient
may keep axes that broadcasting added; the engine sums them away, as for the built-in rules.

**Which transforms work.** All custom operations share one entry of the rule table, ``"function"``,
whose rule calls the operation's ``backward``. So backward, ``mg.grad``, ``mg.vjp`` and
``mg.jacobian(mode="rev")`` work for every custom operation. The others run ``backward`` on Tensors:

- forward mode (``mg.jvp``, ``mg.jacobian(mode="fwd")``) transposes backward, which is linear in g:
  it calls backward with g a Tensor, so backward must use NumPy functions and operators on g
  (no ``np.asarray(g)``, ``g.data`` or in-place writes);
- higher derivatives (``create_graph=True``, ``mg.grad(mg.grad(f))``, ``mg.hessian``) also need to see
  how backward depends on the inputs: ``ctx.saved`` then holds Tensors in place of the inputs and the
  output that forward saved, and backward is recorded. An array saved that is neither an input nor
  the output (an intermediate of forward), or a float array kept as a ``ctx`` attribute, has no graph:
  using it would silently drop a term, so that raises an error instead.

When backward cannot do what a transform needs, the error names the Function and what is missing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import onnx_ops
from .grad_mode import no_grad
from .recording import record
from .registry import EachInput, batched, batching, define
from .tensor import Tensor, is_float

_HIGHER = "a higher derivative (create_graph=True, grad of grad, hessian, a transform inside a transform)"
_FORWARD = "forward mode (mg.jvp, mg.jacobian(mode='fwd')), which transposes backward by running it on a Tensor g"


class FunctionCtx:
    """What ``forward`` leaves for ``backward``: ``save_for_backward(*arrays)``, ``saved``, any attribute.

    ``needs_input_grad`` tells, input by input, whether a gradient is wanted.
    """

    def __init__(self, function: type, inputs: tuple, needs_input_grad: tuple) -> None:
        self.needs_input_grad = needs_input_grad
        self._function = function
        self._inputs = inputs
        self._output: Any = None
        self._saved: tuple = ()
        self._view: tuple | None = None  # what ``saved`` shows while backward is recorded
        self._last: tuple | None = None  # (g, gradients): one backward serves every input

    def save_for_backward(self, *values: Any) -> None:
        """Keep arrays (inputs, output, or anything else) for ``backward``, as ``ctx.saved``."""
        self._saved = values

    @property
    def saved(self) -> tuple:
        return self._saved if self._view is None else self._view

    def vjp(self, i: int, g: Any, ans: Any, args: tuple) -> Any:
        """Jᵢᵀg for input i: the rule of the table's ``"function"`` entry."""
        last = self._last
        if last is None or last[0] is not g:
            last = self._last = (g, self._backward(g, ans, args))
        if i == max(k for k, need in enumerate(self.needs_input_grad) if need):
            self._last = None  # the last input that asks: drop the cache
        return last[1][i]

    # -- running the user's backward -------------------------------------------------------------
    def _name(self) -> str:
        return self._function.__name__

    def _recorded_view(self, ans: Tensor, args: tuple) -> tuple:
        """``saved`` with the inputs and the output replaced by their Tensors, for a recorded backward."""
        for key, value in vars(self).items():
            if not key.startswith("_") and isinstance(value, np.ndarray) and is_float(value.dtype):
                raise TypeError(
                    f"{self._name()}: {_HIGHER} needs backward to depend on the inputs through ctx.saved, "
                    f"but ctx.{key} holds a float array (shape {value.shape}) that has no graph; "
                    "pass it to ctx.save_for_backward instead (an input or the output of forward)"
                )
        view = []
        for value in self._saved:
            match = [k for k, a in enumerate(self._inputs) if value is a]
            if match:
                value = args[match[0]]
            elif value is self._output:
                value = ans
            elif isinstance(value, np.ndarray) and is_float(value.dtype):
                raise TypeError(
                    f"{self._name()}: {_HIGHER} needs backward to depend on the inputs through ctx.saved, but "
                    f"save_for_backward got a float array of shape {value.shape} that is neither an input nor "
                    "the output of forward, so it has no graph; save the inputs and recompute it in backward"
                )
            view.append(value)
        return tuple(view)

    def _backward(self, g: Any, ans: Any, args: tuple) -> tuple:
        recorded = isinstance(ans, Tensor)  # the engine's create_graph walk hands Tensors
        on_tensor = isinstance(g, Tensor)
        purpose = _HIGHER if recorded else _FORWARD
        if recorded:
            self._view = self._recorded_view(ans, args)
        try:
            grads = self._function.backward(self, g)
        except Exception as e:
            if not on_tensor:
                raise
            raise TypeError(
                f"{self._name()}.backward does not run on Tensors, which {purpose} needs "
                f"({type(e).__name__}: {e}); write it with NumPy functions and operators on ctx.saved and g"
            ) from e
        finally:
            self._view = None
        return self._check(grads, g, on_tensor, purpose)

    def _check(self, grads: Any, g: Any, on_tensor: bool, purpose: str) -> tuple:
        name, inputs = self._name(), self._inputs
        if not isinstance(grads, (tuple, list)):
            grads = (grads,)
        if len(grads) != len(inputs):
            raise ValueError(
                f"{name}.backward returned {len(grads)} gradient(s) but forward takes {len(inputs)} input(s); "
                "return one per input, None for an input without gradient"
            )
        checked = []
        for k, (gk, x) in enumerate(zip(grads, inputs)):
            if not self.needs_input_grad[k]:
                checked.append(None)
                continue
            if gk is None:
                gk = np.zeros_like(x)
            if np.issubdtype(gk.dtype if isinstance(gk, Tensor) else np.asarray(gk).dtype, np.complexfloating):
                raise TypeError(
                    f"{name}.backward returned a complex gradient for input {k}; minigrad is real-valued, and "
                    "dropping the imaginary part would be silently wrong"
                )
            shape = tuple(gk.shape) if isinstance(gk, Tensor) else np.shape(gk)
            if shape != x.shape and not _unbroadcastable(shape, x.shape):
                raise ValueError(
                    f"{name}.backward returned a gradient of shape {shape} for input {k} of shape {x.shape}"
                )
            batched = hasattr(g, "_level")  # a batch of cotangents in mg.vmap: its graph is the plain tensors'
            if on_tensor and g._rg and not batched and not _depends_on(gk, g) and np.any(_array(gk)):
                raise TypeError(
                    f"{name}.backward returned a gradient for input {k} that does not depend on g as a Tensor, "
                    f"which drops the graph that {purpose} needs; do not use g.data or np.asarray(g) in backward"
                )
            checked.append(gk if isinstance(gk, Tensor) else np.asarray(gk))
        return tuple(checked)


def _array(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def _depends_on(result: Any, g: Tensor) -> bool:
    """Whether ``g`` is in the graph of ``result``; only nodes made after g (by this backward) are searched."""
    if not isinstance(result, Tensor):
        return False
    stack, seen = [result], set()
    while stack:
        node = stack.pop()
        if node is g:
            return True
        if node in seen or node._id < g._id or not node._parents:
            continue
        seen.add(node)
        stack.extend(p for p in node._parents if p is not None)
    return False


def _unbroadcastable(shape: tuple, target: tuple) -> bool:
    """Whether a gradient of ``shape`` is ``target`` broadcast (the engine can sum it back)."""
    try:
        return len(shape) >= len(target) and np.broadcast_shapes(shape, target) == shape
    except ValueError:
        return False


def function_vjp(i: int, g: Any, ans: Any, ctx: FunctionCtx, *args: Any) -> Any:
    # y = F(x₀, x₁, …) for a custom mg.Function: Jᵢᵀg is what F.backward returns for input i
    return ctx.vjp(i, g, ans, args)


# One entry of the rule table for every custom operation: position 0 of the node's args is its ctx.
define(
    "function",
    EachInput(function_vjp, offset=1),
    onnx=onnx_ops.not_exportable(
        "a custom mg.Function runs Python code of its own, which ONNX cannot hold; write it with minigrad's operations"
    ),
)


class Function:
    """Base class of custom operations; see the module docstring. Use ``MyOp.apply(*inputs)``."""

    @staticmethod
    def forward(ctx: FunctionCtx, *args: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: FunctionCtx, g: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any) -> Tensor:
        """Run ``forward`` on the inputs' arrays and record one node whose rule is ``backward``."""
        name = cls.__name__
        if cls.forward is Function.forward or cls.backward is Function.backward:
            raise NotImplementedError(f"{name}: a Function defines both forward(ctx, *arrays) and backward(ctx, g)")
        if batching and batched(args, {}):  # inside mg.vmap: one call per example (minigrad.vmap_dispatch)
            return batching[0]("function", args, {}, cls.apply)
        arrays = tuple(a._data if isinstance(a, Tensor) else a for a in args)
        needs = tuple(isinstance(a, Tensor) and a._rg for a in args)
        ctx = FunctionCtx(cls, arrays, needs)
        with no_grad():
            out = cls.forward(ctx, *arrays)
        if isinstance(out, Tensor):
            out = out._data
        if not isinstance(out, np.ndarray):
            out = np.asarray(out)
        if out.dtype == object or not (is_float(out.dtype) or np.issubdtype(out.dtype, np.integer)):
            raise TypeError(f"{name}.forward must return a numeric array, it returned {type(out).__name__}")
        ctx._output = out
        differentiable = is_float(out.dtype)
        parents = tuple(a if need and differentiable else None for a, need in zip(args, needs))
        return record("function", out, (ctx, *arrays), (None, *parents), (None, *args))
