"""The message of a failed gradcheck: where, by how much, and a guess at the kind of mistake."""

from __future__ import annotations

import numpy as np

from .numerical import is_random

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
    if nz.sum() > 1:  # (one element: see _lone_factor)
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


def _lone_factor(a: np.ndarray, n: np.ndarray) -> str:
    """The factor hint for an input of one element (0-d or size 1), where any wrong value is a ratio."""
    if a.size != 1 or not n.ravel()[0] or np.isclose(a.ravel()[0], n.ravel()[0], rtol=1e-3):
        return ""
    ratio = float(a.ravel()[0]) / float(n.ravel()[0])
    return (
        f"analytic = {ratio:.6g} × numerical: a missing or extra constant factor? (one element to compare: "
        "check a larger input to tell a factor from another mistake)"
    )


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
    note: tuple = (),
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
    lines += note
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
    hint = hint or _lone_factor(a, n)  # after the broadcast hint: a 0-d bias given one element's share is a ratio too
    if hint:
        lines.append("  hint: " + hint)
    return "\n".join(lines)


def op_name(outs: list) -> str:
    """The operations that made the outputs, quoted; a custom ``mg.Function`` by its class, not ``'function'``.

    Every Function node shares the op ``"function"``; its first argument is its ctx, which knows the class.
    """
    names = []
    for o in outs:
        op = (o.grad_fn or "a leaf") if o.requires_grad else "a constant"
        cls = getattr(o._args[0], "_function", None) if op == "function" and o._args else None
        names.append(f"'{cls.__name__}' (an mg.Function)" if isinstance(cls, type) else f"'{op}'")
    return ", ".join(names)


def _draws(symbol: str, v: list, seed: int) -> str:
    shapes = ", ".join(str(tuple(x.shape)) for x in v)
    if len(v) == 1:
        return f"{symbol} = np.random.default_rng({seed}).standard_normal({shapes})"
    return (
        f"rng = np.random.default_rng({seed}); {symbol}ⱼ = rng.standard_normal(shape of output j) for each output "
        f"in turn, shapes {shapes}"
    )


def cotangent_note(v: list, seed: int, inner: tuple | None = None) -> tuple[str, ...]:
    """Lines saying that the values printed are a random projection and what its vectors were.

    ``v`` are the check's cotangents (drawn from ``seed``); ``inner``, for gradgradcheck, the (v, seed) of
    the first derivative, whose check then compares wᵀ ∂(vᵀ ∂f/∂x)/∂x. Nothing when every vector is 1.
    """
    pairs = [("v", v, seed)] if inner is None else [("w", v, seed), ("v", *inner)]
    random = [(s, x, sd) for s, x, sd in pairs if is_random(x)]
    if not random:
        return ()
    formula = "vᵀJ (J = ∂f/∂x)" if inner is None else "wᵀ ∂(vᵀ ∂f/∂x)/∂x (a Hessian-vector product)"
    ones = [f"{s} = 1 (a scalar)" for s, x, _ in pairs if not is_random(x)]
    lines = [f"  the values are {formula} for a random cotangent {' and '.join(s for s, _, _ in random)}: "]
    lines[0] += "; ".join([_draws(s, x, sd) for s, x, sd in random] + ones)
    if sum(x.size for _, vs, _ in random for x in vs) <= 12:
        with np.printoptions(precision=6, threshold=12, linewidth=10**6, floatmode="maxprec"):  # as analytic:
            for s, vs, _ in random:
                for j, x in enumerate(vs):
                    label = s + (str(j) if len(vs) > 1 else "") + ":"
                    lines.append(f"  {label:<11}{np.array2string(x.ravel())}")  # aligned with analytic:
    return tuple(lines)


def projection_message(
    name: str, a: np.ndarray, op: str, got: float, expected: float, tol: float, eps: float, note: tuple
) -> str:
    lines = [
        f"gradcheck: wrong gradient for {name} (shape {a.shape}, {a.dtype}) of the output made by {op}: "
        f"along a random unit direction u the analytic ⟨vᵀJ, u⟩ = {got!r} but the numerical "
        f"d/dt vᵀf(x + t u) = {expected!r} (|diff| {abs(got - expected):.3g} > tolerance {tol:.3g}) "
        f"[method projection, eps {eps:g}]; rerun with method='central' on a smaller input to find the element",
        *note,
    ]
    return "\n".join(lines)


def kink_message(found: list, op: str, note: tuple) -> str:
    """The KinkWarning's text; its slopes and analytic value are of ⟨v, f⟩, which ``note`` describes."""
    name, k, a_k, s = found[0]
    head = (
        f"gradcheck: {len(found)} element(s) sit at a kink of {op}, where f is not differentiable; "
        f"first: {name} element {tuple(int(t) for t in k)}: left slope {s[0]:.6g}, right slope {s[1]:.6g}, "
        f"analytic {a_k:.6g} lies between them (a valid subgradient). Not a wrong gradient; draw inputs away "
        "from the kink (strategies.arrays(away_from=...)) to check the derivative there"
    )
    return "\n".join([head, *note])
