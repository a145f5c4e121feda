"""minigrad: automatic differentiation on NumPy, one vector-Jacobian rule per primitive.

>>> import minigrad as mg
>>> W = mg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> x = mg.tensor([1.0, -1.0])
>>> s = mg.tanh(W @ x).sum()
>>> s.backward()
>>> W.grad.shape
(2, 2)
"""

from numpy import float32, float64

from . import methods  # noqa: F401  (gives the Tensor its methods and operators)
from .anomaly import AnomalyError, detect_anomaly, is_anomaly_enabled
from .composites import (
    array_split,
    chunk,
    diagonal,
    flip,
    gather,
    pad,
    repeat,
    roll,
    sort,
    split,
    std,
    take_along_axis,
    tile,
    trace,
    unsqueeze,
    var,
)
from .creation import arange, full, ones, ones_like, rand, randn, tensor, zeros, zeros_like
from .dtypes import get_default_dtype, set_default_dtype
from .elementwise import (
    abs,
    absolute,
    add,
    arccos,
    arcsin,
    arctan,
    cos,
    cosh,
    divide,
    erf,
    exp,
    exp2,
    expm1,
    hypot,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    maximum,
    minimum,
    multiply,
    negative,
    power,
    relu,
    sigmoid,
    sign,
    sin,
    sinh,
    sqrt,
    square,
    subtract,
    tan,
    tanh,
)
from .function import Function, FunctionCtx
from .functional import grad, hessian, jacobian, jvp, value_and_grad, vjp
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .guard import InplaceError
from .linalg import dot, einsum, matmul, outer
from .ops import clip, cumsum, log_softmax, logsumexp, max, mean, min, norm, softmax, sum
from .products import cumprod, prod
from .shape_ops import (
    astype,
    broadcast_to,
    concatenate,
    expand_dims,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
    where,
)
from .tensor import Tensor, as_tensor
from .vmap import VmapError, vmap

__version__ = "0.1.0"

# Networks last: they build on the operations above.
from . import (  # noqa: E402
    benchmark,  # noqa: E402  (mg.benchmark: time your own steps with the harness's method)
    data,
    nn,
    onnx,  # noqa: E402  (mg.onnx.export; imports the onnx package only when exporting)
    optim,
)
from .checkpoint import checkpoint  # noqa: E402  (gradient checkpointing: recompute f in backward)
from .compile import CompileError, compile  # noqa: E402  (mg.compile: the function; the package is minigrad.compile)
from .graph_viz import render_graph, to_dot  # noqa: E402
from .serialization import load, save  # noqa: E402

__all__ = [
    "chunk",
    "gather",
    "compile",
    "checkpoint",
    "get_default_dtype",
    "set_default_dtype",
    "Tensor",
    "tensor",
    "zeros",
    "ones",
    "full",
    "zeros_like",
    "ones_like",
    "arange",
    "randn",
    "rand",
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "detect_anomaly",
    "is_anomaly_enabled",
    "AnomalyError",
    "CompileError",
    "InplaceError",
    "add",
    "subtract",
    "multiply",
    "divide",
    "power",
    "negative",
    "abs",
    "absolute",
    "sign",
    "maximum",
    "minimum",
    "clip",
    "where",
    "exp",
    "log",
    "log1p",
    "expm1",
    "sqrt",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "softmax",
    "log_softmax",
    "sum",
    "mean",
    "max",
    "min",
    "logsumexp",
    "square",
    "exp2",
    "log2",
    "log10",
    "tan",
    "sinh",
    "cosh",
    "arctan",
    "arcsin",
    "arccos",
    "logaddexp",
    "hypot",
    "cumsum",
    "cumprod",
    "prod",
    "norm",
    "var",
    "std",
    "flip",
    "roll",
    "tile",
    "repeat",
    "pad",
    "split",
    "array_split",
    "diagonal",
    "trace",
    "take_along_axis",
    "sort",
    "unsqueeze",
    "matmul",
    "dot",
    "outer",
    "einsum",
    "reshape",
    "transpose",
    "swapaxes",
    "expand_dims",
    "squeeze",
    "broadcast_to",
    "astype",
    "concatenate",
    "stack",
    "as_tensor",
    "float32",
    "float64",
    "grad",
    "value_and_grad",
    "vjp",
    "jvp",
    "jacobian",
    "hessian",
    "Function",
    "FunctionCtx",
    "nn",
    "optim",
    "save",
    "load",
    "to_dot",
    "render_graph",
    "data",
]

from .composites_nn import softplus, tril, triu  # noqa: E402

__all__ += ["erf", "softplus", "tril", "triu"]
