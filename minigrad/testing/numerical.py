"""Numerical derivatives of F(x) = Σⱼ ⟨vⱼ, fⱼ(x)⟩, the scalar that a backward pass with cotangent v differentiates.

Three ways to get ∂F/∂x, all in float64 whatever the dtype of the inputs:

- central differences, one element at a time: ∂F/∂xₖ ≈ (F(x + h eₖ) − F(x − h eₖ)) / 2h, error O(h²) + O(ε/h);
- complex step: ∂F/∂xₖ = Im F(x + i h eₖ) / h + O(h²) with h = 1e-20, exact to rounding because nothing is
  subtracted; valid only when every operation in f is complex-analytic (``abs``, comparisons and casts to
  real are not), which ``complex_vjp`` checks against a central difference along a random direction;
- a random projection: the directional derivative ∂F/∂x · u = d/dt F(x + t u) by a five-point stencil,
  (−F(2h) + 8F(h) − 8F(−h) + F(−2h)) / 12h, four evaluations whatever the size of x.

``slopes`` gives the one-sided slopes around an element (x − 2h … x + 2h): they tell a kink from a wrong rule.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..grad_mode import no_grad
from ..tensor import Tensor, constant, is_float


class ComplexStepError(TypeError):
    """``f`` cannot be differentiated by the complex step: it fails on, or is not analytic in, complex inputs."""


def as_array(x: Any) -> np.ndarray:
    """The values of a Tensor, an array or a number."""
    return x._data if isinstance(x, Tensor) else np.asarray(x)


def outputs(out: Any, who: str) -> list[Tensor]:
    """The output of f as a list of Tensors: one Tensor, or a tuple or list of them."""
    many = out if isinstance(out, (tuple, list)) else [out]
    for o in many:
        if not isinstance(o, Tensor):
            raise TypeError(f"{who}: the function must return a Tensor or a tuple of Tensors, got {type(o).__name__}")
        if not (is_float(o._data.dtype) or o._data.dtype.kind == "c"):
            raise TypeError(f"{who}: the function returned a {o.data.dtype} tensor, which has no gradient")
    return list(many)


def cotangents(shapes: Sequence[tuple], seed: int) -> list[np.ndarray]:
    """The cotangents v of a check: 1 for a lone scalar output (vᵀJ is then the gradient itself, and the
    messages print plain gradients), else standard normal draws in turn from ``np.random.default_rng(seed)``
    (random weights keep the errors of several outputs, or elements, from cancelling)."""
    if len(shapes) == 1 and int(np.prod(shapes[0])) == 1:
        return [np.ones(shapes[0])]
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


def is_random(v: Sequence[np.ndarray]) -> bool:
    """Whether ``cotangents`` drew ``v`` at random (so the values a check compares are a projection vᵀJ)."""
    return not (len(v) == 1 and v[0].size == 1)


class Probe:
    """F(x) = Σⱼ ⟨vⱼ, fⱼ(x)⟩ as a function of the checked inputs, evaluated without recording.

    ``base[j]`` holds the values of checked input j (float64, or complex128 for the complex step);
    ``shifted(j, delta)`` evaluates F with ``delta`` added to input j.
    """

    def __init__(self, f: Callable, inputs: Sequence, checked: list, v: list, dtype: Any = np.float64) -> None:
        self.f, self.inputs, self.checked, self.v = f, list(inputs), checked, v
        self.base = [np.array(as_array(inputs[i]), dtype=dtype) for i in checked]

    def __call__(self, values: list | None = None) -> Any:
        args = list(self.inputs)
        for i, a in zip(self.checked, self.base if values is None else values):
            args[i] = constant(a)
        with no_grad():
            outs = outputs(self.f(*args), "gradcheck")
        return sum(np.sum(o._data * vj) for o, vj in zip(outs, self.v))

    def shifted(self, j: int, delta: Any) -> Any:
        values = list(self.base)
        values[j] = self.base[j] + delta
        return self(values)

    def at(self, j: int, k: tuple, delta: Any) -> Any:
        """F with ``delta`` added to element k of input j only."""
        x = self.base[j]
        old = x[k]
        x[k] = old + delta
        try:
            return self()
        finally:
            x[k] = old


def central_vjp(probe: Probe, eps: float) -> list[np.ndarray]:
    """∂F/∂x for every element of every checked input, by central differences."""
    grads = []
    for j, x in enumerate(probe.base):
        g = np.zeros(x.shape)
        for k in np.ndindex(x.shape):
            g[k] = (probe.at(j, k, eps) - probe.at(j, k, -eps)) / (2 * eps)
        grads.append(g)
    return grads


def central_at(probe: Probe, j: int, k: tuple, eps: float) -> float:
    return float((probe.at(j, k, eps) - probe.at(j, k, -eps)) / (2 * eps))


def directional(probe: Probe, j: int, u: np.ndarray, eps: float) -> float:
    """d/dt F(x + t u) at t = 0 for input j, by the five-point stencil."""
    f = [probe.shifted(j, t * eps * u) for t in (2, 1, -1, -2)]
    return float((-f[0] + 8 * f[1] - 8 * f[2] + f[3]) / (12 * eps))


def slopes(probe: Probe, j: int, k: tuple, eps: float) -> tuple[float, float, float, float]:
    """One-sided slopes of F in element k of input j: (left at h, right at h, left at 2h, right at 2h).

    For a smooth F the jump right − left is h·F″, so doubling h doubles it; at a kink it stays the
    jump of the derivative whatever h. That is the five-point test ``is_kink`` applies.
    """
    f0 = float(probe())
    fm1, fp1, fm2, fp2 = (float(probe.at(j, k, d * eps)) for d in (-1, 1, -2, 2))
    return (f0 - fm1) / eps, (fp1 - f0) / eps, (f0 - fm2) / (2 * eps), (fp2 - f0) / (2 * eps)


def is_kink(s: tuple[float, float, float, float], tol: float) -> bool:
    """The slope jumps by more than ``tol`` and the jump does not grow with the step (unlike h·F″)."""
    left1, right1, left2, right2 = s
    jump1, jump2 = right1 - left1, right2 - left2
    return abs(jump1) > tol and abs(jump2 - jump1) < 0.75 * abs(jump1)


def complex_vjp(probe: Probe, eps: float, seed: int = 0, h: float = 1e-20) -> list[np.ndarray]:
    """∂F/∂x by the complex step, after checking that f is complex-analytic along a random direction.

    Raises ``ComplexStepError`` (naming the reason) when f fails on complex inputs, returns a real
    output for them, or disagrees with central differences: then use ``method="central"``.
    """
    cprobe = Probe(probe.f, probe.inputs, probe.checked, probe.v, dtype=np.complex128)
    rng = np.random.default_rng(seed + 7)
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        try:
            for j, x in enumerate(cprobe.base):
                u = rng.standard_normal(x.shape)
                value = cprobe.shifted(j, 1j * h * u)
                if not np.iscomplexobj(value):
                    raise ComplexStepError(
                        "the function returns a real output for complex inputs (an abs, a comparison or a cast drops "
                        "the imaginary part)"
                    )
                step, reference = float(np.imag(value)) / h, directional(probe, j, u, eps)
                if abs(step - reference) > 1e-5 + 1e-4 * abs(reference):
                    raise ComplexStepError(
                        f"along a random direction of input {probe.checked[j]} the complex step gives {step!r} but "
                        f"central differences give {reference!r}: the function is not complex-analytic (abs, max, "
                        "comparisons and casts to real break the complex step)"
                    )
            grads = []
            for j, x in enumerate(cprobe.base):
                g = np.zeros(x.shape)
                for k in np.ndindex(x.shape):
                    g[k] = np.imag(cprobe.at(j, k, 1j * h)) / h
                grads.append(g)
        except ComplexStepError:
            raise
        except Exception as e:  # noqa: BLE001 - any failure on complex inputs means: no complex step here
            raise ComplexStepError(f"the function fails on complex inputs: {type(e).__name__}: {e}") from e
    return grads
