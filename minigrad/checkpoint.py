"""Gradient checkpointing: ``mg.checkpoint(f)(*args)`` keeps none of f's intermediates; backward recomputes them.

>>> import minigrad as mg
>>> W = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> x = mg.tensor([0.5, -0.5], requires_grad=True)
>>> y = mg.checkpoint(lambda x: mg.tanh(W @ x))(x)   # also mg.checkpoint(f, x), as torch.utils.checkpoint
>>> y.grad_fn                                       # one node: the graph of f is gone
'checkpoint'
>>> y.sum().backward()                              # runs f again, recorded, and backpropagates through it
>>> W.grad.shape, x.grad.shape
((2, 2), (2,))

**How.** The forward runs f recorded and walks its graph back from the outputs to the tensors made before f
that it reaches: f's *inputs*, the arguments and whatever f closes over (a module's parameters). It keeps
their values and f's outputs and lets the rest go. The result is one ``"checkpoint"`` node whose parents are
those inputs, so gradients reach parameters that f only closes over. Its rule runs f again, recorded, puts
stand-ins in the places of the inputs in the new graph (so that the walk stops there and never enters the
graph around f), and backpropagates g through it: on arrays in an ordinary backward, on Tensors (recorded)
under ``create_graph``, ``mg.grad(mg.grad(...))`` and forward mode, so every transform composes with it.

**State f reads.** Before the forward, ``preserve_rng_state=True`` (PyTorch's default) takes the state of
every ``np.random.Generator`` it finds in f and its arguments (a module's attributes, closures, globals f
names, defaults); the recomputation starts from those states, so dropout draws the same mask, and leaves them
as they were. Dict entries and attributes that held f's inputs are set to them again for the recomputation
(``nn.functional_call`` of a model that checkpoints inside: see ``minigrad.checkpoint_state``). Whatever
else makes the second run differ (dropout with ``rng=None``, fresh entropy on every call) is caught: a sample
of the recomputed outputs is compared with the forward's, and a difference raises. Inputs cannot change in
between: the node holds them (``mg.InplaceError``).

**Costs.** f runs twice per step (forward, and again in backward); the forward records its graph but drops it
when f returns, so memory holds one f's graph at a time. Under ``create_graph`` the recomputed graph is part
of the recorded backward and stays alive as long as that. Forward mode runs f once per input of the node.
Under ``mg.compile`` (while it traces) and with recording off, f simply runs: a compiled replay keeps what its
own plan keeps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .checkpoint_state import ForwardState
from .engine import backward_pass
from .grad_mode import enable_grad, is_grad_enabled
from .onnx_ops import traced_through
from .recording import record, unrecorded
from .registry import EachInput, define
from .shape_ops import astype, concatenate, reshape
from .tensor import Tensor, constant, creation_ids


def checkpoint(function: Callable, *args: Any, preserve_rng_state: bool = True, use_reentrant: Any = None,
               **kwargs: Any) -> Any:  # fmt: skip
    """Run ``function`` without keeping its intermediates; backward runs it again to get them.

    ``checkpoint(f, *args, **kwargs)`` calls f at once (``torch.utils.checkpoint.checkpoint``'s form);
    ``checkpoint(f)`` with nothing after f returns the checkpointed function (``jax.checkpoint``'s form).
    f returns a Tensor or a tuple or list of them (other entries are passed through); arguments may be anything.
    ``use_reentrant`` is accepted for PyTorch's signature and changes nothing. See the module docstring.
    """
    if not callable(function):
        raise TypeError(f"checkpoint: the first argument must be a function or module, got {type(function).__name__}")
    if args or kwargs:
        return _run(function, args, kwargs, preserve_rng_state)

    def checkpointed(*args: Any, **kwargs: Any) -> Any:
        return _run(function, args, kwargs, preserve_rng_state)

    checkpointed.__name__ = f"checkpoint({_name(function)})"
    return checkpointed


def checkpoint_sequential(functions: Any, segments: int, input: Any, use_reentrant: Any = None,
                          preserve_rng_state: bool = True) -> Any:  # fmt: skip
    """Apply the modules of ``functions`` (an ``nn.Sequential`` or a list) in turn to ``input``, in ``segments``
    pieces of ``len // segments`` modules, all but the last checkpointed, as ``torch.utils.checkpoint``'s
    ``checkpoint_sequential`` (the last runs as usual: backward needs its graph at once)."""
    layers = list(functions)
    if isinstance(segments, bool) or not isinstance(segments, (int, np.integer)) or not 1 <= segments <= len(layers):
        raise ValueError(f"checkpoint_sequential: segments must be an int in 1..{len(layers)} (the number of "
                         f"modules), got {segments!r}")  # fmt: skip
    size = len(layers) // segments
    end = 0
    for start in range(0, size * (segments - 1), size):
        end = start + size
        input = checkpoint(_Segment(layers[start:end]), input, preserve_rng_state=preserve_rng_state)
    return _Segment(layers[end:])(input)


class _Segment:
    """Modules applied one after the other (a plain object, so that it registers nowhere)."""

    def __init__(self, layers: list) -> None:
        self.layers = layers
        self.__name__ = "segment"

    def __call__(self, x: Any) -> Any:
        for layer in self.layers:
            x = layer(x)
        return x


def _run(function: Callable, args: tuple, kwargs: dict, preserve_rng_state: bool) -> Any:
    if not is_grad_enabled() or unrecorded:  # nothing is recorded, or mg.compile traces: f as it is
        return function(*args, **kwargs)
    state = ForwardState((function, args, kwargs), preserve_rng_state)
    start = next(creation_ids)  # tensors made before f have smaller ids, f's have larger ones
    out = function(*args, **kwargs)
    name = _name(function)
    items = _items(name, out)
    made: list = []  # the differentiable outputs f made, once each
    for t in items:
        if isinstance(t, Tensor) and t._rg and t._id > start and all(t is not m for m in made):
            made.append(t)
    inputs = _cut(made, start)
    if not made or not inputs:
        return out
    data = made[0]._data if len(made) == 1 else np.concatenate([t._data.ravel() for t in made])
    state.keep(inputs)
    ctx = _Recompute(function, args, kwargs, state, name, made, inputs, _sample(data))
    node = record("checkpoint", data, (ctx, *(x._data for x in inputs)), (None, *inputs))
    if len(made) == 1:
        pieces = [node]
    else:  # views of the one node's value, as the outputs
        offsets = np.cumsum([0] + [t._data.size for t in made])
        pieces = [reshape(node[a:b], t._data.shape) for a, b, t in zip(offsets[:-1], offsets[1:], made)]
        pieces = [p if p._data.dtype == t._data.dtype else astype(p, t._data.dtype) for p, t in zip(pieces, made)]
    swapped = [next((p for p, m in zip(pieces, made) if m is t), t) for t in items]
    if isinstance(out, Tensor):
        return swapped[0]
    return type(out)(*swapped) if hasattr(out, "_fields") else type(out)(swapped)  # (a namedtuple: by position)


def _name(function: Any) -> str:
    return getattr(function, "__name__", type(function).__name__)


def _items(name: str, out: Any) -> list:
    if isinstance(out, Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return list(out)
    raise TypeError(f"checkpoint: {name} returned a {type(out).__name__}; return a Tensor or a tuple of Tensors")


def _cut(outputs: list, start: int, stand_ins: dict | None = None) -> list:
    """The tensors made before ``start`` that the graph of ``outputs`` reaches (f's inputs), in the order found;
    with ``stand_ins`` (id of an input: its stand-in), each input's place among the parents is given to its
    stand-in instead, so that a walk from the outputs ends there."""
    found: dict = {}
    seen: set = set()
    stack = list(outputs)
    while stack:
        node = stack.pop()
        if id(node) in seen or node._id < start or not node._parents:  # seen, made before f, or a leaf
            continue
        seen.add(id(node))
        parents = node._parents
        outside = [p for p in parents if p is not None and p._id < start]
        for p in outside:
            found.setdefault(id(p), p)
        if outside and stand_ins is not None:
            if any(id(p) not in stand_ins for p in outside):
                raise RuntimeError(
                    "checkpoint: running the function again for backward, its graph reached a tensor that the "
                    "forward did not reach; f must compute the same thing twice"
                )
            node._parents = tuple(stand_ins[id(p)] if p is not None and p._id < start else p for p in parents)
        stack.extend(p for p in parents if p is not None and p._id >= start)
    return list(found.values())


class _Recompute:
    """What a checkpoint node keeps to run f again: f, its arguments, the random states, what it returned."""

    def __init__(self, function: Callable, args: tuple, kwargs: dict, state: Any, name: str, made: list,
                 inputs: list, sample: np.ndarray) -> None:  # fmt: skip
        self.function, self.args, self.kwargs, self.state, self.name = function, args, kwargs, state, name
        self.sample = sample
        self.shapes = [(t._data.shape, t._data.dtype) for t in made]
        self.inputs = inputs
        self._last: tuple | None = None  # (g, gradients): one recomputation serves every input

    def vjp(self, i: int, g: Any, ans: Any, args: tuple) -> Any:
        last = self._last
        if last is None or last[0] is not g:
            last = self._last = (g, self._gradients(g, ans, args))
        if i == len(self.inputs) - 1:
            self._last = None
        return last[1][i]

    def _gradients(self, g: Any, ans: Any, args: tuple) -> tuple:
        nest = isinstance(ans, Tensor)  # the engine's create_graph walk: args are the parents, as Tensors
        with enable_grad():
            stand_ins = [_stand_in(x, a, nest) for x, a in zip(self.inputs, args)]
            start = next(creation_ids)
            with self.state.replayed():
                out = self.function(*self.args, **self.kwargs)
            made = self._outputs(out, start)
            _cut(made, start, {id(x): s for x, s in zip(self.inputs, stand_ins)})
            if len(made) == 1:
                root = made[0]
            else:
                dtype = np.result_type(*(d for _, d in self.shapes))
                root = concatenate([astype(reshape(t, (-1,)), dtype) for t in made])
            self._compare(root._data)
            found = backward_pass(root, g, False, isinstance(g, Tensor), stand_ins)
        grads = [found.get(s) for s in stand_ins]
        return tuple(np.zeros_like(s._data) if gs is None else gs for gs, s in zip(grads, stand_ins))

    def _outputs(self, out: Any, start: int) -> list:
        made = []
        for t in _items(self.name, out):
            if isinstance(t, Tensor) and t._rg and t._id > start and all(t is not m for m in made):
                made.append(t)
        if [(t._data.shape, t._data.dtype) for t in made] != self.shapes:
            raise RuntimeError(
                f"checkpoint: running {self.name} again for backward returned other outputs "
                f"({[t._data.shape for t in made]}) than the forward ({[s for s, _ in self.shapes]})"
            )
        return made

    def _compare(self, new: np.ndarray) -> None:
        """The recomputation must give the forward's values, else its gradients belong to another function."""
        old = self.sample
        new = _sample(new)
        tol = float(np.sqrt(np.finfo(old.dtype).eps)) if old.dtype.kind == "f" else 0.0
        scale = float(np.max(np.abs(old), initial=1.0))
        if not np.allclose(new, old, rtol=tol, atol=tol * scale, equal_nan=True):
            worst = float(np.max(np.abs(new - old)))
            raise RuntimeError(
                f"checkpoint: running {self.name} again for backward gave other values than the forward (largest "
                f"difference {worst:.3g}), so its gradients would be wrong. It draws random numbers that cannot "
                "be drawn again (give dropout an rng=np.random.default_rng(seed) that f or its module holds, and "
                "keep preserve_rng_state=True), or depends on state that changed in between"
            )


def _sample(value: np.ndarray) -> np.ndarray:
    """About 256 evenly spaced elements of f's outputs, a copy: what the recomputation is compared with (the
    outputs themselves are not held, so that backward can drop them once their consumers are done)."""
    flat = value.reshape(-1)
    return flat[:: max(1, flat.size // 256)].copy()


def _stand_in(x: Tensor, arg: Any, nest: bool) -> Tensor:
    """What takes input ``x``'s place in the recomputed graph: a leaf over its array, or under ``create_graph`` a
    recorded copy of ``arg`` (the node's parent there), so that the recorded gradients go on into its graph."""
    if nest:
        return record("reshape", arg._data, (arg._data, arg._data.shape), (arg,))
    s = constant(x._data)
    s._rg = True
    return s


def checkpoint_vjp(i: int, g: Any, ans: Any, ctx: _Recompute, *args: Any) -> Any:
    # y = f(x₀, x₁, …) checkpointed: Jᵢᵀg is backward through f run again, from g to input i
    return ctx.vjp(i, g, ans, args)


def _reads(position: int, n_args: int) -> tuple:
    return False, tuple(range(1, n_args))  # every input (to run f again), not the outputs


# (mg.compile and mg.onnx.export trace through it: while tracing, f runs as it is, so its primitives are written)
define(
    "checkpoint",
    EachInput(checkpoint_vjp, offset=1, reads=_reads),
    onnx=traced_through("while tracing, mg.checkpoint runs its function, whose primitives are written instead"),
)
