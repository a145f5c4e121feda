"""The batched tensor of ``mg.vmap``: one example's view of the values of a whole batch.

Inside ``vmap(f)``, ``f`` sees each batched argument as a ``Batched``: a Tensor whose ``shape`` is one
example's shape, wrapping ``_value``, the values of every example with the batch axis first (a plain
Tensor, or the ``Batched`` of an outer ``vmap``). A primitive called on it runs its batching rule (see
``minigrad.vmap_rules``): one call of the primitive on the whole batch, whose result is wrapped again. The
work is recorded on the plain tensors underneath, so the graph is an ordinary one over whole-batch arrays,
and ``grad`` of a vmapped function is an ordinary backward pass.

Each ``vmap`` call is a *level*, numbered in creation order: a ``Batched`` of level 3 wraps values that may
be ``Batched`` of level 1 or 2. A primitive whose arguments are batched at several levels runs the rule of
the innermost (largest) one, whose calls on the wrapped values run the rules of the next level out.

The values of an example cannot be read inside ``f`` (``bool``, ``float``, ``.item()``, ``.data``,
``np.asarray``): they differ from example to example, so a Python ``if`` on them cannot be vectorized; this
raises ``VmapError`` rather than reading the first example.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .tensor import Tensor, constant, creation_ids, new_tensor
from .user_code import user_line

# the levels of the vmap calls running now, outermost first, and the batch size of each
active: dict[int, int] = {}
comparison: list = []  # [minigrad.vmap_dispatch.compare], once imported


class VmapError(RuntimeError):
    """``mg.vmap`` cannot vectorize this function (or its arguments do not fit together)."""


def _place() -> str:
    """The user's line that got here, and the minigrad function it called."""
    where, inner = user_line(3)
    return where if inner is None else f"{where}, in minigrad's {inner}"


def _read(what: str) -> Any:
    def refuse(self: Batched, *args: Any) -> Any:
        raise VmapError(
            f"vmap: {what} reads the values of a batched tensor (shape {self.shape} per example) at {_place()}; "
            "inside mg.vmap the function sees one example's shape but not its values, which differ between "
            "examples. Use minigrad functions on the tensor (mg.where for a value-dependent choice), or run a "
            "Python loop over the examples instead of vmap"
        )

    return refuse


class Batched(Tensor):
    """One example's view of a batch of values (see the module docstring)."""

    __slots__ = ("_value", "_level")

    # one example's metadata
    shape = property(lambda self: tuple(self._value.shape[1:]))
    ndim = property(lambda self: self._value.ndim - 1)
    size = property(lambda self: int(np.prod(self._value.shape[1:], dtype=np.int64)))
    dtype = property(lambda self: self._value.dtype)

    _data = property(_read("an operation"))  # minigrad code that reads arrays directly must dispatch first
    data = property(_read(".data"))
    numpy = _read(".numpy()")
    item = _read(".item()")
    __bool__ = _read("bool()")
    __float__ = _read("float()")
    __int__ = _read("int()")
    __array__ = _read("np.asarray()")

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self) -> str:
        return f"Batched(level {self._level}, shape {self.shape} per example, value={self._value!r})"

    def backward(self, *args: Any, **kwargs: Any) -> None:
        raise VmapError(
            "vmap: backward() inside a vmapped function would sum over the batch; use mg.grad (or mg.vjp) "
            "inside the function, vmap(mg.grad(f)) gives per-example gradients"
        )

    def detach(self) -> Batched:
        return wrap(self._value.detach(), self._level)

    # comparisons give a batched boolean tensor (a plain Tensor's give arrays), so mg.where can use them
    def _compare(self, other: Any, name: str) -> Batched:
        return comparison[0](name, self, other)  # minigrad.vmap_dispatch.compare (it sits above the primitives)

    __lt__ = lambda self, other: self._compare(other, "lt")  # noqa: E731
    __le__ = lambda self, other: self._compare(other, "le")  # noqa: E731
    __gt__ = lambda self, other: self._compare(other, "gt")  # noqa: E731
    __ge__ = lambda self, other: self._compare(other, "ge")  # noqa: E731
    __eq__ = lambda self, other: self._compare(other, "eq")  # type: ignore[assignment]  # noqa: E731
    __ne__ = lambda self, other: self._compare(other, "ne")  # type: ignore[assignment]  # noqa: E731
    __hash__ = Tensor.__hash__


def wrap(value: Any, level: int) -> Batched:
    """The ``Batched`` of ``level`` over ``value`` (a Tensor, or a Batched of an outer level), batch axis first."""
    if level not in active:
        raise VmapError(f"vmap: a batched tensor of a vmap call that has returned was used (level {level})")
    t = new_tensor(Batched)
    t._value = value
    t._level = level
    t._rg = value._rg
    t._grad = t._links = t._saved = t._args = None
    t._op = None
    t._parents = ()
    t._id = next(creation_ids)
    t._held = 0
    return t


def innermost(values: Any) -> int:
    """The largest level among ``values`` and the members of the lists and tuples among them (0: none)."""
    level = 0
    for v in values:
        if type(v) is Batched:
            level = max(level, v._level)
        elif isinstance(v, (list, tuple)):
            level = max(level, innermost(v))
    return level


def unwrap(x: Any, level: int) -> tuple[Any, bool]:
    """(the whole-batch value of ``x``, batch axis first, True) if ``x`` is batched at ``level``, else (x, False)."""
    if type(x) is Batched and x._level == level:
        return x._value, True
    return x, False


def levels_of(x: Any) -> list[int]:
    """The levels ``x`` is batched at, outermost first."""
    found = []
    while type(x) is Batched:
        found.append(x._level)
        x = x._value
    return found[::-1]


def plain(x: Any) -> Any:
    """The plain Tensor under every level of ``x``: its axes are the batch axes, outermost first, then the example's."""
    while type(x) is Batched:
        x = x._value
    return x


def drawn_per_example(shape: tuple, draw: Any) -> Batched:
    """A constant of one example's ``shape`` that differs between the examples of every vmap running now:
    ``draw(full_shape)`` for the batch sizes then ``shape``, as a Python loop over the examples would draw."""
    levels = sorted(active)
    t = constant(draw(tuple(active[level] for level in levels) + tuple(shape)))
    for level in levels:
        t = wrap(t, level)
    return t


def zeros_batched_as(like: Batched, shape: tuple, dtype: Any) -> Batched:
    """Zeros of one example's ``shape``, batched at the levels of ``like``: the gradient of an input that an
    output batched so does not depend on (a plain zero would not carry the batch axes)."""
    sizes = tuple(active[level] for level in levels_of(like))
    t = constant(np.zeros((*sizes, *shape), dtype=dtype))
    for level in levels_of(like):
        t = wrap(t, level)
    return t
