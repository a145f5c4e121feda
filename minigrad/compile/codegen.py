"""From a traced graph to the source of one flat Python function of NumPy calls.

Every array of the step gets a local variable: inputs (``a0 = A[0]._data``), parameters (``p0 = P0._data``,
read at every call), constants (``K3``, folded at trace time), the forward nodes (``s12``) and the
gradients (``g0_12``). The forward is one NumPy call per primitive, in creation order (``forward_source``).
The backward is the engine's walk unrolled (``backward_source``): its order, the broadcast axes to sum and
the casts are decided once at trace time, not at every call; rules written as expressions are inline (``g0_9 * s4``,
see ``vjp_source``), the others are calls of the rule. Gradients are accumulated as the
engine does (copy on the first addition, in place after). ``lines.tidy`` then folds transposes, drops
forward values nobody reads and deletes each variable after its last use, so a large batch keeps no more
intermediates alive than eager execution does. Buffers made once (``B5``) hold only the stacked gradients
of batched siblings (``siblings.py``); the forward writes no ``out=`` buffers, because NumPy already reuses
freed memory of the same size for a new result, so they would save nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import hooks
from ..expressions import NAMESPACE
from ..nn.sparse import note_rows
from ..tensor import Tensor, constant, new_tensor
from . import backward_source, forward_source
from .lines import tidy
from .trace import CompileError, Recorder
from .vjp_source import SLOT


class Builder:
    """Writes the source of the replay of one traced call."""

    def __init__(self, recorder: Recorder, args: tuple, stand_ins: dict[int, Tensor]) -> None:
        self.recorder = recorder
        self.ns: dict[str, Any] = {
            **NAMESPACE,  # what the rules written as expressions call
            "np": np,
            "_note_rows": note_rows,
            "_constant": constant,
            "_dot": np.dot,
            "_concatenate": np.concatenate,
        }
        self.lines: list[str] = []
        self.names: dict[int, str] = {}
        self.keep: list[Any] = []
        self.n = 0
        self.shared: dict[tuple, str] = {}  # (type, value) -> name of a simple constant
        self.seen: dict[str, str] = {}  # forward expression -> the variable that holds it (common subexpressions)
        self.leaf_expr: dict[int, str] = {}  # id(leaf) -> the expression of the leaf object at replay
        self.wanted: set[int] = set()  # ids of the leaves whose .grad the replay writes
        self.unstack: dict[int, tuple[Tensor, int]] = {}  # id(member) -> (stacked node, index): siblings.py
        self.inputs = [a._data if isinstance(a, Tensor) else a for a in args if isinstance(a, (Tensor, np.ndarray))]
        for i, a in enumerate(args):
            if isinstance(a, Tensor):
                self.lines.append(f"a{i} = A[{i}]._data")
                self.names[id(a._data)] = f"a{i}"
                leaf = stand_ins.get(i, a)
                self.leaf_expr[id(leaf)] = f"A[{i}]"
                if a._rg and a._op is None and i not in stand_ins:
                    self.wanted.add(id(leaf))
            elif isinstance(a, np.ndarray):
                self.lines.append(f"a{i} = A[{i}]")
                self.names[id(a)] = f"a{i}"

    # -- names --------------------------------------------------------------------------------------
    def const(self, value: Any, prefix: str = "K") -> str:
        simple = (
            value is None
            or isinstance(value, (bool, int, float, str, np.dtype))
            or (isinstance(value, tuple) and all(isinstance(v, (int, np.integer)) for v in value))
        )
        if prefix == "K" and simple:  # one name per value, so that equal expressions read the same
            key = (type(value), repr(value))  # repr: 0.0 and -0.0 stay apart
            if key not in self.shared:
                self.shared[key] = self.const(value, "k")
            return self.shared[key]
        self.n += 1
        name = f"{prefix}{self.n}"
        self.ns[name] = value
        self.keep.append(value)
        return name

    def number(self, value: float, dtype: np.dtype) -> str:
        """A Python number as a 0-d array of ``dtype``: what NumPy converts it to anyway, without the cost."""
        key = (dtype.str, repr(value))
        if key not in self.shared:
            self.shared[key] = self.const(np.asarray(value, dtype=dtype), "n")
        return self.shared[key]

    def ref(self, value: Any) -> str:
        """The expression for an argument: a variable, a recomputed recipe or a folded constant."""
        if isinstance(value, (np.ndarray, np.generic)):
            name = self.names.get(id(value))
            if name is not None:
                return name
            recipe = self.recorder.recipes.get(id(value))
            if recipe is None and id(value) in self.recorder.constants:
                return self.unrecorded(value, *self.recorder.constants[id(value)][:2])
            owner, held = self.recorder.owners.get(id(value), (None, None))
            if recipe is None and held is value:
                if owner._id < self.recorder.first_id:  # a tensor from before the call: its array then
                    return self.current_data(owner)
                if owner._op is not None:  # a recorded result outside the graph (detached): computed again
                    self.forward(owner)
                    return self.names[id(value)]
            base = getattr(value, "base", None)
            if recipe is None and base is not None and _same_view(value, base):
                return self.ref(base)  # np.asarray of a traced mask: a view of all of it, element for element
            if recipe is None and base is not None:
                recipe = self.view_recipe(value)
            if recipe is None:
                return self.const(value)
            return self.emit_recipe(value, recipe)
        if isinstance(value, tuple) and any(isinstance(v, np.ndarray) for v in value):
            return "(" + "".join(self.ref(v) + ", " for v in value) + ")"
        return self.const(value)

    def current_data(self, t: Tensor) -> str:
        """A variable holding the array of the tensor ``t`` at each call (``p3 = P3._data``)."""
        name = self.names[id(t._data)] = f"p{t._id}"
        self.lines.append(f"{name} = {self.const(t, 'P')}._data")
        return name

    def unrecorded(self, value: np.ndarray, op: str, args: tuple) -> str:
        """A variable recomputing the result ``value`` of a primitive that was not recorded (or a folded constant
        if its arguments are constants)."""
        stand_in = new_tensor(Tensor)  # what forward_source reads of a node
        stand_in._op, stand_in._args, stand_in._data, stand_in._parents = op, args, value, (None,) * len(args)
        try:
            expr = forward_source.expression(self, stand_in)
        except CompileError:
            if any(SLOT.search(self.ref(a)) for a in args):
                raise CompileError(
                    f"compile: the result of '{op}' (shape {value.shape}) is not recorded and cannot be recomputed "
                    "at each replay; run the step eagerly"
                ) from None
            expr = ""
        if not SLOT.search(expr):  # computed from constants only: folded
            return self.const(value)
        if expr not in self.seen:
            self.n += 1
            self.seen[expr] = name = f"r{self.n}"
            self.lines.append(f"{name} = {expr}")
        self.names[id(value)] = self.seen[expr]
        return self.seen[expr]

    def view_recipe(self, value: np.ndarray) -> tuple | None:
        """``value`` as a view into a C-contiguous input (``windows[..., 0]``) or traced mask, else None."""
        start = value.__array_interface__["data"][0]
        base = value.base  # a view of a traced mask (mask[t] of a recurrent layer's lengths): of its replay
        if id(base) in self.recorder.recipes and base.flags.c_contiguous and value.dtype == base.dtype:
            return (view_of, (base, start - base.__array_interface__["data"][0], value.shape, value.strides))
        for array in self.inputs:
            if array.flags.c_contiguous and (array is value.base or array.base is value.base):
                offset = start - array.__array_interface__["data"][0]
                if 0 <= offset < array.nbytes and value.dtype == array.dtype:
                    return (view_of, (array, offset, value.shape, value.strides))
        return None

    def emit_recipe(self, value: Any, recipe: tuple) -> str:
        fn, fargs = recipe
        if id(value) in self.recorder.randoms:  # draw the random masks in the order eager execution drew them
            for earlier in self.recorder.randoms[: self.recorder.randoms.index(id(value))]:
                if earlier not in self.names:
                    self.emit_recipe(_by_id(self.recorder, earlier), self.recorder.recipes[earlier])
        fname = "_concatenate" if fn is np.concatenate else self.const(fn, "F")  # (siblings' stacked inputs)
        self.n += 1
        name = f"r{self.n}"
        self.lines.append(f"{name} = {fname}({', '.join(self.ref(a) for a in fargs)})")
        self.names[id(value)] = name
        return name

    # -- forward ------------------------------------------------------------------------------------
    def forward(self, node: Tensor) -> None:
        op, args, data = node._op, node._args, node._data
        name = f"s{node._id}"
        if op == "embedding":
            table, index, rows, inverse = args
            idx = self.ref(index)
            self.lines.append(f"u{node._id}, v{node._id} = np.unique({idx}, return_inverse=True)")
            self.names[id(rows)], self.names[id(inverse)] = f"u{node._id}", f"v{node._id}"
            weight = self.const(node._parents[0], "P")
            self.lines.append(f"_note_rows({weight}, u{node._id})")
        if op == "getitem":  # a mask the replay reads anew may select another number of elements: checked
            for variable, mask in self.varying_masks(args[1]):
                self.ns["_same_count"] = _same_count
                self.lines.append(f"_same_count({variable}, {int(np.count_nonzero(mask))})")
        expr = forward_source.expression(self, node)
        if expr in self.seen and op != "embedding":  # the same primitive of the same operands: computed once
            self.names[id(data)] = self.seen[expr]
            return
        self.seen[expr] = name
        self.lines.append(f"{name} = {expr}")
        self.names[id(data)] = name

    def varying_masks(self, index: Any) -> list[tuple[str, np.ndarray]]:
        """(variable, traced value) of each boolean array in ``index`` that the replay reads or computes anew."""
        parts = index if isinstance(index, tuple) else (index,)
        masks = [i for i in parts if isinstance(i, np.ndarray) and i.dtype == bool]
        return [(name, m) for m in masks if SLOT.search(name := self.ref(m))]

    # -- backward -----------------------------------------------------------------------------------
    def backward(self, r: int, root: Tensor, seed: Any, nodes: list[Tensor], reach: set[int]) -> None:
        """The engine's walk from ``root``, unrolled (``backward_source``); ``reach`` holds the ids of nodes
        leading to a wanted leaf."""
        hooked = [n for n in nodes if hooks.active[0] and hooks.has_hooks(n)]
        if hooked:  # the replay would not call them: refused rather than silently skipped
            raise CompileError(
                f"compile: a tensor of shape {hooked[0].shape} in the step has a gradient hook (register_hook or "
                "retain_grad), which a replay cannot call; remove the hook, or run this step without mg.compile"
            )
        backward_source.emit(self, r, root, seed, nodes, reach)

    # -- the function -------------------------------------------------------------------------------
    def source(self, outputs: str) -> str:
        body = self.lines + [f"return {outputs}"]
        return "def replay(A):\n" + "".join(f"    {line}\n" for line in tidy(body))


def _same_count(mask: np.ndarray, traced: int) -> None:
    """A boolean index selects as many elements as when traced, or the replay's shapes would be wrong."""
    found = int(np.count_nonzero(mask))
    if found != traced:
        raise CompileError(
            f"compile: getitem with a boolean mask selects {found} elements where the traced call selected {traced}: "
            "a replay has the traced shapes. Use mg.where(mask, x, 0) (and divide by mask.sum() for a mean), or run "
            "the step eagerly"
        )


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` and ``b`` see the same elements in the same places (``B[::-1]`` has B's shape, not its order)."""
    return (
        a.shape == b.shape and a.dtype == b.dtype and a.strides == b.strides
        and a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    )  # fmt: skip


def view_of(base: np.ndarray, offset: int, shape: tuple, strides: tuple) -> np.ndarray:
    """The view of ``shape`` and ``strides`` starting ``offset`` bytes into the C-contiguous ``base``."""
    return np.ndarray(shape, base.dtype, base, offset, strides)


def _by_id(recorder: Recorder, key: int) -> Any:
    return next(a for a in recorder.keep if id(a) == key)
