"""Forward+backward of a chain of elementwise ops: minigrad against hand-written NumPy, in one run.

    python benchmarks/chain.py [--ops 100] [--size 4] [--rounds 15]

The chain cycles through tanh, scale, sin, shift. The hand-written version stores what each step's
derivative needs and multiplies the upstream gradient back by hand, the practical limit for any
NumPy-based framework. Both gradients are checked to agree before timing, which is
``minigrad.benchmark.compare``'s (the harness's method: warm-up, interleaved rounds, paired ratio).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script from a checkout

import minigrad as mg  # noqa: E402
from minigrad import benchmark  # noqa: E402


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100)
    parser.add_argument("--size", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    x0 = np.random.default_rng(0).standard_normal(args.size)
    np.testing.assert_allclose(chain_minigrad(x0, args.ops), chain_numpy(x0, args.ops), rtol=1e-12)
    steps = {"numpy (hand)": lambda: chain_numpy(x0, args.ops), "minigrad": lambda: chain_minigrad(x0, args.ops)}
    result = benchmark.compare(steps, rounds=args.rounds)
    print(f"chain of {args.ops} elementwise ops on shape ({args.size},), forward+backward")
    print(result)
    for name, t in result.timings.items():
        print(f"  {name:<13} {t.median_s / args.ops * 1e6:7.3f} us/op")


if __name__ == "__main__":
    main()
