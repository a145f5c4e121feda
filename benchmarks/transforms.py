"""The cost of the functional transforms, as ratios to one forward pass, measured in one run.

    python -m benchmarks.transforms            # prints a table

Workloads: the lecture's window scorer s = uᵀ tanh(Wx + b) (x ∈ R²⁰, W ∈ R⁸ˣ²⁰, 5 primitives), and a
deeper chain of 40 elementwise and matmul layers (120 primitives) at a larger size, to separate the
per-primitive overhead of forward mode from NumPy's arithmetic.
"""

from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.benchmark import best_per_call
from minigrad.forward_mode import Linearized
from minigrad.tracing import source


def _workloads() -> dict:
    rng = np.random.default_rng(0)
    W, b, u = rng.standard_normal((8, 20)) * 0.3, rng.standard_normal(8), rng.standard_normal(8)
    x0 = rng.standard_normal(20)

    def window(x):
        return u @ mg.tanh(W @ x + b)

    Ws = [rng.standard_normal((64, 64)) / 8 for _ in range(40)]
    y0 = rng.standard_normal(64)

    def chain(x):
        for M in Ws:
            x = mg.tanh(M @ x) * 0.9
        return x.sum()

    return {"window scorer (8x20)": (window, x0), "40-layer chain (64)": (chain, y0)}


def _linearize(f, x):
    with mg.enable_grad():
        s = source("jvp", x, 0, False)
        return Linearized(f(s), [s], False)


def _jvp_by_double_vjp(f, x, v):
    """J v as the transpose of the vjp (u ↦ uᵀJ is linear in u): the usual alternative, for comparison."""
    y, vjp_fn = mg.vjp(f, x)
    return mg.vjp(lambda u: vjp_fn(u)[0], np.zeros(y.shape))[1](v)[0]


def _measure(f, x) -> dict:
    """Seconds per call of each transform of ``f`` at ``x``."""
    v = np.ones_like(x)
    lin = _linearize(f, x)
    return {
        "forward (not recorded)": best_per_call(lambda: f(mg.tensor(x)), 7, 20),
        "forward, recorded": best_per_call(lambda: f(mg.tensor(x, requires_grad=True)), 7, 20),
        "grad (forward + backward)": best_per_call(lambda: mg.grad(f)(x), 7, 20),
        "jvp (forward + linearize + push)": best_per_call(lambda: mg.jvp(f, (x,), (v,)), 7, 20),
        "  of which push, per tangent": best_per_call(lambda: lin.push([v]), 7, 20),
        "jvp by double vjp (not used)": best_per_call(lambda: _jvp_by_double_vjp(f, x, v), 7, 20),
        "hessian-vector, jvp of grad": best_per_call(lambda: mg.jvp(mg.grad(f), (x,), (v,)), 5, 5),
    }


def main() -> None:
    rows = []
    for name, (f, x) in _workloads().items():
        times = _measure(f, x)
        t_plain = times["forward (not recorded)"]
        for label, t in times.items():
            rows.append((name, label, t * 1e6, t / t_plain))
    width = max(len(r[1]) for r in rows)
    print(f"{'workload':24} {'transform':{width}} {'µs':>10} {'× forward':>10}")
    for name, label, us, ratio in rows:
        print(f"{name:24} {label:{width}} {us:10.1f} {ratio:10.1f}")


if __name__ == "__main__":
    main()
