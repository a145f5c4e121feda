"""``mg.onnx.export``: a model or function, traced once, written as a standard ONNX graph.

The forward pass runs once on fresh tensors holding the example inputs (those of floating dtype require grad,
so that every primitive applied to them is recorded; the parameters require grad already), under
``mg.compile``'s tracing, which notes what the graph does not hold (comparisons, results of primitives on
constants, reads of arrays). The graph is then walked from the outputs and each node written through its
primitive's lowering, declared beside the primitive in the registry (``Primitive.onnx``, see
``minigrad.onnx_ops``). Parameters become initializers named by their ``state_dict`` keys.

Refused, with an error naming the place: ``bool(t)``, ``float(t)``, ``int(t)``, ``t.item()`` and an ``if`` on a
comparison of traced tensors (Python control flow on values, which a graph cannot hold), dropout in training
mode (a Module is exported in eval mode), a primitive without an ONNX form (a custom ``mg.Function``), and with
dynamic axes a constant that depends on their size (see ``minigrad.onnx.dynamic``).
Not detected: values read with ``t.data`` / ``t.numpy()`` and fed back into the model as new arrays are written
as constants of the traced call.

Needs the ``onnx`` package (``pip install 'minigrad[onnx]'``), imported only when exporting.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..compile.trace import Recorder, tracing
from ..grad_mode import enable_grad
from ..recording import CompileError
from ..tensor import Tensor
from .dynamic import enlarged, generalize, varying_axes
from .graph import ExportError, Graph
from .proto import OPSET, model, require_onnx

__all__ = ["export", "ExportError", "OPSET"]


def _refuse(what: str) -> Any:
    def method(self: Tensor, *args: Any) -> Any:
        raise ExportError(
            f"onnx.export: {what} reads a traced tensor's value into Python; an ONNX graph cannot follow Python "
            "control flow on values. Use mg.where / mg.maximum for value-dependent choices"
        )

    return method


_REFUSALS = {
    "__bool__": _refuse("bool(tensor) (an if or while on a tensor)"),
    "__float__": _refuse("float(tensor)"),
    "__int__": _refuse("int(tensor)"),
    "item": _refuse("tensor.item()"),
}


def _source(x: Any) -> Tensor:
    a = np.array(x._data if isinstance(x, Tensor) else x)
    t = Tensor(a)
    if a.dtype.kind == "f":
        t.requires_grad = True
    return t


def _names(fn: Any) -> dict[int, str]:
    """id(parameter tensor) and id(buffer array) -> its state_dict key, for a Module."""
    named = getattr(fn, "named_parameters", None)
    if named is None:
        return {}
    names = {id(p): name for name, p in named()}
    names.update({id(b): name for name, b in fn.named_buffers()})
    return names


def _trace(fn: Any, sources: list[Tensor], recorder: Recorder) -> Any:
    modes = [(m, m.training) for m in fn.modules()] if hasattr(fn, "modules") else []
    for m, _ in modes:
        object.__setattr__(m, "training", False)  # exported in eval mode, as torch.onnx.export does
    try:
        with enable_grad(), tracing(recorder):
            for name, method in _REFUSALS.items():  # (tracing puts the originals back on leaving)
                setattr(Tensor, name, method)
            return fn(*sources)
    except CompileError as e:  # a comparison's truth value, refused by tracing
        raise ExportError(str(e).replace("compile:", "onnx.export:", 1)) from None
    finally:
        for m, training in modes:
            object.__setattr__(m, "training", training)


def _walk(outputs: list[Tensor]) -> list[Tensor]:
    """The recorded nodes that the outputs depend on, in creation order (parents first)."""
    seen, stack = {}, list(outputs)
    while stack:
        t = stack.pop()
        if id(t) in seen or t._op is None:
            continue
        seen[id(t)] = t
        if t._parents is None:
            raise ExportError(f"onnx.export: the graph through '{t._op}' was freed by a backward pass")
        stack.extend(p for p in t._parents if p is not None)
    return sorted(seen.values(), key=lambda t: t._id)


def _flat(out: Any) -> list:
    """The outputs in order, nested tuples flattened: an LSTM's (output, (h, c)) gives three."""
    if isinstance(out, (tuple, list)):
        return [t for part in out for t in _flat(part)]
    return [out]


def export(
    fn: Any,
    example_inputs: Any,
    path: Any = None,
    input_names: list[str] | None = None,
    output_names: list[str] | None = None,
    dynamic_axes: dict | None = None,
    opset: int = OPSET,
) -> Any:
    """Trace ``fn(*example_inputs)`` (a Module or a function of tensors) once and write it as ONNX to ``path``.

    ``example_inputs``: an array or tensor, or a tuple of them (integer arrays stay integer: token ids).
    ``input_names`` / ``output_names``: the graph's names (``input_0``..., ``output_0``... by default).
    ``dynamic_axes``: ``{"x": {0: "batch"}}`` makes axis 0 of input (or output) ``x`` of any size.
    Returns the ``onnx.ModelProto`` (checked by ``onnx.checker``); ``path=None`` writes no file.

    >>> import minigrad as mg, numpy as np                                     # doctest: +SKIP
    >>> model = mg.nn.Sequential(mg.nn.Linear(3, 2), mg.nn.Tanh())             # doctest: +SKIP
    >>> mg.onnx.export(model, np.zeros((1, 3), np.float32), "model.onnx",      # doctest: +SKIP
    ...                input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    """
    onnx = require_onnx()
    inputs = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    input_names = list(input_names) if input_names is not None else [f"input_{i}" for i in range(len(inputs))]
    if len(input_names) != len(inputs):
        raise ValueError(f"onnx.export: {len(input_names)} input_names for {len(inputs)} example inputs")
    graph, outs = _build(fn, inputs, input_names)
    output_names = list(output_names) if output_names is not None else [f"output_{i}" for i in range(len(outs))]
    if len(output_names) != len(outs):
        raise ValueError(f"onnx.export: {len(output_names)} output_names for {len(outs)} outputs")
    axes = varying_axes(inputs, input_names, dynamic_axes or {})
    if axes:  # traced again with those axes longer: what changes is written in terms of the inputs' sizes
        other, _ = _build(fn, enlarged(inputs, input_names, axes), input_names)
        generalize(graph, other, axes)
    for t, name in zip(outs, output_names):
        graph.nodes.append(("Identity", [graph.of_tensor(t)], [name], {}))
    proto = model(graph, [(name, t._data) for t, name in zip(outs, output_names)], dynamic_axes or {}, opset)
    if path is not None:
        onnx.save(proto, str(path))
    return proto


def _build(fn: Any, inputs: tuple, input_names: list[str]) -> tuple[Graph, list[Tensor]]:
    """The ONNX nodes of one traced call at these inputs, and the traced outputs."""
    sources = [_source(x) for x in inputs]
    recorder = Recorder()
    outs = _flat(_trace(fn, sources, recorder))
    if not all(isinstance(o, Tensor) for o in outs):
        kinds = ", ".join(type(o).__name__ for o in outs)
        raise ExportError(f"onnx.export: the function must return a tensor or a tuple of tensors, got {kinds}")
    graph = Graph(recorder, _names(fn))
    for t, name in zip(sources, input_names):
        graph.add_input(t, name)
    graph.outputs = {id(t) for t in outs}
    nodes = _walk(outs)
    for t in nodes:
        for p in t._parents:
            if p is not None:
                graph.users.setdefault(id(p), []).append(t)
    for t in nodes:
        graph.of_tensor(t)
    for t in outs:
        graph.of_tensor(t)
    graph.keep.append(outs)
    return graph, outs
