"""The traced graph written as ONNX nodes: each node through its primitive's lowering (``Primitive.onnx``).

``Graph`` holds plain tuples, (op_type, inputs, outputs, attributes), initializers and inputs; ``proto`` turns
them into an ONNX model. A value the graph reaches is, in this order of precedence:

- a node's parent (a tensor that requires grad): the value its own lowering made;
- an example input (a source), by its input name;
- a comparison made while tracing (``x > 0``, a mask): Greater... of the values compared;
- a primitive's result that was not recorded (a detached value, integer ids): lowered like a node;
- the array of a tensor read while tracing: a parameter (named by its state_dict key) or another leaf becomes an
  initializer, a recorded tensor (used detached) is lowered;
- any other array (made by NumPy inside the forward pass, from shapes and constants): an initializer.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..compile.trace import Recorder
from ..registry import PRIMITIVES
from ..tensor import Tensor

COMPARISONS = {
    np.less: "Less", np.less_equal: "LessOrEqual", np.greater: "Greater", np.greater_equal: "GreaterOrEqual",
    np.equal: "Equal",
}  # fmt: skip


class ExportError(ValueError):
    """``mg.onnx.export`` cannot write the traced function as ONNX (the message names the operation)."""


class Graph:
    """ONNX nodes, initializers and inputs for one traced call, built from the outputs' graph."""

    def __init__(self, recorder: Recorder, names: dict[int, str]) -> None:
        self.recorder, self.names = recorder, names  # names: id(parameter tensor or buffer array) -> state_dict key
        self.nodes: list[tuple] = []
        self.initializers: dict[str, np.ndarray] = {}
        self.inputs: list[tuple[str, np.ndarray]] = []
        self.values: dict[int, str] = {}  # id(tensor) -> its value's name
        self.arrays: dict[int, str] = {}  # id(array) -> its value's name
        self.dynamic: set[str] = set()  # the values that depend on an input
        self.users: dict[int, list] = {}  # id(tensor) -> the nodes whose parent it is
        self.outputs: set[int] = set()  # id(tensor) of each output
        self.keep: list[Any] = []  # every array given a name, so that its id stays unique
        self.count = 0

    def fresh(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    # -- values ----------------------------------------------------------------------------------------------
    def add_input(self, t: Tensor, name: str) -> None:
        self.values[id(t)] = self.arrays[id(t._data)] = name
        self.keep.append(t)
        self.inputs.append((name, t._data))
        self.dynamic.add(name)

    def constant(self, array: np.ndarray, name: str | None = None) -> str:
        name = name or self.fresh("const")
        self.initializers[name] = np.asarray(array)
        return name

    def node(self, op_type: str, inputs: list, outputs: int, attrs: dict) -> list[str]:
        names = [self.fresh(op_type.lower()) for _ in range(outputs)]
        self.nodes.append((op_type, list(inputs), names, attrs))
        if any(i in self.dynamic for i in inputs):
            self.dynamic.update(names)
        return names

    def of_tensor(self, t: Tensor) -> str:
        """The value of a tensor of the graph (lowering it first if it has not been)."""
        name = self.values.get(id(t))
        if name is None:
            name = self.lower(t._op, t._args, t._data, t._parents, t) if t._op else self.leaf(t)
            self.values[id(t)] = self.arrays[id(t._data)] = name
            self.keep.append(t)
        return name

    def leaf(self, t: Tensor) -> str:
        return self.constant(t._data, self.names.get(id(t)) or self.names.get(id(t._data)))

    def of_array(self, a: Any, dtype: Any = None) -> str:
        """The value of an argument that is no parent: see the module docstring for where it comes from."""
        if not isinstance(a, np.ndarray):
            return self.constant(np.asarray(a, dtype=dtype))
        name = self.arrays.get(id(a))
        if name is None:
            name = self.arrays[id(a)] = self._find(a)
            self.keep.append(a)
        if dtype is not None and a.dtype != np.dtype(dtype):
            return self.node("Cast", [name], 1, {"to": np.dtype(dtype)})[0]
        return name

    def _find(self, a: np.ndarray) -> str:
        rec = self.recorder
        same_as_base = a.base is not None and a.base.shape == a.shape and a.base.dtype == a.dtype
        keys = (id(a), id(a.base)) if same_as_base else (id(a),)
        for key in keys:
            if key in self.arrays:
                return self.arrays[key]
            if key in rec.randoms:
                raise ExportError(
                    "onnx.export: dropout in training mode draws a random mask, which the graph would hold fixed; "
                    "export with training=False (a Module is exported in eval mode)"
                )
            if key in rec.recipes:
                function, args = rec.recipes[key]
                if function not in COMPARISONS and function is not np.not_equal:
                    return self._recipe(a, function, args)
                dtype = np.result_type(*args)
                inputs = [self.of_array(v, dtype) for v in args]
                if function is np.not_equal:
                    return self.node("Not", self.node("Equal", inputs, 1, {}), 1, {})[0]
                return self.node(COMPARISONS[function], inputs, 1, {})[0]
            if key in rec.constants:
                op, args, data = rec.constants[key]
                return self.lower(op, args, data, None, None)
        if id(a) in self.names:
            return self.constant(a, self.names[id(a)])
        owner = rec.owners.get(id(a))
        if owner is not None and owner[1] is a:
            return self.of_tensor(owner[0])
        return self.constant(a)

    def _recipe(self, a: np.ndarray, function: Any, args: tuple) -> str:
        """An array that the forward pass made from other arrays outside the graph (a mask from the key padding,
        running statistics): a constant if those do not depend on the inputs."""
        arrays, stack = [], list(args)
        while stack:
            v = stack.pop()
            if isinstance(v, (tuple, list)):
                stack.extend(v)
            elif isinstance(v, dict):
                stack.extend(v.values())
            elif isinstance(v, np.ndarray):
                arrays.append(v)
        if any(self.of_array(v) in self.dynamic for v in arrays):
            raise ExportError(
                f"onnx.export: an array made by {getattr(function, '__name__', function)} from the inputs while "
                "tracing (dropout in training mode, cross_entropy's targets, a mask) is not exportable; export the "
                "model in eval mode, compute losses outside it, give masks as constants"
            )
        return self.constant(a)

    # -- nodes -----------------------------------------------------------------------------------------------
    def lower(self, op: str, args: tuple, ans: np.ndarray, parents: tuple | None, t: Tensor | None) -> str:
        primitive = PRIMITIVES.get(op)
        how = getattr(primitive, "onnx", None)
        if how is None:
            raise ExportError(f"onnx.export: the primitive '{op}' has no ONNX lowering (Primitive.onnx is None)")
        g = Lowering(self, op, args, parents or (), t)
        if isinstance(how, str):  # an elementwise primitive that is one ONNX operator
            return g.op(how, *(g.input(i, ans.dtype) for i in range(len(args))))
        return how(g, args, ans)


class Lowering:
    """What a lowering (``minigrad.onnx_ops``) writes one node with: see that module's docstring."""

    def __init__(self, graph: Graph, op: str, args: tuple, parents: tuple, t: Tensor | None) -> None:
        self.graph, self.name, self.args, self.parents, self.tensor = graph, op, args, parents, t

    def fail(self, message: str) -> None:
        raise ExportError(f"onnx.export: {self.name}: {message}")

    def input(self, i: int, dtype: Any = None) -> str:
        parent = self.parents[i] if i < len(self.parents) else None
        if parent is None:
            return self.graph.of_array(self.args[i], dtype)
        name = self.graph.of_tensor(parent)
        if dtype is not None and parent._data.dtype != np.dtype(dtype):
            return self.graph.node("Cast", [name], 1, {"to": np.dtype(dtype)})[0]
        return name

    def value(self, array: Any, dtype: Any = None) -> str:
        return self.graph.of_array(array, dtype)

    def static(self, array: np.ndarray) -> np.ndarray:
        """``array``, which must not depend on the inputs (its values are written into the graph)."""
        if self.graph.of_array(array) in self.graph.dynamic:
            self.fail("an index that depends on the inputs is not exportable here")
        return array

    def static_or_none(self, i: int) -> np.ndarray | None:
        """Argument i if it does not depend on the inputs, else None."""
        if i < len(self.parents) and self.parents[i] is not None:
            return None
        return None if self.graph.of_array(self.args[i]) in self.graph.dynamic else self.args[i]

    def users(self) -> list[tuple[str, tuple]]:
        """(op, args) of each traced node that takes this node's value as a parent; ("output", ()) if the value is
        an output of the graph."""
        if self.tensor is None:
            return []
        users = [(u._op, u._args) for u in self.graph.users.get(id(self.tensor), ())]
        return users + [("output", ())] * (id(self.tensor) in self.graph.outputs)

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs: Any) -> Any:
        names = self.graph.node(op_type, list(inputs), outputs, attrs)
        return names[0] if outputs == 1 else names

    def constant(self, array: np.ndarray) -> str:
        return self.graph.constant(array)

    def ints(self, values: Any) -> str:
        return self.graph.constant(np.asarray(list(values), dtype=np.int64))
