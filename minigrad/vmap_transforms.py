"""``grad``, ``vjp``, ``jvp`` and ``jacobian`` inside ``mg.vmap``: the derivative of each example by its own inputs.

Inside a vmapped function the arguments of a transform may be batched (``minigrad.batched``), or the function
may close over batched values. Each differentiated argument then gets one copy per example: its plain value
broadcast over every batch axis in play (a view, no copy) is the tensor differentiated against, so the backward
pass of the whole batch, seeded with ones for every example, gives every example's own gradient (the examples
do not mix). The batch axes in play are those of the arguments; a function that turns out to close over values
batched at another level is run again with that level added.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .batched import active, levels_of, plain, wrap, zeros_batched_as
from .engine import backward_pass
from .forward_mode import Linearized
from .grad_mode import enable_grad
from .shape_ops import broadcast_to, reshape
from .tensor import Tensor, constant
from .tracing import finish, is_traced, name_of, output, source


class _MoreLevels(Exception):
    def __init__(self, levels: list) -> None:
        self.levels = levels


def levels_in(values: Any) -> list[int]:
    """The vmap levels the values are batched at, outermost first."""
    return sorted({level for v in values for level in levels_of(v)})


def lift(x: Any, levels: list[int]) -> Tensor:
    """The plain tensor of ``x`` with one axis per level of ``levels`` (in order) before the example's axes,
    broadcast over the levels ``x`` is not batched at."""
    own = levels_of(x)
    t = plain(x) if own else (x if isinstance(x, Tensor) else constant(np.asarray(x)))
    if own == levels:
        return t
    example = tuple(t.shape[len(own) :])
    sizes = [active[level] for level in levels]
    kept = [t.shape[own.index(level)] if level in own else 1 for level in levels]
    return broadcast_to(reshape(t, (*kept, *example)), (*sizes, *example))


def rewrap(t: Any, levels: list[int]) -> Any:
    """The ``Batched`` nest over plain ``t`` whose leading axes are the batch axes of ``levels``."""
    for level in levels:
        t = wrap(t, level)
    return t


def _traced(transform: str, f: Callable, args: tuple, nums: tuple, levels: list[int], nest: bool) -> tuple:
    """Run f with per-example copies of the arguments at ``nums``: (the output lifted to ``levels``, the copies)."""
    call, inputs = list(args), []
    for i in nums:
        x = args[i]
        s = source(transform, plain(x) if levels_of(x) else x, i, nest)
        lifted = lift(rewrap(s, levels_of(x)), levels) if levels_of(x) else lift(s, levels)
        inputs.append(lifted)
        call[i] = rewrap(lifted, levels)
    out = f(*call)
    extra = [level for level in levels_of(out) if level not in levels]
    if extra:
        raise _MoreLevels(extra)
    if not isinstance(out, Tensor):
        out = output(transform, f, out)
    return out, lift(out, levels), inputs


def _run(transform: str, f: Callable, args: tuple, nums: tuple, values: tuple = ()) -> tuple:
    """``_traced`` at the levels of the arguments (and of ``values``), more if ``f``'s output needs them."""
    levels = levels_in([*args, *values])
    nest = any(is_traced(plain(args[i])) for i in nums)
    while True:
        try:
            with enable_grad():
                return (*_traced(transform, f, args, nums, levels, nest), levels, nest)
        except _MoreLevels as e:
            levels = sorted(set(levels) | set(e.levels))


def _pull(out: Tensor, seed: Any, inputs: list, nest: bool) -> list:
    seed = (seed if isinstance(seed, Tensor) else constant(seed)) if nest else np.asarray(plain_array(seed))
    found = backward_pass(out, seed, True, nest, inputs) if out._rg else {}
    grads = []
    for x in inputs:
        g = found.get(x)
        grads.append(finish(constant(np.zeros(x.shape, x.dtype)) if g is None else g, nest))
    return grads


def pull_batched(out: Tensor, cotangent: Any, inputs: list, keep_graph: bool) -> tuple:
    """The vjp of an unbatched ``out`` for a batch of cotangents: one backward pass whose rules run batched. An
    input that ``out`` does not depend on gets zeros batched as the cotangent is."""
    with enable_grad():
        found = backward_pass(out, cotangent, True, True, inputs) if out._rg else {}
    grads = [found.get(x) for x in inputs]
    grads = [zeros_batched_as(cotangent, x.shape, x.dtype) if g is None else g for g, x in zip(grads, inputs)]
    return tuple(g if keep_graph else g.detach() for g in grads)


def plain_array(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


def value_and_grad(f: Callable, args: tuple, nums: tuple) -> tuple:
    """(each example's value, each example's gradients) of scalar ``f``, for ``mg.value_and_grad`` in a vmap."""
    out, lifted, inputs, levels, nest = _run("grad", f, args, nums)
    if int(np.prod(out.shape, dtype=np.int64)) != 1:
        raise TypeError(
            f"grad: {name_of(f)} returned shape {tuple(out.shape)} for one example, but grad needs a scalar output "
            "(size 1); reduce it, or use mg.jacobian or mg.vjp"
        )
    with enable_grad():
        grads = _pull(lifted, np.ones(lifted.shape, lifted.dtype), inputs, nest)
    return rewrap(finish(lifted, nest), levels), [rewrap(g, levels) for g in grads]


def vjp(f: Callable, primals: tuple) -> tuple:
    """``mg.vjp`` in a vmap: (each example's output, the function of a cotangent per example)."""
    out, lifted, inputs, levels, nest = _run("vjp", f, primals, tuple(range(len(primals))))

    def vjp_fn(cotangent: Any) -> tuple:
        if tuple(np.shape(cotangent) if not isinstance(cotangent, Tensor) else cotangent.shape) != tuple(out.shape):
            raise ValueError(
                f"vjp: the cotangent has shape {tuple(np.shape(cotangent))} but {name_of(f)} returned shape "
                f"{tuple(out.shape)} per example"
            )
        extra = [level for level in levels_of(cotangent) if level not in levels]
        if extra and levels:
            raise ValueError(
                "vjp: the cotangent is batched by a vmap that the primals of mg.vjp are not, and they are batched "
                "by another; vmap the primals too (in_axes=None) or call mg.vjp outside the inner vmap"
            )
        if extra:  # one primal for a batch of cotangents: the rules of the backward pass run batched
            return pull_batched(out, cotangent, inputs, nest)
        deep = nest or is_traced(plain(cotangent))
        with enable_grad():
            seed = lift(cotangent, levels)
            grads = _pull(lifted, seed if deep else seed._data.astype(lifted.dtype), inputs, deep)
        return tuple(rewrap(g, levels) for g in grads)

    return rewrap(finish(lifted, nest), levels), vjp_fn


def jvp(f: Callable, primals: tuple, tangents: tuple) -> tuple:
    """``mg.jvp`` in a vmap: (each example's output, its derivative along each example's tangents)."""
    out, lifted, inputs, levels, nest = _run("jvp", f, primals, tuple(range(len(primals))), tangents)
    nest = nest or any(is_traced(plain(t)) for t in tangents)
    with enable_grad():
        pushed = [lift(t, levels) for t in tangents]
        pushed = [t if nest else np.array(t._data, dtype=x.dtype) for t, x in zip(pushed, inputs)]
        tangent = Linearized(lifted, inputs, nest).push(pushed)
    return rewrap(finish(lifted, nest), levels), rewrap(finish(tangent, nest), levels)
