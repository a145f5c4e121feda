"""The primitive registry: each primitive minigrad differentiates, its rules, and the facts about it.

A primitive is an operation with vector-Jacobian rules of its own: for ``ans = op(*args)`` and the
upstream gradient ``g`` (shaped like ``ans``), rule ``i`` returns Jᵢᵀg, where Jᵢ = ∂ans/∂argsᵢ, and
``None`` marks an argument that never carries a gradient. Rules use NumPy functions, operators and array
methods only, so they run on arrays in an ordinary backward pass and on Tensors (recorded, through NumPy
dispatch) for higher derivatives. A rule may return a gradient larger than its input when the input was
broadcast: the engine sums the broadcast axes away in one place.

Everything else reads what it needs from ``PRIMITIVES``: the engine and forward mode the rules, the
in-place guard what they read (``plan``), NumPy dispatch ``numpy``, ``mg.compile`` ``compute`` and the
rules written as expressions, the Tensor its operators (``method``, ``symbol``). A primitive is defined
with ``define``, through ``minigrad.elementwise``'s one-line ``unary``/``binary`` for elementwise ones.
"""

from __future__ import annotations

import dis
import functools
from dataclasses import dataclass, fields
from typing import Any

from . import expressions

UNARY, BINARY = "unary", "binary"  # the elementwise kinds: see ``Primitive.kind``


@dataclass(eq=False, slots=True)
class Primitive:
    """What the package knows of one primitive.

    ``kind`` is ``"unary"`` for an elementwise function of one tensor (g, ans and the argument then share
    one shape and dtype, so the engine neither unbroadcasts nor casts its gradient), ``"binary"`` for an
    elementwise function of two broadcast operands, ``"other"`` for the rest.
    """

    name: str
    vjps: Any  # a tuple of rules, one per argument (or an ``EachInput`` for any number of them)
    kind: str = "other"
    forward: Any = None  # the public function (mg.exp)
    compute: Any = None  # the NumPy function computing an elementwise primitive's value
    numpy: tuple = ()  # NumPy functions that run ``forward`` on Tensors (np.exp(t) is mg.exp(t))
    method: str | None = None  # a binary primitive's Tensor operator: "add" for __add__ and __radd__
    symbol: str | None = None  # ... and its Python symbol, "+", which mg.compile writes too
    # a binary primitive's rules for mg.compile where the other operand is a finite constant: expressions equal
    # to ``vjps`` there, in fewer operations
    against_constant: tuple = ()
    commutative: bool = False  # whether the operands may be swapped (a graph picture then numbers no edges)
    # mg.vmap's rule (size, values, batched) -> the whole-batch result: see ``minigrad.vmap_dispatch`` (None: derived
    # for an elementwise primitive, a loop over the batch for the others)
    batch: Any = None
    onnx: Any = None  # how mg.onnx.export writes it: an ONNX operator's name ("Exp") or a lowering (minigrad.onnx_ops)


PRIMITIVES: dict[str, Primitive] = {}
# ``minigrad.vmap_dispatch.dispatch``, once imported: a primitive's public function hands it a call with a batched
# argument (a ``minigrad.batched.Batched``)
batching: list = []
generation = [0]  # counts the definitions: tables derived from PRIMITIVES are made again when it moves on


def define(name: str, vjps: Any, params: tuple[str, ...] = (), kind: str = "other", **facts: Any) -> Primitive:
    """Enter primitive ``name`` with its rules; a rule given as a string is an expression in g, ans and
    ``params`` (see ``minigrad.expressions``). A name already defined is replaced."""
    if not isinstance(vjps, EachInput):
        vjps = tuple(
            expressions.function(name, rule, params, kind == UNARY) if isinstance(rule, str) else rule for rule in vjps
        )
    primitive = Primitive(name, vjps, kind, **facts)
    PRIMITIVES[name] = primitive
    _changed(name)
    return primitive


def replace_rules(name: str, vjps: tuple) -> Primitive | None:
    """Give ``name`` new rules, keeping every other fact of its entry (or a new entry); return the old entry."""
    previous = PRIMITIVES.get(name)
    facts = {} if previous is None else {f.name: getattr(previous, f.name) for f in fields(Primitive)}
    facts.pop("name", None), facts.pop("vjps", None)
    define(name, vjps, **facts)
    return previous


def restore(name: str, previous: Primitive | None) -> None:
    """Put back the entry ``previous`` of ``name`` (None: remove ``name``), as ``temporary_primitive`` does."""
    if previous is None:
        PRIMITIVES.pop(name, None)
    else:
        PRIMITIVES[name] = previous
    _changed(name)


def _changed(name: str) -> None:
    """The entry of ``name`` changed: what its old rules read no longer holds, and derived tables are stale."""
    generation[0] += 1
    for key in [k for k in _plans if k[0] == name]:
        del _plans[key]


def primitive(name: str, vjps: Any, params: tuple[str, ...] = (), **facts: Any) -> Any:
    """Decorator: define primitive ``name`` whose public function (which records it) is the decorated one."""

    def register(forward: Any) -> Any:
        @functools.wraps(forward)
        def public(*args: Any, **kwargs: Any) -> Any:
            if batching and batched(args, kwargs):  # inside mg.vmap: the primitive's batching rule
                return batching[0](name, args, kwargs)
            return forward(*args, **kwargs)

        define(name, vjps, params, forward=public, **facts)
        return public

    return register


def batched(args: tuple, kwargs: dict) -> bool:
    """Whether an argument (or a member of a list or tuple argument) is a ``Batched`` (it has a ``_level``)."""
    for a in args:
        if hasattr(a, "_level") or type(a) in (list, tuple) and any(hasattr(m, "_level") for m in a):
            return True
    return any(hasattr(a, "_level") for a in kwargs.values()) if kwargs else False


def with_rules() -> frozenset[str]:
    """The names of the primitives that have a rule for some argument (``sign`` has none)."""
    return frozenset(name for name, p in PRIMITIVES.items() if isinstance(p.vjps, EachInput) or any(p.vjps))


def elementwise_names(*kinds: str) -> frozenset[str]:
    """The names of the elementwise primitives of these kinds (both by default)."""
    kinds = kinds or (UNARY, BINARY)
    return frozenset(name for name, p in PRIMITIVES.items() if p.kind in kinds)


class EachInput:
    """The rules of a primitive with any number of inputs: ``rule(i, g, ans, *args)`` for input i.

    ``reads(position, n_args)`` says which of ``ans`` and the args rule ``position`` reads (the bytecode of
    a rule taking ``*args`` cannot tell): (reads ans, the arg positions it reads).
    """

    def __init__(self, rule: Any, offset: int = 0, reads: Any = None) -> None:
        self.rule, self.offset, self.reads = rule, offset, reads

    def __getitem__(self, position: int) -> Any:
        rule = functools.partial(self.rule, position - self.offset)
        if self.reads is not None:
            rule.reads = functools.partial(self.reads, position)  # type: ignore[attr-defined]
        return rule


# -- what the rules read (the in-place guard holds it) -------------------------------------------------
_plans: dict[tuple, tuple[bool, tuple[int, ...]]] = {}
# the two commonest plans, one object each, to be told apart with ``is``: rules that read the node's own value
# only (tanh, exp), and rules that read the first argument only (sin, log)
SELF_ONLY_PLAN, FIRST_ONLY_PLAN = (True, ()), (False, (0,))


def plan(op: str, n_args: int, mask: int) -> tuple[bool, tuple[int, ...]]:
    """What the rules of ``op`` for the parents in ``mask`` (bit i: arg i requires grad) read: (whether they
    read ``ans``, the positions of the args they read). Worked out once per op, arity and mask."""
    key = (op, n_args, mask)
    found = _plans.get(key)
    if found is None:
        primitive = PRIMITIVES.get(op)
        ans, args = False, set()
        for i in range(n_args):
            rule = _rule(primitive, i) if mask >> i & 1 else None
            if rule is not None:
                reads_ans, reads_args = reads(rule, n_args)
                ans |= reads_ans
                args.update(reads_args)
        found = (ans, tuple(sorted(args)))
        _plans[key] = found = next((p for p in (SELF_ONLY_PLAN, FIRST_ONLY_PLAN) if p == found), found)
    return found


def _rule(primitive: Primitive | None, i: int) -> Any:
    try:
        return primitive.vjps[i]  # type: ignore[union-attr]
    except (AttributeError, IndexError, TypeError):
        return None


def reads(rule: Any, n_args: int) -> tuple[bool, tuple[int, ...]]:
    """(whether ``rule(g, ans, *args)`` reads ans, the positions of the args it reads).

    A rule written as an expression reads the names in it; a variadic rule declares it (``EachInput``);
    for a Python function, a parameter its bytecode loads is read unless only its ``.shape``, ``.ndim``,
    ``.dtype`` or ``.size`` is asked for. Anything else is taken to read everything.
    """
    everything = (True, tuple(range(n_args)))
    declared = getattr(rule, "reads", None)
    if declared is not None:
        return declared(n_args)
    code = getattr(rule, "__code__", None)
    if code is None or code.co_flags & 0x04 or code.co_cellvars:  # not plain Python, *args, or closures over params
        return everything
    names = code.co_varnames[: code.co_argcount]
    if len(names) != n_args + 2:
        return everything
    expression = getattr(rule, "expression", None)
    read = expressions.names_read(expression) if expression is not None else _loaded(code)
    return names[1] in read, tuple(i for i, name in enumerate(names[2:]) if name in read)


def _loaded(code: Any) -> set[str]:
    """The names a function's bytecode loads as values (not only for their metadata)."""
    read: set[str] = set()
    instructions = list(dis.get_instructions(code))
    for i, ins in enumerate(instructions):
        if not ins.opname.startswith("LOAD_FAST"):
            continue
        loaded = ins.argval if isinstance(ins.argval, tuple) else (ins.argval,)  # Python 3.13 fuses two loads
        after = instructions[i + 1] if i + 1 < len(instructions) else None
        metadata = after is not None and after.opname == "LOAD_ATTR" and after.argval in expressions.METADATA
        read.update(loaded[:-1])  # the attribute that follows applies to the last name loaded only
        if not metadata:
            read.add(loaded[-1])
    return read
