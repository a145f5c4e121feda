"""The message of a failed gradcheck: where, by how much, and a guess at the kind of mistake."""

from __future__ import annotations

import numpy as np

FLOAT32_EPS = float(np.finfo(np.float32).eps)


def _hint(a: np.ndarray, n: np.ndarray, wrong: list) -> str:
    """A guess at the kind of mistake, from the pattern of the disagreement; '' when none fits."""
    a, n = a.astype(np.float64), n.astype(np.float64)
    scale = np.abs(n).max() + 1e-12
    if np.abs(a).max() == 0:
        return "the analytic gradient is zero everywhere: is the input disconnected (a .data, detach or cast to int)?"
    if np.allclose(a, -n, rtol=1e-3, atol=1e-6 * scale):
        return "the analytic gradient is the numerical one negated: a sign error in the rule?"
    if a.ndim == 2 and a.shape[0] == a.shape[1] and np.allclose(a.T, n, rtol=1e-3, atol=1e-6 * scale):
        return "the analytic gradient is the transpose of the numerical one: a missing or extra transpose?"
    if a.shape != n.shape:
        return ""
    nz = np.abs(n) > 1e-3 * scale
    if nz.sum() > 1:
        ratio = a[nz] / n[nz]
        if np.allclose(ratio, ratio[0], rtol=1e-3) and not np.isclose(ratio[0], 1.0, rtol=1e-3):
            return f"analytic = {ratio[0]:.6g} × numerical everywhere: a missing or extra constant factor?"
    rel = max(abs(a[k] - n[k]) / max(abs(n[k]), 1e-300) for k in wrong)
    if rel < 8 * FLOAT32_EPS:
        return (
            f"the analytic gradient agrees only to {rel:.1g} relative error, float32 precision: "
            "does the rule or the function compute in float32 (a downcast)?"
        )
    if 0 < len(wrong) < a.size:
        return (
            f"only {len(wrong)} of {a.size} elements disagree: a broadcast axis not summed, "
            "an index or an axis mixed up?"
        )
    return ""


def _broadcasts(small: tuple, big: tuple) -> bool:
    try:
        return np.broadcast_shapes(small, big) == big
    except ValueError:
        return False


def mismatch_message(
    name: str,
    x: np.ndarray,
    op: str,
    method: str,
    eps: float,
    a: np.ndarray,
    n: np.ndarray,
    wrong: list,
    notes: dict,
    tol: tuple[float, float],
    out_shapes: tuple = (),
) -> str:
    """GradcheckError text: the input, its worst element, analytic vs numerical, the op, and a hint."""
    err = np.abs(a.astype(np.float64) - n)
    k = max(wrong, key=lambda t: np.nan_to_num(err[t], nan=np.inf) - tol[1] * abs(n[t]))
    where = tuple(int(t) for t in k)
    limit = tol[0] + tol[1] * abs(n[k])
    lines = [
        f"gradcheck: wrong gradient for {name} (shape {x.shape}, {x.dtype}) of the output made by {op}:",
        f"  at element {where}: analytic {float(a[k])!r} vs numerical {float(n[k])!r} "
        f"(|diff| {err[k]:.3g} > tolerance {limit:.3g});",
        f"  {len(wrong)} of {a.size} elements disagree "
        f"[method {method}, eps {eps:g}, atol {tol[0]:g}, rtol {tol[1]:g}]",
    ]
    s = notes.get(k)
    if s is not None and abs(s[1] - s[0]) > limit:
        lines.append(
            f"  the one-sided slopes differ there (left {s[0]:.6g}, right {s[1]:.6g}) and the analytic value is not "
            "between them: a kink within 2·eps, and a wrong subgradient (or several kinks closer than eps)"
        )
    if a.size <= 12:
        with np.printoptions(precision=6, threshold=12, linewidth=10**6, floatmode="maxprec"):  # one line each, all
            lines.append(f"  analytic:  {np.array2string(a.astype(np.float64).ravel())}")  # values, whatever the
            lines.append(f"  numerical: {np.array2string(n.ravel())}")  # caller's print options
    narrower = [d for _, d in out_shapes if d.kind == "f" and d.itemsize < x.dtype.itemsize]
    wider = [shape for shape, _ in out_shapes if shape != x.shape and _broadcasts(x.shape, shape)]
    if narrower:
        hint = (
            f"the output is {narrower[0]} for a {x.dtype} input: f computes in lower precision (a downcast), "
            "so its derivatives carry that rounding"
        )
    else:
        hint = _hint(a, n, wrong)
    if not hint and wider:
        hint = (
            f"this input is broadcast to the output's shape {wider[0]}: does the rule sum over the broadcast "
            "axes, or return the full-size gradient and let the engine reduce it?"
        )
    if hint:
        lines.append("  hint: " + hint)
    return "\n".join(lines)
