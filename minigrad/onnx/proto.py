"""The ONNX model from a ``Graph``'s plain tuples: the one place that imports ``onnx`` (when exporting only)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .graph import Graph

OPSET = 18  # LayerNormalization needs 17; from 18 every Reduce operator takes its axes as an input
IR_VERSION = 8  # the oldest that opset 18 allows: any ONNX Runtime of the last years reads it


def require_onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError(
            "mg.onnx.export needs the 'onnx' package: pip install 'minigrad[onnx]' (or pip install onnx onnxruntime)"
        ) from None
    return onnx


def _attribute(value: Any) -> Any:
    if isinstance(value, np.dtype):
        from onnx import helper

        return helper.np_dtype_to_tensor_dtype(value)
    return value


def _shape(array: np.ndarray, axes: dict | None) -> list:
    return [axes.get(i, n) if axes else n for i, n in enumerate(array.shape)]


def model(graph: Graph, outputs: list[tuple[str, np.ndarray]], dynamic_axes: dict, opset: int = OPSET) -> Any:
    """The ``onnx.ModelProto`` of ``graph`` with these (name, traced value) outputs, checked by ``onnx.checker``."""
    onnx = require_onnx()
    from onnx import helper, numpy_helper

    dtype = helper.np_dtype_to_tensor_dtype
    nodes = [
        helper.make_node(op, inputs, names, name=names[0], **{k: _attribute(v) for k, v in attrs.items()})
        for op, inputs, names, attrs in graph.nodes
    ]
    initializers = [numpy_helper.from_array(np.array(a, order="C"), name) for name, a in graph.initializers.items()]
    inputs = [
        helper.make_tensor_value_info(name, dtype(a.dtype), _shape(a, _named(dynamic_axes.get(name))))
        for name, a in graph.inputs
    ]
    results = []
    for name, a in outputs:
        axes = _named(dynamic_axes.get(name))
        # with a dynamic input and no axes named for this output, every size may change: the rank only
        shape = _shape(a, axes) if axes or not dynamic_axes else [None] * a.ndim
        results.append(helper.make_tensor_value_info(name, dtype(a.dtype), shape))
    body = helper.make_graph(nodes, "minigrad", inputs, results, initializers)
    proto = helper.make_model(
        body, opset_imports=[helper.make_opsetid("", opset)], producer_name="minigrad", ir_version=IR_VERSION
    )
    onnx.checker.check_model(proto)
    return proto


def _named(axes: Any) -> dict | None:
    """``{0: "batch"}`` as given, or a list of axes ``[0]`` named after their position."""
    if axes is None or isinstance(axes, dict):
        return axes
    return {int(a): f"dim_{a}" for a in axes}
