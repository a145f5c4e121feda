"""Forward+backward of a chain of elementwise ops: minigrad against hand-written NumPy, in one run.

    python benchmarks/chain.py [--ops 100] [--size 4] [--repeats 200]

The chain cycles through tanh, scale, sin, shift. The hand-written version stores what each step's
derivative needs and multiplies the upstream gradient back by hand, the practical limit for any
NumPy-based framework. Both gradients are checked to agree before timing.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import minigrad as mg


def chain_minigrad(x0: np.ndarray, n_ops: int) -> np.ndarray:
    x = mg.Tensor(x0, requires_grad=True)
    h = x
    for i in range(n_ops):
        k = i % 4
        if k == 0:
            h = mg.tanh(h)
        elif k == 1:
            h = h * 1.5
        elif k == 2:
            h = mg.sin(h)
        else:
            h = h + 0.1
    h.sum().backward()
    return x.grad


def chain_numpy(x0: np.ndarray, n_ops: int) -> np.ndarray:
    saved = []
    h = x0
    for i in range(n_ops):
        k = i % 4
        if k == 0:
            h = np.tanh(h)
            saved.append(h)
        elif k == 1:
            h = h * 1.5
            saved.append(None)
        elif k == 2:
            saved.append(h)
            h = np.sin(h)
        else:
            h = h + 0.1
            saved.append(None)
    g = np.ones_like(h)
    for i in reversed(range(n_ops)):
        k = i % 4
        if k == 0:
            y = saved[i]
            g = g * (1 - y * y)
        elif k == 1:
            g = g * 1.5
        elif k == 2:
            g = g * np.cos(saved[i])
    return g


def timed(fn, *args, repeats: int) -> list[float]:
    for _ in range(max(3, repeats // 10)):  # warm-up
        fn(*args)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(*args)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100)
    parser.add_argument("--size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    x0 = np.random.default_rng(0).standard_normal(args.size)
    np.testing.assert_allclose(chain_minigrad(x0, args.ops), chain_numpy(x0, args.ops), rtol=1e-12)
    # interleave the two so that machine noise hits both alike
    mg_times, np_times = [], []
    for _ in range(5):
        mg_times += timed(chain_minigrad, x0, args.ops, repeats=args.repeats // 5)
        np_times += timed(chain_numpy, x0, args.ops, repeats=args.repeats // 5)
    t_mg, t_np = statistics.median(mg_times), statistics.median(np_times)
    print(f"chain of {args.ops} elementwise ops on shape ({args.size},), forward+backward, median of {len(mg_times)}")
    print(f"  minigrad     {t_mg / args.ops * 1e6:7.3f} us/op")
    print(f"  numpy (hand) {t_np / args.ops * 1e6:7.3f} us/op")
    print(f"  ratio        {t_mg / t_np:7.2f}x")


if __name__ == "__main__":
    main()
