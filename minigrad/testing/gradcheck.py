"""``gradcheck`` and ``gradgradcheck``: compare minigrad's backward with numerical derivatives in float64.

One backward pass with a random cotangent v (1 for a lone scalar output) gives vᵀJ for every input at once;
the numerical side differentiates the scalar F(x) = ⟨v, f(x)⟩ (see ``minigrad.testing.numerical`` for the
methods). A disagreement raises ``GradcheckError`` naming the input, the worst element, the analytic and the
numerical value (saying that they are vᵀJ, and what v was), the operation that made the output (a custom
``mg.Function`` by its class) and a guess at the mistake; a disagreement explained by a kink (the
one-sided slopes differ and the analytic value lies between them) is reported as a kink instead.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..engine import backward_pass
from ..grad_mode import enable_grad
from ..tensor import Tensor, is_float
from .numerical import (
    ComplexStepError,
    Probe,
    as_array,
    central_at,
    central_vjp,
    complex_vjp,
    cotangents,
    directional,
    is_kink,
    outputs,
    slopes,
)
from .report import cotangent_note, kink_message, mismatch_message, op_name, projection_message

# |analytic − numerical| ≤ atol + rtol·|numerical|, by the dtype of the analytic gradient. Central
# differences are good to ~1e-9; the complex step is exact to rounding, so float64 gets a tolerance
# tight enough to see a rule that computes in float32 (relative error ~1e-7).
TOLERANCES = {
    np.dtype(np.float64): (1e-5, 1e-4),
    np.dtype(np.float32): (1e-4, 2e-3),
    np.dtype(np.float16): (1e-2, 5e-2),
}
COMPLEX_FLOAT64 = (1e-11, 1e-9)
METHODS = ("central", "complex", "auto", "projection")


class GradcheckError(AssertionError):
    """Backward disagrees with numerical derivatives; the message names the input and element."""


class KinkError(GradcheckError):
    """The check landed on a non-differentiable point (a kink); the gradient there is a valid subgradient."""


class KinkWarning(UserWarning):
    """gradcheck met a kink and accepted the subgradient there."""


def is_checked(x: Any) -> bool:
    if isinstance(x, Tensor):
        return x.requires_grad
    return isinstance(x, (np.ndarray, float, list)) and is_float(np.asarray(x).dtype)


def input_names(f: Callable, n: int) -> list[str]:
    """``input 1 ('b')`` when f's signature names its positional parameters, else ``input 1``."""
    try:
        params = list(inspect.signature(f).parameters.values())
    except (TypeError, ValueError):
        params = []
    names = []
    for i in range(n):
        p = params[i] if i < len(params) else None
        ok = p is not None and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        names.append(f"input {i} ('{p.name}')" if ok else f"input {i}")
    return names


def analytic_vjp(f: Callable, inputs: tuple, checked: list, seed: int = 0, what: str = "") -> tuple:
    """Run f on fresh copies of the checked inputs, then backward with a random cotangent per output.

    Returns (outputs, cotangents in float64, grads as arrays, name of the op(s) that made the output).
    """
    args = [Tensor(as_array(x), requires_grad=True) if i in checked else x for i, x in enumerate(inputs)]
    outs = outputs(f(*args), "gradcheck")
    v = cotangents([o._data.shape for o in outs], seed)
    op = what or op_name(outs)
    try:
        for o, vj in zip(outs, v):
            if o.requires_grad:
                o.backward(vj.astype(o._data.dtype), retain_graph=True)
    except Exception as e:
        raise GradcheckError(f"gradcheck: the backward pass of {op} raised {type(e).__name__}: {e}") from e
    grads = [np.zeros_like(args[i]._data) if args[i].grad is None else args[i].grad for i in checked]
    return outs, v, grads, op


def _tolerance(dtype: np.dtype, method: str, atol: float | None, rtol: float | None) -> tuple[float, float]:
    a, r = COMPLEX_FLOAT64 if method == "complex" and dtype == np.float64 else TOLERANCES.get(dtype, (1e-2, 5e-2))
    return (a if atol is None else atol), (r if rtol is None else rtol)


def _numerical(method: str, probe: Probe, eps: float, seed: int) -> tuple[str, list]:
    if method in ("complex", "auto"):
        try:
            return "complex", complex_vjp(probe, eps, seed)
        except ComplexStepError as e:
            if method == "complex":
                raise ComplexStepError(f"gradcheck(method='complex'): {e}; use method='central' or 'auto'") from e
    return "central", central_vjp(probe, eps)


def _check_shapes(grads: list, inputs: tuple, checked: list, names: list, op: str) -> None:
    for i, g in zip(checked, grads):
        x = as_array(inputs[i])
        if g.shape != x.shape or g.dtype != x.dtype:
            raise GradcheckError(
                f"gradcheck: the gradient of {names[i]} has shape {g.shape} and dtype {g.dtype}, "
                f"but the input has shape {x.shape} and dtype {x.dtype} (output made by {op})"
            )


def _check(
    f: Callable, inputs: tuple, method: str, eps: float, atol, rtol, seed: int, kinks: str, what: str = "", inner=None
) -> bool:
    """gradcheck's body; ``what`` names the output in messages when f is not the user's function, ``inner``
    is gradgradcheck's (v, seed) of the first derivative f is, for the messages' note on the cotangents."""
    if method not in METHODS:
        raise ValueError(f"gradcheck: method must be one of {METHODS}, got {method!r}")
    if kinks not in ("warn", "raise", "ignore"):
        raise ValueError(f"gradcheck: kinks must be 'warn', 'raise' or 'ignore', got {kinks!r}")
    checked = [i for i, x in enumerate(inputs) if is_checked(x)]
    if not checked:
        raise ValueError("gradcheck: no floating-point input to check (give float arrays or tensors that require grad)")
    names = input_names(f, len(inputs))
    outs, v, analytic, op = analytic_vjp(f, inputs, checked, seed, what)
    _check_shapes(analytic, inputs, checked, names, op)
    probe = Probe(f, inputs, checked, v)
    note = cotangent_note(v, seed, inner)
    if method == "projection":
        return _check_projection(probe, analytic, names, op, eps, atol, rtol, seed, note)
    used, numerical = _numerical(method, probe, eps, seed)
    shapes = tuple((o._data.shape, o._data.dtype) for o in outs)
    found_kinks = []
    for j, (i, a, n) in enumerate(zip(checked, analytic, numerical)):
        tol = _tolerance(a.dtype, used, atol, rtol)
        wrong, notes, at_kinks = _disagreements(probe, j, a, n, tol, used, eps)
        if wrong:
            x = as_array(probe.inputs[i])
            raise GradcheckError(mismatch_message(names[i], x, op, used, eps, a, n, wrong, notes, tol, shapes, note))
        found_kinks += [(names[i], k, a_k, s) for k, a_k, s in at_kinks]
    if found_kinks and kinks != "ignore":
        message = kink_message(found_kinks, op, note)
        if kinks == "raise":
            raise KinkError(message)
        warnings.warn(message, KinkWarning, stacklevel=3)
    return True


def _disagreements(probe: Probe, j: int, a: np.ndarray, n: np.ndarray, tol: tuple, used: str, eps: float) -> tuple:
    """(wrong elements, their one-sided slopes, (element, analytic, slopes) at a kink) of checked input j."""
    tol_a, tol_r = tol
    a64 = a.astype(np.float64)
    bad = ~(np.abs(a64 - n) <= tol_a + tol_r * np.abs(n))  # nan counts as a failure
    wrong, notes, kinks = [], {}, []
    for k in (k for k in np.ndindex(bad.shape) if bad[k]):
        if len(wrong) >= 20:  # enough evidence: count the rest without the extra calls
            wrong.append(k)
            continue
        tol_k = tol_a + tol_r * abs(n[k])
        if used == "central":  # a kink within eps of x spoils the first estimate, not one 16× finer
            finer = central_at(probe, j, k, eps / 16)
            if abs(a64[k] - finer) <= tol_a + tol_r * abs(finer):
                continue
        s = slopes(probe, j, k, eps)
        if is_kink(s, tol_k) and min(s) - tol_k <= a64[k] <= max(s) + tol_k:
            kinks.append((k, a64[k], s))
            continue
        wrong.append(k)
        notes[k] = s
    return wrong, notes, kinks


def _check_projection(probe: Probe, analytic: list, names: list, op: str, eps: float, atol, rtol, seed, note) -> bool:
    """Compare ⟨vᵀJ, u⟩ with d/dt F(x + t u) for one random unit direction u per input."""
    rng = np.random.default_rng(seed + 1)
    for j, a in enumerate(analytic):
        i = probe.checked[j]
        u = rng.standard_normal(a.shape)
        u /= max(np.linalg.norm(u), 1e-300)
        terms = a.astype(np.float64) * u
        got, expected = float(terms.sum()), directional(probe, j, u, eps)
        tol_a, tol_r = _tolerance(a.dtype, "projection", atol, rtol)
        tol = tol_a + tol_r * (abs(expected) + float(np.abs(terms).sum()))
        if not abs(got - expected) <= tol:
            raise GradcheckError(projection_message(names[i], a, op, got, expected, tol, eps, note))
    return True


def gradcheck(
    f: Callable,
    *inputs: Any,
    method: str = "central",
    eps: float = 1e-6,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
    kinks: str = "warn",
) -> bool:
    """Check the gradients of ``f`` at ``inputs`` against numerical derivatives in float64.

    Parameters
    ----------
    f : callable
        Takes the inputs, returns a Tensor or a tuple of Tensors.
    *inputs
        Floating-point arrays, numbers and Tensors that require grad are checked; anything else
        (ints, masks, Tensors without grad, parameters) is passed through unchanged.
    method : {"central", "complex", "auto", "projection"}
        ``central``: central differences per element (2 calls of f per element). ``complex``: the complex
        step Im F(x + ih)/h, exact to rounding, for complex-analytic f (raises ``ComplexStepError`` else);
        ``auto``: the complex step when f allows it, else central. ``projection``: one random direction
        u per input, ⟨vᵀJ, u⟩ against a five-point directional derivative (4 calls per input, any size).
    eps : float
        The step h of the finite differences.
    atol, rtol : float, optional
        |analytic − numerical| ≤ atol + rtol·|numerical|; by default from the gradient's dtype.
    seed : int
        Seeds the cotangent v (``np.random.default_rng(seed)``; v = 1 for a lone scalar output) and the
        directions u.
    kinks : {"warn", "raise", "ignore"}
        What to do at a non-differentiable point where the analytic value lies between the one-sided slopes.

    Returns True, or raises ``GradcheckError`` naming the input, the worst element, the analytic and
    the numerical value, and the operation that made the output.
    """
    return _check(f, inputs, method, eps, atol, rtol, seed, kinks)


def gradgradcheck(
    f: Callable,
    *inputs: Any,
    method: str = "central",
    eps: float = 1e-6,
    atol: float | None = None,
    rtol: float | None = None,
    seed: int = 0,
    kinks: str = "warn",
) -> bool:
    """Check second derivatives: ``gradcheck`` of x ↦ vᵀ ∂f/∂x, whose backward is the recorded backward of f.

    The first derivative is taken with ``create_graph=True`` for a fixed random cotangent v, so a random
    w gives wᵀ ∂(vᵀ ∂f/∂x)/∂x, a Hessian-vector product, checked against numerical differences of the
    first derivative. Same parameters and errors as ``gradcheck``.
    """
    checked = [i for i, x in enumerate(inputs) if is_checked(x)]
    with enable_grad():  # one call, for the shapes of the outputs (so of the cotangents) and their ops
        leaves = [Tensor(as_array(x), requires_grad=True) if i in checked else x for i, x in enumerate(inputs)]
        probe_out = outputs(f(*leaves), "gradgradcheck")
    v = cotangents([o._data.shape for o in probe_out], seed + 1000)

    def first_derivative(*args: Any) -> tuple:
        with enable_grad():
            args = list(args)
            leaves = []
            for i in checked:
                x = args[i]
                if not (isinstance(x, Tensor) and x.requires_grad):  # the numerical side passes constants
                    x = args[i] = Tensor(as_array(x), requires_grad=True)
                leaves.append(x)
            grads: dict = {}
            for o, vj in zip(outputs(f(*args), "gradgradcheck"), v):
                if o.requires_grad:
                    for leaf, g in backward_pass(o, Tensor(vj.astype(o._data.dtype)), True, True, leaves).items():
                        grads[leaf] = g if leaf not in grads else grads[leaf] + g
            return tuple(grads.get(x, Tensor(np.zeros_like(x._data))) for x in leaves)

    try:
        first_derivative.__signature__ = inspect.signature(f)  # keep the input names in messages
    except (TypeError, ValueError):
        pass
    label = "the first derivative of " + op_name(probe_out)
    return _check(first_derivative, inputs, method, eps, atol, rtol, seed, kinks, what=label, inner=(v, seed + 1000))
