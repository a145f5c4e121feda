"""The in-place guard: what the graph saved for backward cannot be written until backward is done.

A rule reads some of ``ans`` and the arguments (tanh's rule reads ``ans``, multiply's reads the other
factor, add's reads neither). When a node is recorded it holds what its rules will read, and lets go
when it is freed: by the backward pass that goes through it, or by its death if no backward comes.
A write in between (``t.data[...] = 0``, ``t.data += 1``, an optimizer step) would make that backward
silently wrong; it raises ``InplaceError`` instead, naming the tensor and the op that saved it, at the
line that writes. This is what PyTorch's version counters check, moved from the later backward pass
(which finds out) to the write (which is where the bug is).

- A tensor counts in ``_held`` the live nodes that will read it; ``t.data`` hands out a read-only
  ``GuardedArray`` while the count is not zero. A view (transpose, reshape, slice) holds the tensor whose
  memory it shares too.
- A leaf's array is also made read-only itself while held, since its owner may keep a plain reference.
- Arrays that are not a parent tensor's (constants handed to an operation) are locked by id, with counts.

What rules read is found once per rule from its bytecode: a parameter that the rule body loads counts as
read, unless it is only asked for ``.shape``, ``.ndim``, ``.dtype`` or ``.size``.
"""

from __future__ import annotations

import dis
import threading
from typing import Any

import numpy as np

_locks: dict[int, list] = {}  # id(array) -> [number of nodes holding it, op of the first]; the nodes keep it alive
_waiting: dict[int, list] = {}  # id(owner) -> views of it released while the owner was still held
_mutex = threading.RLock()  # reentrant: a collection inside ``lock`` can run a node's ``__del__`` -> ``release``
_METADATA = frozenset({"shape", "ndim", "dtype", "size"})


class InplaceError(RuntimeError):
    """A write to an array that a recorded operation saved for its backward pass."""


# -- what a rule reads ------------------------------------------------------------------------------
def _reads(rule: Any, n_args: int) -> tuple[bool, tuple[int, ...]]:
    """(whether ``rule(g, ans, *args)`` reads ans, the positions of the args it reads)."""
    code = getattr(rule, "__code__", None)
    everything = (True, tuple(range(n_args)))
    if code is None or code.co_flags & 0x04 or code.co_cellvars:  # not plain Python, *args, or closures over params
        return everything
    names = code.co_varnames[: code.co_argcount]
    if len(names) != n_args + 2:
        return everything
    read: set[str] = set()
    instructions = list(dis.get_instructions(code))
    for i, ins in enumerate(instructions):
        if ins.opname.startswith("LOAD_FAST") and ins.argval in names:
            after = instructions[i + 1] if i + 1 < len(instructions) else None
            if after is None or after.opname != "LOAD_ATTR" or after.argval not in _METADATA:
                read.add(ins.argval)
        elif ins.opname.startswith("LOAD_FAST"):  # a fused load of two names (Python 3.13): assume both read
            for name in ins.argval if isinstance(ins.argval, tuple) else ():
                read.add(name)
    return names[1] in read, tuple(i for i, name in enumerate(names[2:]) if name in read)


_plans: dict[tuple, tuple[bool, tuple[int, ...]]] = {}


def saved_positions(op: str, n_args: int, mask: int) -> tuple[bool, tuple[int, ...]]:
    """What the rules of ``op`` for the parents in ``mask`` (bit i: arg i requires grad) will read."""
    key = (op, n_args, mask)
    plan = _plans.get(key)
    if plan is None:
        from .rules import VJPS

        rules = VJPS.get(op, ())
        ans = False
        args: set[int] = set()
        for i in range(n_args):
            if mask >> i & 1:
                try:
                    rule = rules[i]
                except (IndexError, KeyError, TypeError):
                    rule = None
                if rule is None:
                    continue
                reads_ans, reads_args = _reads(rule, n_args)
                ans |= reads_ans
                args.update(reads_args)
        plan = _plans[key] = (ans, tuple(sorted(args)))
    return plan


# -- holding ---------------------------------------------------------------------------------------
# A tensor counts in ``_held`` the live nodes that will read its array (``_saver`` names the latest).
# Its array is reached only through ``t.data``, which hands out a read-only ``GuardedArray`` while the
# count is not zero. A leaf's array may also be referenced directly by its owner (a batch buffer, a
# ``w = p.data`` kept around), so a leaf's array itself is made read-only while held. Arrays that are
# not a parent tensor's (constants handed straight to an operation) are locked in ``_locks`` by id.
# The counts are changed by single ``+=``/``-=`` on slots, which the GIL does not interrupt.
SELF_ONLY = ("self",)  # the ``_saved`` of a node whose rules read nothing but its own value (tanh, exp...)
_flipped: dict[int, np.ndarray] = {}  # leaf arrays made read-only by the guard (to undo, and only those), by id


def hold(t: Any, op: str, saved: list) -> None:
    """Hold tensor ``t`` for a node of ``op`` (and the tensors whose memory ``t``'s array views)."""
    while True:
        t._held += 1
        t._saver = op
        saved.append(t)
        d = t._data
        if t._op is None:
            if t._held == 1 and d.flags.writeable:
                d.setflags(write=False)
                _flipped[id(d)] = d
            return
        t = _viewed(t, d.base)
        if t is None:
            return


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
    """What one node holds besides its own value: tensors it counted, arrays it locked.

    The node keeps it in ``_saved``; backward lets go through ``release_node``, and if the node dies
    without backward, so does this object, and ``__del__`` lets go (only nodes that hold something
    else pay for a finalizer, not every tensor).
    """

    __slots__ = ("items", "self_too")

    def __del__(self) -> None:
        items = self.items
        if items is not None:
            self.items = None
            _let_go(items)


_new_hold = object.__new__


def make_hold(items: tuple, self_too: bool) -> Hold:
    h = _new_hold(Hold)
    h.items = items
    h.self_too = self_too
    return h


def release_node(node: Any) -> None:
    """Backward is done with ``node``: what its rules read is writeable again."""
    saved = node._saved
    node._saved = None
    if saved is SELF_ONLY:
        node._held -= 1
    elif saved is not None:
        if saved.self_too:
            node._held -= 1
        items = saved.items
        saved.items = None
        if items is not None:
            _let_go(items)


def _let_go(items: tuple) -> None:
    for t in items:
        if type(t) is np.ndarray:
            release((t,))
        else:
            t._held -= 1
            if not t._held and t._op is None:
                _unflip(t._data)


def _unflip(d: np.ndarray) -> None:
    if _flipped.pop(id(d), None) is d:
        d.setflags(write=True)
        if _waiting:
            with _mutex:
                _free_views(id(d))


def forsake(d: np.ndarray) -> None:
    """A held leaf's array is being replaced (``t.data = new``): the graph keeps the old one, read-only for good."""
    _flipped.pop(id(d), None)


def saver(t: Any) -> str | None:
    """The op of a live node that holds ``t``'s memory (through ``t``, a tensor it views, or a locked array)."""
    while True:
        if t._held:
            return getattr(t, "_saver", "?")
        d = t._data
        if not d.flags.writeable:
            return holder(d)
        p = _viewed(t, d.base)
        if p is None:
            return holder(d.base) if type(d.base) is np.ndarray else None
        t = p


# -- locking arrays that are not a parent's -----------------------------------------------------------
def lock(arrays: Any, op: str) -> list:
    """Make ``arrays`` read-only on behalf of one node of ``op``; return what that node must release."""
    held: list = []
    with _mutex:
        for a in arrays:
            if type(a) is not np.ndarray:
                continue  # numbers, tuples, None: immutable or not arrays
            base = a.base
            if type(base) is np.ndarray:
                _hold(base, op, held)  # the owner first: a view cannot be made writeable while its owner is not
            _hold(a, op, held)
    return held


def _hold(a: np.ndarray, op: str, held: list) -> None:
    entry = _locks.get(id(a))
    if entry is not None:
        entry[0] += 1
    elif a.flags.writeable:
        a.setflags(write=False)
        _locks[id(a)] = [1, op]
    else:
        return  # read-only already, by its owner's choice (or a broadcast view)
    held.append(a)


def release(held: Any) -> None:
    """Let go of what ``lock`` returned; an array nobody holds any more becomes writeable again."""
    with _mutex:
        for a in held:
            key = id(a)
            entry = _locks.get(key)
            if entry is None:
                continue
            entry[0] -= 1
            if entry[0]:
                continue
            del _locks[key]
            try:
                a.flags.writeable = True
            except ValueError:  # its owner is still held: it becomes writeable with its owner
                if type(a.base) is np.ndarray:
                    _waiting.setdefault(id(a.base), []).append(a)
            _free_views(key)


def _free_views(key: int) -> None:
    for view in _waiting.pop(key, ()):
        if id(view) not in _locks:
            try:
                view.flags.writeable = True
            except ValueError:
                pass


def holder(a: np.ndarray) -> str | None:
    """The op that locked ``a`` (or the array owning its memory) for backward, or None."""
    entry = _locks.get(id(a))
    if entry is None and type(a.base) is np.ndarray:
        entry = _locks.get(id(a.base))
    return None if entry is None else entry[1]


def node_saves(t: Any, op: str, ans: Any, args: tuple, parents: tuple, mask: int) -> Any:
    """Hold what the rules of node ``t`` will read; return what ``t`` keeps for letting go (its ``_saved``)."""
    plan = _plans.get((op, len(args), mask))
    reads_ans, positions = plan if plan is not None else saved_positions(op, len(args), mask)
    if reads_ans:
        t._held = 1
    saved: list = []
    constants = None
    for i in positions:
        p = parents[i] if i < len(parents) else None
        if p is not None:
            hold(p, op, saved)
        elif type(args[i]) is np.ndarray:
            if constants is None:
                constants = []
            constants.append(args[i])
    if constants is not None:
        saved += lock(constants, op)
    if saved:
        return make_hold(tuple(saved), reads_ans)
    return SELF_ONLY if reads_ans else None


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
