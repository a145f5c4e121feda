"""The in-place guard: what the graph saved for backward cannot be written until backward is done.

A rule reads some of ``ans`` and the arguments (tanh's rule reads ``ans``, multiply's reads the other
factor, add's reads neither). When a node is recorded it holds what its rules will read, and lets go
when it is freed: by the backward pass that goes through it, or by its death if no backward comes.
A write in between (``t.data[...] = 0``, ``t.data += 1``, an optimizer step) would make that backward
silently wrong; it raises ``InplaceError`` instead, naming the tensor and the op that saved it, at the
line that writes. This is what PyTorch's version counters check, moved from the later backward pass
(which finds out) to the write (which is where the bug is).

- A tensor counts in ``_held`` the live nodes that will read it (parents, and constant tensors passed
  as ``inputs`` to ``record``); ``t.data`` hands out a read-only ``GuardedArray`` while the count is not
  zero. A recorded view (transpose, reshape, slice) holds the tensor whose memory it shares too.
- Plain arrays handed to an operation, and arrays taken from ``t.data`` before ``t`` was held, are the
  caller's, as ``torch.from_numpy`` memory is: nothing watches them (making them read-only with NumPy's
  flag cost a quarter of a small step). Nor are tensors that share memory without a recorded link
  (``detach()``, a view made under ``no_grad`` or of a constant).

What the rules read is the registry's to say (``minigrad.registry.plan``); this module only holds it.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np


class InplaceError(RuntimeError):
    """A write to an array that a recorded operation saved for its backward pass."""


# -- holding ---------------------------------------------------------------------------------------
# A tensor counts in ``_held`` the live nodes that will read its array (``_saver`` names the latest). Its
# array is reached through ``t.data``, which hands out a read-only ``GuardedArray`` while the count is
# not zero. The counts change by single ``+=``/``-=`` on slots, which the GIL does not interrupt.
SELF_ONLY = ("self",)  # the ``_saved`` of a node whose rules read nothing but its own value (tanh, exp...)


def _viewed(t: Any, base: Any) -> Any:
    """The parent whose memory ``t``'s array views (transpose, reshape, basic indexing), or None."""
    parents = t._parents
    if base is None or not parents:
        return None
    for p in parents:
        if p is not None and (p._data is base or p._data.base is base):
            return p
    return None


class Hold:
    """What one node holds besides its own value: the tensors whose counts it raised.

    The node keeps it in ``_saved``. Backward lets go through ``release`` as it frees the node; if the node
    dies without backward, so does this object, and ``__del__`` lets go (only nodes that hold something
    else pay for a finalizer, not every tensor).
    """

    __slots__ = ("items", "self_too")  # items: one tensor, or a tuple of them; self_too: the node's own value

    def release(self) -> None:
        items = self.items
        if items is not None:
            self.items = None
            if type(items) is tuple:
                for t in items:
                    t._held -= 1
            else:
                items._held -= 1

    __del__ = release


_new_hold = object.__new__


def hold_one(t: Any, op: str) -> Hold:
    """``node_saves`` for rules that read one argument, ``t``, whose array views no other tensor's."""
    t._held += 1
    t._saver = op
    h = _new_hold(Hold)
    h.items = t
    h.self_too = False
    return h


def release_node(node: Any) -> None:
    """Backward is done with ``node``: what its rules read may be written again."""
    saved = node._saved
    node._saved = None
    if saved is SELF_ONLY:
        node._held -= 1
    elif saved is not None:
        if saved.self_too:
            node._held -= 1
        saved.release()


def saver(t: Any) -> str | None:
    """The op of a live node that holds ``t``'s memory (through ``t``, a tensor it views, or a tensor that shares
    its memory without a recorded link), or None."""
    op = _saver_along_views(t)
    if op is None and t._links is not None:
        d = t._data
        for other in _linked(t):
            o = other._data
            if other is not t and type(o) is np.ndarray and type(d) is np.ndarray and np.may_share_memory(d, o):
                op = _saver_along_views(other)  # (memory no longer shared after t.data = new is not asked)
                if op is not None:
                    return op
    return op


def _saver_along_views(t: Any) -> str | None:
    while t is not None:
        if t._held:
            return getattr(t, "_saver", "?")
        t = _viewed(t, t._data.base)
    return None


# -- memory shared without a recorded link ---------------------------------------------------------
# ``t.detach()`` and a view made while nothing is recorded (a slice or transpose under ``no_grad``, or of a
# constant) share a tensor's memory, but no node links them, so ``_viewed`` cannot find one from the other.
# ``share`` links them in ``_links`` (weakly both ways: the view knows its source, the source its views), and
# ``saver`` asks the linked tensors whose memory still overlaps: a write through one while the graph holds
# another is refused, as PyTorch's version counter, shared by such tensors, refuses it at backward.
class Links:
    __slots__ = ("source", "views")  # a weak reference to the tensor shared from; a WeakSet of those sharing

    def __init__(self) -> None:
        self.source: Any = None
        self.views: Any = None


def share(source: Any, view: Any) -> None:
    """Link the tensors ``source`` and ``view``, which share memory with no recorded node between them."""
    if view._links is None:
        view._links = Links()
    view._links.source = weakref.ref(source)
    if source._links is None:
        source._links = Links()
    if source._links.views is None:
        source._links.views = weakref.WeakSet()
    source._links.views.add(view)


def _linked(t: Any) -> list:
    """The tensors linked to ``t``: its source, the source's other views, and its own views."""
    out: list = []
    links = t._links
    source = links.source() if links.source is not None else None
    if source is not None:
        out.append(source)
        if source._links is not None and source._links.views is not None:
            out.extend(list(source._links.views))
    if links.views is not None:
        out.extend(list(links.views))
    return out


def node_saves(t: Any, op: str, parents: tuple, reads: tuple, inputs: Any = None) -> Any:
    """Hold what the rules of node ``t`` will read (``reads``: whether they read ``ans``, the arg positions
    they read); return what ``t`` keeps for letting go (its ``_saved``).

    ``inputs``, when given, holds the tensors at every position (constants too), so that a constant
    tensor a rule reads is guarded as well; plain arrays handed to an operation are the caller's.
    """
    reads_ans, positions = reads
    if reads_ans:
        t._held = 1
        t._saver = op
    saved: list = []
    for i in positions:
        p = parents[i] if i < len(parents) else None
        if p is None and inputs is not None:
            p = inputs[i]
            if not hasattr(p, "_held"):  # a number or a plain array: the caller's
                continue
        while p is not None:  # p, and the tensors whose memory p's array views
            p._held += 1
            p._saver = op
            saved.append(p)
            base = p._data.base
            p = None if p._op is None or base is None else _viewed(p, base)
    if not saved:
        return SELF_ONLY if reads_ans else None
    h = _new_hold(Hold)
    h.items = tuple(saved) if len(saved) > 1 else saved[0]
    h.self_too = reads_ans
    return h


def inplace_error(what: str, tensor: Any, op: str) -> InplaceError:
    return InplaceError(
        f"{what}: {_describe(tensor)} is saved by '{op}' for the backward pass, and writing to it in place would "
        "make that gradient silently wrong; call backward() first (or drop the graph), or write to a copy "
        "(t.data.copy())"
    )


def _describe(tensor: Any) -> str:
    kind = "parameter" if type(tensor).__name__ == "Parameter" else "tensor"
    made = "a leaf" if tensor._op is None else f"made by '{tensor._op}'"
    return f"the {kind} of shape {tensor._data.shape} ({tensor._data.dtype}, {made})"
