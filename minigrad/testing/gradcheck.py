"""``gradcheck``: compare minigrad's backward with central differences computed in float64."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..grad_mode import no_grad
from ..tensor import Tensor, _is_float

# Default tolerances by the dtype of the analytic gradient: |analytic − numerical| ≤ atol + rtol·|numerical|.
TOLERANCES = {
    np.dtype(np.float64): (1e-5, 1e-4),
    np.dtype(np.float32): (1e-4, 2e-3),
    np.dtype(np.float16): (1e-2, 5e-2),
}


class GradcheckError(AssertionError):
    """Backward disagrees with numerical derivatives; the message names the input and element."""


def _array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _is_checked(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x.requires_grad
    return isinstance(x, (np.ndarray, float, list)) and _is_float(np.asarray(x).dtype)


def _call(f: Callable, args: list) -> Tensor:
    out = f(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, it returned {type(out).__name__}")
    if not _is_float(out.data.dtype):
        raise TypeError(f"gradcheck: the function returned a {out.data.dtype} tensor, which has no gradient")
    return out


def analytic_vjp(f: Callable, inputs: tuple, checked: list, v: np.ndarray | None, seed: int = 0) -> tuple:
    """Run f on fresh copies of the inputs, then backward with cotangent v (random if None)."""
    args = [Tensor(_array(x), requires_grad=i in checked) if i in checked else x for i, x in enumerate(inputs)]
    out = _call(f, args)
    if v is None:
        v = np.random.default_rng(seed).standard_normal(out.data.shape)
    if out.requires_grad:
        out.backward(v.astype(out.data.dtype))
    grads = []
    for i in checked:
        g = args[i].grad
        grads.append(np.zeros_like(args[i].data) if g is None else g)
    return out, v, grads


def numerical_vjp(f: Callable, inputs: tuple, checked: list, v: np.ndarray, eps: float = 1e-6) -> list:
    """Central differences of vᵀ f(x) for every element of every checked input, in float64."""
    base = [np.array(_array(x), dtype=np.float64) if i in checked else x for i, x in enumerate(inputs)]

    def project(values: list) -> float:
        with no_grad():
            args = [Tensor(a) if i in checked else a for i, a in enumerate(values)]
            out = _call(f, args)
        return float(np.sum(out.data.astype(np.float64) * v))

    grads = []
    for i in checked:
        x = base[i]
        g = np.zeros_like(x)
        for k in np.ndindex(x.shape):
            old = x[k]
            x[k] = old + eps
            up = project(base)
            x[k] = old - eps
            down = project(base)
            x[k] = old
            g[k] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(
    f: Callable,
    *inputs: Any,
    eps: float = 1e-6,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
) -> bool:
    """Check the gradients of ``f`` at ``inputs`` against central differences in float64.

    The inputs checked are floating-point arrays and the Tensors that require grad; other inputs are
    passed through. ``f`` returns a Tensor; its backward is driven by a random cotangent v, so one
    backward checks vᵀJ for every input. Raises ``GradcheckError`` naming the input, the worst
    element, the analytic and the numerical value; returns True when all agree.
    """
    checked = [i for i, x in enumerate(inputs) if _is_checked(x)]
    if not checked:
        raise ValueError("gradcheck: no floating-point input to check")
    out, v, analytic = analytic_vjp(f, inputs, checked, None, seed)
    numerical = numerical_vjp(f, inputs, checked, v, eps)
    op = out.grad_fn or "a constant"
    for i, a, n in zip(checked, analytic, numerical):
        x = _array(inputs[i])
        if a.shape != x.shape or a.dtype != x.dtype:
            raise GradcheckError(
                f"gradcheck: the gradient of input {i} has shape {a.shape} and dtype {a.dtype}, "
                f"but the input has shape {x.shape} and dtype {x.dtype} (output made by '{op}')"
            )
        default_atol, default_rtol = TOLERANCES[a.dtype]
        tol = (default_atol if atol is None else atol) + (default_rtol if rtol is None else rtol) * np.abs(n)
        err = np.abs(a.astype(np.float64) - n)
        bad = ~(err <= tol)  # nan counts as a failure
        if bad.any():
            k = np.unravel_index(np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf) - tol, -np.inf)), a.shape)
            raise GradcheckError(
                f"gradcheck: wrong gradient for input {i} (shape {x.shape}, {x.dtype}) of output made by '{op}': "
                f"at element {tuple(int(j) for j in k)} analytic {a[k]!r} vs numerical {n[k]!r} "
                f"(|diff| {err[k]:.3g} > tolerance {tol[k]:.3g}); {int(bad.sum())} of {a.size} elements disagree"
            )
    return True
