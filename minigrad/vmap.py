"""``mg.vmap``: write a function for one example, run it on a batch as whole-batch NumPy calls.

>>> import numpy as np, minigrad as mg
>>> W = mg.tensor(np.ones((2, 3)))
>>> mg.vmap(lambda x: mg.tanh(W @ x))(np.zeros((5, 3))).shape   # W @ x for each of 5 examples, one matmul
(5, 2)

``vmap(f)`` wraps each batched argument in a ``Batched`` (``minigrad.batched``): a tensor with one example's
shape over the whole batch. Every primitive ``f`` calls on it runs its batching rule (``minigrad.vmap_rules``),
one NumPy call for the batch, recorded on the plain tensors underneath. So the result is differentiable
(``grad`` of a vmapped function), and ``vmap(grad(f))`` gives per-example gradients: ``grad`` inside ``vmap``
differentiates each example's output with respect to that example's copy of the argument (see
``minigrad.vmap_transforms``). ``vmap`` nests (``vmap(vmap(f))``); custom ``mg.Function``s and primitives
without a batching rule run once per example.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import vmap_conv_rules, vmap_rules  # noqa: F401  (give the primitives their batching rules)
from .batched import Batched, VmapError, active, wrap
from .registry import batching
from .shape_ops import transpose
from .tensor import Tensor, as_tensor
from .tracing import name_of
from .trees import leaves, map_leaves
from .vmap_dispatch import dispatch

__all__ = ["vmap", "VmapError"]

_levels = itertools.count(1)


def _axes(name: str, axes: Any, n: int, what: str) -> tuple:
    """``in_axes``/``out_axes`` as one entry (an int or None) per argument or output."""
    if axes is None or isinstance(axes, (int, np.integer)):
        return (axes,) * n
    if isinstance(axes, (tuple, list)) and len(axes) == n:
        if all(a is None or isinstance(a, (int, np.integer)) for a in axes):
            return tuple(axes)
    raise ValueError(
        f"vmap({name}): {what} must be an int, None, or a tuple of them with one entry per "
        f"{'argument' if what == 'in_axes' else 'output'} ({n}), got {axes!r}"
    )


def _where(path: tuple) -> str:
    return "".join(f"[{p!r}]" for p in path)


def vmap(f: Callable, in_axes: Any = 0, out_axes: Any = 0) -> Callable:
    """Vectorize ``f`` over a batch axis: ``vmap(f)(xs)`` stacks ``f(x)`` for each ``x`` along ``xs``'s axis 0.

    Parameters
    ----------
    f : callable
        A function of one example: Tensors (or tuples, lists, dicts of them) in, the same out.
    in_axes : int, None or tuple
        The batch axis of each positional argument (None: not batched, the same for every example), one
        entry for all arguments or one per argument; an entry applies to every tensor of that argument.
    out_axes : int, None or tuple
        Where the batch axis goes in each output (one entry per output of a tuple output); None for an output
        that does not depend on the batch.

    Keyword arguments are passed to ``f`` as they are, not batched (as ``torch.func.vmap`` does).
    A batched argument's examples are seen by ``f`` one at a time, with their own shape; ``f`` may use
    any minigrad function on them but may not read their values into Python (``VmapError``).
    """
    name = name_of(f)

    def vmapped(*args: Any, **kwargs: Any) -> Any:
        level = next(_levels)
        axes = _axes(name, in_axes, len(args), "in_axes")
        size, sized = None, None
        for i, (arg, axis) in enumerate(zip(args, axes)):
            if axis is None:
                continue
            for path, leaf in leaves(arg):
                shape = leaf.shape if isinstance(leaf, Tensor) else np.shape(leaf)
                where = f"argument {i}{_where(path)}"
                if not -len(shape) <= axis < len(shape):
                    raise ValueError(
                        f"vmap({name}): in_axes {axis} is out of range for {where} of shape {tuple(shape)}"
                    )
                n = shape[axis]
                if size is None:
                    size, sized = n, f"{where} has size {n} on axis {axis}"
                elif n != size:
                    raise ValueError(
                        f"vmap({name}): the batch sizes differ: {sized}, {where} has size {n} on axis {axis}"
                    )
        if size is None:
            raise ValueError(f"vmap({name}): no argument is batched (in_axes {in_axes!r} for {len(args)} arguments)")
        active[level] = size
        batching[:] = [dispatch]
        try:
            call = [
                arg if axis is None else map_leaves(arg, lambda p, leaf, a=axis: _batched(leaf, a, level))
                for arg, axis in zip(args, axes)
            ]
            out = f(*call, **kwargs)
            single = not isinstance(out, tuple)
            outs = (out,) if single else out
            result = tuple(
                map_leaves(
                    o, lambda p, leaf, a=a, k=k: _unbatched(name, leaf, a, level, size, f"output {k}{_where(p)}")
                )
                for k, (o, a) in enumerate(zip(outs, _axes(name, out_axes, len(outs), "out_axes")))
            )
        finally:
            del active[level]
            if not active:
                batching.clear()
        return result[0] if single else result

    vmapped.__name__ = f"vmap({name})"
    vmapped.__doc__ = getattr(f, "__doc__", None)
    return vmapped


def _batched(leaf: Any, axis: int, level: int) -> Batched:
    t = leaf if isinstance(leaf, Tensor) else as_tensor(leaf, "vmap")
    return wrap(moveaxis(t, axis, 0) if axis % max(t.ndim, 1) != 0 else t, level)


def _unbatched(name: str, leaf: Any, axis: Any, level: int, size: int, where: str) -> Any:
    if type(leaf) is Batched and leaf._level == level:
        if axis is None:
            raise VmapError(
                f"vmap({name}): {where} depends on the batch, but out_axes gives it None; give it a batch axis"
            )
        value = leaf._value
        if not -value.ndim <= axis < value.ndim:
            raise ValueError(f"vmap({name}): out_axes {axis} is out of range for {where} of shape {leaf.shape}")
        return moveaxis(value, 0, axis) if axis % value.ndim != 0 else value
    if axis is None:
        return leaf
    if not isinstance(leaf, Tensor):
        raise VmapError(f"vmap({name}): {where} is {type(leaf).__name__}, not a tensor; give it out_axes None")
    raise VmapError(
        f"vmap({name}): {where} (shape {leaf.shape}) does not depend on the batched arguments, so it has no batch "
        "axis; give it out_axes None to return it once, or broadcast it yourself"
    )


def moveaxis(x: Tensor, source: int, destination: int) -> Tensor:
    """``x`` with axis ``source`` moved to ``destination`` (a transpose)."""
    order = [a for a in range(x.ndim) if a != source % x.ndim]
    order.insert(destination % x.ndim, source % x.ndim)
    return transpose(x, tuple(order))
