"""The lecture's window scorer step: mg.compile against eager minigrad and hand-written NumPy, in one run.

    python benchmarks/compile_bench.py [--rounds 200] [--batches 1 4096]

s = uᵀ tanh(W x + b) with x ∈ R²⁰ (a window of 5 words of d = 4), H = 8 hidden units, and the max-margin
loss J = mean max(0, 1 − s + s_c) over the batch; a step is forward and backward (gradients of W, b, u).
The hand-written NumPy step computes the same gradients with the lecture's formulas; all three are checked
to agree before timing. Timing is interleaved (each round times a block of steps of each variant in turn)
and the median per-step time over the rounds is reported, with the median over the rounds of each round's
ratio to hand-written NumPy (a drifting load on a shared machine cancels within a round).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # as models.ner does
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import minigrad as mg  # noqa: E402

D, WINDOW, HIDDEN = 4, 5, 8


def numpy_step(W, b, u, X, Xc):
    """Forward and backward by hand: δ = ∂J/∂s ∘ ... with f′(z) = 1 − h², ∂s/∂W = δ xᵀ, ∂s/∂b = δ, ∂s/∂u = h."""
    h = np.tanh(X @ W.T + b)
    hc = np.tanh(Xc @ W.T + b)
    m = 1.0 - h @ u + hc @ u
    J = np.maximum(m, 0.0).mean()
    dm = (m > 0).astype(X.dtype) / len(X)  # ∂J/∂m (ties at m = 0 have probability 0 here)
    dz = np.outer(-dm, u) * (1.0 - h * h)  # ∂J/∂z for the true window (∂J/∂s = −dm)
    dzc = np.outer(dm, u) * (1.0 - hc * hc)
    dW = dz.T @ X + dzc.T @ Xc
    db = dz.sum(axis=0) + dzc.sum(axis=0)
    du = h.T @ -dm + hc.T @ dm
    return J, dW, db, du


def make_step(W, b, u):
    def step(X, Xc):
        s = mg.tanh(X @ W.T + b) @ u
        sc = mg.tanh(Xc @ W.T + b) @ u
        loss = mg.maximum(0, 1 - s + sc).mean()
        loss.backward()
        return loss

    return step


def bench(batch: int, rounds: int, block: int, dtype=np.float64) -> dict:
    rng = np.random.default_rng(0)
    W = mg.tensor(rng.standard_normal((HIDDEN, WINDOW * D)).astype(dtype) * 0.3, requires_grad=True)
    b = mg.tensor(rng.standard_normal(HIDDEN).astype(dtype) * 0.1, requires_grad=True)
    u = mg.tensor(rng.standard_normal(HIDDEN).astype(dtype), requires_grad=True)
    params = (W, b, u)
    X, Xc = (rng.standard_normal((batch, WINDOW * D)).astype(dtype) for _ in range(2))
    step = make_step(W, b, u)
    compiled = mg.compile(step)

    def run_eager():
        for p in params:
            p.grad = None
        loss = step(X, Xc)
        return loss.data, W.grad, b.grad, u.grad

    def run_compiled():
        for p in params:
            p.grad = None
        loss = compiled(X, Xc)
        return loss.data, W.grad, b.grad, u.grad

    def run_numpy():
        return numpy_step(W.data, b.data, u.data, X, Xc)

    start = time.perf_counter()
    run_compiled()  # the trace
    trace = time.perf_counter() - start
    run_compiled()  # the checked first replay
    want = run_numpy()
    for name, fn in (("eager", run_eager), ("compiled", run_compiled)):
        for got, ref in zip(fn(), want):
            np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12, err_msg=f"{name} at batch {batch}")
    times: dict[str, list[float]] = {"numpy": [], "compiled": [], "eager": []}
    fns = {"numpy": run_numpy, "compiled": run_compiled, "eager": run_eager}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(block):
                fn()
            times[name].append((time.perf_counter() - t0) / block)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = {  # within each round, so that the load of a shared machine, which drifts, cancels
        k: statistics.median(t / n for t, n in zip(times[k], times["numpy"])) for k in ("compiled", "eager")
    }
    return {"batch": batch, "trace_s": trace, **med, "ratios": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4096])
    args = parser.parse_args()
    big = max(20, args.rounds // 10)
    print(f"window scorer d={D} (x in R^{WINDOW * D}), H={HIDDEN}, max-margin loss, float64; medians of")
    print(f"{args.rounds} rounds ({big} from batch 1000); ratios: the median of each round's ratio to NumPy by hand")
    print(f"{'batch':>6} {'numpy':>10} {'compiled':>10} {'eager':>10} {'compiled/np':>12} {'eager/np':>9} {'trace':>8}")
    for batch in args.batches:
        block = max(1, 500 // batch)  # (short blocks: the variants of a round see the same load)
        r = bench(batch, args.rounds if batch < 1000 else big, block)
        print(
            f"{batch:>6} {r['numpy'] * 1e6:>8.1f}us {r['compiled'] * 1e6:>8.1f}us {r['eager'] * 1e6:>8.1f}us "
            f"{r['ratios']['compiled']:>11.2f}x {r['ratios']['eager']:>8.2f}x {r['trace_s'] * 1e3:>6.1f}ms"
        )


if __name__ == "__main__":
    main()
