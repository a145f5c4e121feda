"""How a primitive runs on batched arguments: its batching rule, or a loop over the batch.

``dispatch`` is called by a primitive's public function when an argument is a ``Batched`` (see
``minigrad.batched``). It binds the arguments to the primitive's signature, replaces each argument batched
at the innermost level by its whole-batch value (batch axis first), and calls the primitive's batching rule:

    rule(forward, size, values, batched) -> the whole-batch result, batch axis first

``values`` are the arguments in signature order (a list or tuple argument, as ``concatenate``'s, is a
list), ``batched`` says which of them carry the batch axis (a list of flags for a list argument), ``size``
is the batch size. A rule computes the result with public minigrad functions, so the work is recorded
(and dispatched again for the levels of outer vmaps). Elementwise primitives need no rule of their own
(``elementwise_rule``); a primitive without one runs ``loop_rule``: one call per example, then a stack,
which is correct for any primitive and as slow as a Python loop (``mg.Function``s run this way).
"""

from __future__ import annotations

import functools
import inspect
import operator
from typing import Any

import numpy as np

from .batched import Batched, VmapError, active, comparison, innermost, unwrap, wrap
from .registry import BINARY, PRIMITIVES, UNARY
from .shape_ops import reshape, stack
from .tensor import Tensor, constant


@functools.cache
def _signature(forward: Any) -> tuple[inspect.Signature, int]:
    """The signature of a primitive's function, and its number of plain positional parameters (-1 if it takes
    ``*args``: such calls always bind)."""
    signature = inspect.signature(getattr(forward, "__wrapped__", forward))
    kinds = [p.kind for p in signature.parameters.values()]
    plain = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return signature, len(kinds) if all(k == plain for k in kinds) else -1


def dispatch(name: str, args: tuple, kwargs: dict, forward: Any = None) -> Batched:
    """Run primitive ``name`` on arguments of which some are batched: its rule at the innermost level. A
    ``forward`` given (``mg.Function.apply`` of a custom Function) runs in a loop over the batch."""
    primitive = PRIMITIVES[name]
    signature, positional = _signature(forward or primitive.forward)
    if len(args) == positional and not kwargs:  # every argument given, in order (the common call)
        arguments = list(args)
    else:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = list(bound.args)
    level = innermost(arguments)
    values, batched = [], []
    for a in arguments:
        if isinstance(a, (list, tuple)) and innermost(a):
            pairs = [unwrap(m, level) for m in a]
            values.append([v for v, _ in pairs])
            batched.append([b for _, b in pairs])
        else:
            v, b = unwrap(a, level)
            values.append(v)
            batched.append(b)
    if forward is not None:
        return wrap(loop_rule(forward, active[level], values, batched), level)
    rule = primitive.batch
    if rule is None:  # the rule written for this name, else derived: looked up on the first call
        rule = RULES.get(name) or (elementwise_rule if primitive.kind in (UNARY, BINARY) else loop_rule)
        primitive.batch = rule
    return wrap(rule(primitive.forward, active[level], values, batched), level)


# -- the rules every primitive can use -----------------------------------------------------------------------
def example_ndim(value: Any, batched: bool) -> int:
    """The number of axes of one example of ``value``."""
    ndim = value.ndim if isinstance(value, Tensor) else np.ndim(value)
    return ndim - 1 if batched else ndim


def with_axes(value: Any, ndim: int) -> Any:
    """A batched ``value`` with 1s inserted after the batch axis so that one example has ``ndim`` axes."""
    have = value.ndim - 1
    if have >= ndim:
        return value
    return reshape(value, (value.shape[0],) + (1,) * (ndim - have) + tuple(value.shape[1:]))


def aligned(values: list, batched: list) -> list:
    """Broadcast operands as NumPy would for one example: the batched ones get 1s after their batch axis, so
    that the unbatched ones line up against the example's axes, right-aligned."""
    n = max(example_ndim(v, b) for v, b in zip(values, batched))
    return [with_axes(v, n) if b else v for v, b in zip(values, batched)]


def elementwise_rule(forward: Any, size: int, values: list, batched: list) -> Any:
    """The rule of an elementwise primitive: the same function on the aligned whole-batch operands."""
    return forward(*aligned(values, batched))


def loop_rule(forward: Any, size: int, values: list, batched: list) -> Any:
    """The rule of a primitive without one: call it once per example and stack the results."""
    if size == 0:
        raise VmapError(f"vmap: {forward.__name__} has no batching rule, and a batch of size 0 cannot be looped")
    results = []
    for i in range(size):
        call = []
        for v, b in zip(values, batched):
            if isinstance(b, list):
                call.append([m[i] if mb else m for m, mb in zip(v, b)])
            else:
                call.append(v[i] if b else v)
        results.append(forward(*call))
    return stack(results)


RULES: dict[str, Any] = {}  # name -> the batching rule written for it (``minigrad.vmap_rules``)


def rule_of(name: str) -> Any:
    """Decorator: make the decorated function the batching rule of primitive ``name``: ``rule(forward, size,
    values, batched)``, ``forward`` the primitive's public function."""

    def register(rule: Any) -> Any:
        RULES[name] = rule
        if name in PRIMITIVES:
            PRIMITIVES[name].batch = rule
        return rule

    return register


def compare(name: str, x: Batched, other: Any) -> Batched:
    """``x < other`` and the other comparisons of a batched tensor: a batched boolean tensor."""
    level = max(x._level, innermost((other,)))
    (a, ba), (b, bb) = unwrap(x, level), unwrap(other, level)
    a, b = aligned([a, b], [ba, bb])
    out = getattr(operator, name)(a, b)  # a is a Tensor: its comparison (a Batched's dispatches again)
    return wrap(out if isinstance(out, Tensor) else constant(np.asarray(out)), level)


comparison.append(compare)
