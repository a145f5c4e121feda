"""The error function on whole arrays, accurate to a few units in the last place of float64.

NumPy has no ``erf``; Python's ``math.erf`` is accurate but takes one number at a time. Here:

- for |x| ≤ 1, the Maclaurin series erf(x) = 2/√π · x Σₖ (−x²)ᵏ / (k! (2k + 1)), 18 terms by Horner's rule
  in t = x² (the 18th term is below 1e-17 of the first): relative error about 3e-16, down to the
  smallest x, since it is x times a sum between 0.74 and 1;
- for 1 < |x| < 6, erf(x) = 1 − e^{−x²} q(x), with q(x) = erfc(x) e^{x²} ≈ 1/(x√π) smooth and slowly varying:
  q is interpolated at 30 Chebyshev points on [1, 6] from ``math.erfc``, once at import, and evaluated on
  arrays by Clenshaw's recurrence (``chebval``); relative error of erf about 7e-16;
- for |x| ≥ 6, erf(x) = ±1: erfc(6) = 2e-17 is below half a unit in the last place of 1.

``tests/test_activations.py`` compares ``erf`` with ``math.erf`` on a dense grid, tails included.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.polynomial import chebyshev

_SERIES = [(-1) ** k / (math.factorial(k) * (2 * k + 1)) for k in range(18)]
_LOW, _HIGH, _POINTS = 1.0, 6.0, 30


def _chebyshev_points_fit(f, low: float, high: float, n: int) -> np.ndarray:
    """The coefficients cₖ of the interpolant Σ cₖ Tₖ(u) of f at n Chebyshev points of [low, high] (u ∈ [−1, 1])."""
    theta = np.pi * (np.arange(n) + 0.5) / n
    values = np.array([f(low + (math.cos(t) + 1) * (high - low) / 2) for t in theta])
    c = (2 / n) * np.cos(np.outer(np.arange(n), theta)) @ values  # the discrete cosine transform of the values
    c[0] /= 2
    return c


_Q = _chebyshev_points_fit(lambda x: math.erfc(x) * math.exp(x * x), _LOW, _HIGH, _POINTS)


def erf(x: np.ndarray) -> np.ndarray:
    """erf(x) = 2/√π ∫₀ˣ e^{−t²} dt elementwise, in x's floating dtype (float64 for integers); nan stays nan."""
    x = np.asarray(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
    wide = np.atleast_1d(x.astype(np.float64))
    a = np.abs(wide)
    out = np.sign(wide)  # ±1 for |x| ≥ 6 (and nan at nan)
    near = a <= _LOW
    if near.any():
        z = wide[near]
        t, acc = z * z, np.zeros(z.shape)
        for c in reversed(_SERIES):
            acc = acc * t + c
        out[near] = (2 / math.sqrt(math.pi)) * z * acc
    mid = (a > _LOW) & (a < _HIGH)
    if mid.any():
        m = a[mid]
        tail = np.exp(-m * m) * chebyshev.chebval((m - _LOW) * (2 / (_HIGH - _LOW)) - 1, _Q)
        out[mid] = np.sign(wide[mid]) * (1 - tail)
    return out.reshape(x.shape).astype(dtype, copy=False)
