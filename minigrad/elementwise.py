"""The elementwise primitives: one line each, the forward's NumPy function and the rule as an expression.

For h = f(z) elementwise, ∂h/∂z = diag(f′(z)), so Jᵀg = g ∘ f′(z); each rule is that product written in
``g`` (the upstream gradient), ``ans`` (h, the output) and the parameters (z is ``x``; a, b for two
operands). Adding a primitive is one entry here, its export from ``minigrad/__init__.py`` and its test
cases (``tests/test_rules.py`` checks every rule against numerical differences; see docs/architecture.md,
"Adding a primitive"): the engine, forward mode, ``create_graph``, ``mg.compile``, NumPy dispatch
(``np.log1p(t)``), the Tensor operators and the in-place guard take what they need from the registry
entry this makes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import onnx_ops
from .expressions import NAMESPACE
from .recording import binary as _binary
from .recording import unary as _unary
from .registry import BINARY, UNARY, define
from .special import erf as _erf


def unary(name: str, compute: Any, rule: str | None, doc: str, numpy: Any = None, onnx: Any = None) -> Any:
    """Define the unary elementwise primitive ``name``: value ``compute(x)``, rule ``Jᵀg = rule`` (None: no
    gradient). Returns its public function; ``numpy`` is the NumPy function that dispatches to it, ``onnx`` its
    ONNX form (``Primitive.onnx``: an operator's name; by default the lowering of the same name in
    ``minigrad.onnx_ops``, for a function that ONNX has no operator for)."""
    forward = _unary(name, compute, differentiable=rule is not None)
    forward.__name__ = forward.__qualname__ = name
    forward.__module__, forward.__doc__ = __name__, doc
    numpy = numpy if numpy is not None else compute if isinstance(compute, np.ufunc) else None
    onnx = onnx if onnx is not None else getattr(onnx_ops, name, None)
    define(name, (rule,), ("x",), UNARY, forward=forward, compute=compute, numpy=(numpy,) if numpy else (), onnx=onnx)
    return forward


def binary(name: str, compute: Any, rules: tuple, doc: str, method: str | None = None, symbol: str | None = None,
           **facts: Any) -> Any:  # fmt: skip
    """Define the binary elementwise primitive ``name`` of operands a and b (broadcast together); see
    ``registry.Primitive`` for ``method``, ``symbol`` and the other ``facts`` (``onnx`` as for ``unary``)."""
    forward = _binary(name, compute)
    facts.setdefault("onnx", getattr(onnx_ops, name, None))
    forward.__name__ = forward.__qualname__ = name
    forward.__module__, forward.__doc__ = __name__, doc
    define(name, rules, ("a", "b"), BINARY, forward=forward, compute=compute, numpy=(compute,), method=method,
           symbol=symbol, **facts)  # fmt: skip
    return forward


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # e^-x overflows to inf below x = -709 (float64) or -88 (float32); then 1 / (1 + inf) = 0, which is
    # σ(x) rounded, so the overflow is expected and not worth NumPy's warning.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def _share(picked: Any, tie: Any, dtype: Any) -> np.ndarray:
    """1 where this input was picked, ½ where both tie, else 0: the subgradient of max/min."""
    return (picked + 0.5 * tie).astype(dtype)


# what rule expressions may call besides NumPy (mg.compile's replays of them too)
NAMESPACE.update(_share=_share, _heaviside=np.heaviside, _fmax=np.fmax)
# Against a finite constant c, max/min's subgradient (1 where x wins, ½ at a tie, 0 else, NaN included, as
# _share's comparisons give) is H(±(x − c)) with H(0) = ½, NaN sent to 0 by fmax: two operations, not four.
_WINS_A, _WINS_B = "g * _fmax(_heaviside(a - b, 0.5), 0.0)", "g * _fmax(_heaviside(b - a, 0.5), 0.0)"


def _power_vjp_a(g: Any, ans: Any, a: Any, b: Any) -> Any:
    # z = aᵇ: ∂z/∂a = diag(b aᵇ⁻¹). Where b = 0 this is 0, written b/a: a recorded backward then keeps
    # ∂²z/∂a∂b = 1/a there (a constant 0 would give 0), and a tiny a cannot overflow aᵇ⁻¹ into 0·∞.
    # Each branch of the where divides only where it is chosen: the other's gradient must stay finite.
    at_zero = b == 0
    return g * np.where(at_zero, b / np.where(at_zero & (a != 0), a, 1), b * a ** np.where(at_zero, 1, b - 1))


# -- arithmetic: z = a ∘ b with broadcasting (the engine sums the broadcast axes away) ---------------------
add = binary("add", np.add, ("g", "g"), "a + b, with NumPy broadcasting.", "add", "+", commutative=True, onnx="Add")
subtract = binary("subtract", np.subtract, ("g", "-g"), "a - b, with NumPy broadcasting.", "sub", "-", onnx="Sub")
multiply = binary(
    "multiply", np.multiply, ("g * b", "g * a"), "a * b elementwise, with broadcasting.", "mul", "*", commutative=True,
    onnx="Mul",
)  # fmt: skip
divide = binary(
    "divide", np.divide, ("g / b", "-g * ans / b"),  # ∂z/∂b = −a/b² = −z/b
    "a / b elementwise; division by zero follows IEEE (inf or nan, with NumPy's warning).", "truediv", "/",
    onnx="Div",
)  # fmt: skip
power = binary(
    "power", np.power, (_power_vjp_a, "g * ans * np.log(np.where(a == 0, 1, a))"),  # ∂z/∂b = aᵇ log a, 0 at a = 0
    "a ** b elementwise. d/db is taken as 0 where a == 0 (0 ** b is flat in b for b > 0).", "pow", "**",
    onnx="Pow",
)  # fmt: skip
maximum = binary(
    "maximum", np.maximum, ("g * _share(a > b, a == b, g.dtype)", "g * _share(b > a, a == b, g.dtype)"),
    "Elementwise maximum; at ties the gradient is split evenly between a and b.",
    against_constant=(_WINS_A, _WINS_B), commutative=True,
    onnx="Max",
)  # fmt: skip
minimum = binary(
    "minimum", np.minimum, ("g * _share(a < b, a == b, g.dtype)", "g * _share(b < a, a == b, g.dtype)"),
    "Elementwise minimum; at ties the gradient is split evenly between a and b.",
    against_constant=(_WINS_B, _WINS_A), commutative=True,
    onnx="Min",
)  # fmt: skip

# -- functions h = f(z): the rule is g ∘ f′(z) --------------------------------------------------------------
negative = unary("negative", np.negative, "-g", "-x, elementwise.", onnx="Neg")
absolute = unary(
    "absolute", np.absolute, "g * np.sign(x)",
    "|x|; its gradient at 0 is taken as 0 (the subgradient sign(0) = 0, as in NumPy and PyTorch).",
    onnx="Abs",
)  # fmt: skip
sign = unary("sign", np.sign, None, "sign(x): piecewise constant, so it carries no gradient.", onnx="Sign")
exp = unary("exp", np.exp, "g * ans", "e^x, elementwise.", onnx="Exp")  # f′ = exp z = h
log = unary(
    "log", np.log, "g / x", "Natural log; log(0) = -inf and log(x < 0) = nan, with NumPy's warning.", onnx="Log"
)
log1p = unary("log1p", np.log1p, "g / (1 + x)", "log(1 + x), accurate for small x.")
expm1 = unary("expm1", np.expm1, "g * np.exp(x)", "e^x - 1, accurate for small x.")  # f′ = e^z, exact where h ≈ -1
sqrt = unary(
    "sqrt", np.sqrt, "g / (2 * ans)", "Square root; its gradient at 0 is inf (IEEE), with NumPy's warning.", onnx="Sqrt"
)
sin = unary("sin", np.sin, "g * np.cos(x)", "sin x, elementwise (radians).", onnx="Sin")
cos = unary(
    "cos", np.cos, "-(g * np.sin(x))", "cos x, elementwise (radians).", onnx="Cos"
)  # −(g sin z) = (−g) sin z exactly
tanh = unary(
    "tanh", np.tanh, "g * (1 - ans * ans)",  # f′ = 1 − tanh² z = 1 − h²
    "tanh x, elementwise; its derivative 1 - tanh² x is computed from the output.",
    onnx="Tanh",
)  # fmt: skip
sigmoid = unary(
    "sigmoid", _sigmoid, "g * ans * (1 - ans)",  # f′ = σ(z)(1 − σ(z)) = h(1 − h)
    """σ(x) = 1 / (1 + e^-x), exact to rounding for every x (σ(-1e4) = 0, σ(1e4) = 1, no warning).

    A primitive rather than a composite: 1 / (1 + exp(-x)) built from primitives gives nan gradients
    at x = -1e4 (inf · 0 in the rule of the division), and one node costs less than four.
    """,
    onnx="Sigmoid",
)  # fmt: skip
relu = unary(
    "relu", _relu, "g * (ans > 0)",  # f′ = 1 where z > 0 (h > 0), else 0 (0 at z = 0)
    """max(x, 0); its gradient at 0 is 0, as in PyTorch.

    A primitive rather than ``where(x > 0, x, 0)``: ``np.maximum`` is several times faster than ``np.where``
    and a multiplication by the mask (see the benchmark notes).
    """,
    onnx="Relu",
)  # fmt: skip
abs = absolute

# -- more of NumPy's functions, each a line: h = f(z) with f′ written out ----------------------------------
square = unary("square", np.square, "g * (2 * x)", "x², elementwise.")
# (log 2 and log 10 as Python numbers: a NumPy float64 would make a float32 gradient float64)
exp2 = unary("exp2", np.exp2, f"g * ans * {math.log(2)!r}", "2^x, elementwise.")  # f′ = 2^z log 2
log2 = unary("log2", np.log2, f"g / (x * {math.log(2)!r})", "Base-2 log; log2(0) = -inf, with NumPy's warning.")
log10 = unary("log10", np.log10, f"g / (x * {math.log(10)!r})", "Base-10 log; log10(0) = -inf, with NumPy's warning.")
tan = unary("tan", np.tan, "g * (1 + ans * ans)", "tan x, elementwise (radians).", onnx="Tan")  # f′ = 1 + tan² z
sinh = unary("sinh", np.sinh, "g * np.cosh(x)", "sinh x, elementwise.", onnx="Sinh")
cosh = unary("cosh", np.cosh, "g * np.sinh(x)", "cosh x, elementwise.", onnx="Cosh")
arctan = unary("arctan", np.arctan, "g / (1 + x * x)", "arctan x, elementwise.", onnx="Atan")
arcsin = unary(
    "arcsin", np.arcsin, "g / np.sqrt(1 - x * x)",
    "arcsin x on [-1, 1]; its gradient at ±1 is inf (IEEE) and outside [-1, 1] the value is nan, as in NumPy.",
    onnx="Asin",
)  # fmt: skip
arccos = unary(
    "arccos", np.arccos, "-(g / np.sqrt(1 - x * x))",
    "arccos x on [-1, 1]; its gradient at ±1 is -inf (IEEE) and outside [-1, 1] the value is nan, as in NumPy.",
    onnx="Acos",
)  # fmt: skip
logaddexp = binary(
    "logaddexp", np.logaddexp, ("g * np.exp(a - ans)", "g * np.exp(b - ans)"),  # ∂/∂a = eᵃ / (eᵃ + eᵇ)
    "log(e^a + e^b), computed without overflow.", commutative=True,
)  # fmt: skip
hypot = binary(
    "hypot", np.hypot, ("g * a / np.where(ans == 0, 1, ans)", "g * b / np.where(ans == 0, 1, ans)"),
    "√(a² + b²) elementwise; its gradient at a = b = 0, where it has none, is taken as 0 (as |x|'s at 0).",
    commutative=True,
)  # fmt: skip
erf = unary(
    "erf", _erf, f"g * np.exp(-(x * x)) * {2 / math.sqrt(math.pi)!r}",  # f′ = 2/√π e^{−z²}
    "The error function 2/√π ∫₀ˣ e^{−t²} dt, accurate to about 1e-15 relative in float64 (``minigrad.special``).",
    onnx="Erf",
)  # fmt: skip
