"""A yardstick for the small-size targets: the least an eager reverse-mode engine in CPython can cost.

    python -m benchmarks.minimal_engine

A tensor with five slots, one rule function per op returning every parent's gradient, a heap walk: no
checks, no in-place guard, no value dropping, no anomaly or grad mode, 2-D broadcasting of a bias only.
It runs the harness's window scorer (d = 4, batch 1) and the chain of 100 ops on (4,), checks its
gradients against the hand-written ones, and prints both time ratios to hand-written NumPy beside
minigrad's, measured in the same run. Whatever minigrad costs above this engine is the price of its
features; what this engine costs above NumPy is the price of recording and walking a graph in Python.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import numpy as np

import minigrad as mg

from . import numpy_hand, workloads

_ids = itertools.count()


class Node:
    __slots__ = ("data", "grad", "parents", "rule", "args", "id")

    def __add__(self, other: Any) -> Node:
        return _op(np.add, _add_rule, self, other)

    def __radd__(self, other: Any) -> Node:
        return _op(np.add, _add_rule, other, self)

    def __sub__(self, other: Any) -> Node:
        return _op(np.subtract, _sub_rule, self, other)

    def __rsub__(self, other: Any) -> Node:
        return _op(np.subtract, _sub_rule, other, self)

    def __mul__(self, other: Any) -> Node:
        return _op(np.multiply, _mul_rule, self, other)

    def __matmul__(self, other: Any) -> Node:
        return _op(np.matmul, _matmul_rule, self, other)

    def sum(self) -> Node:
        return _node(np.asarray(self.data.sum()), _sum_rule, (self.data,), (self,))

    def mean(self) -> Node:
        return _node(np.asarray(self.data.sum() / self.data.size), _mean_rule, (self.data,), (self,))


def leaf(data: np.ndarray) -> Node:
    return _node(data, None, None, ())


def _node(data: np.ndarray, rule: Any, args: Any, parents: tuple) -> Node:
    t = Node.__new__(Node)
    t.data, t.grad, t.rule, t.args, t.parents, t.id = data, None, rule, args, parents, next(_ids)
    return t


def _op(fn: Any, rule: Any, a: Any, b: Any) -> Node:
    x, pa = (a.data, a) if type(a) is Node else (a, None)
    y, pb = (b.data, b) if type(b) is Node else (b, None)
    return _node(fn(x, y), rule, (x, y), (pa, pb))


def _add_rule(g: Any, ans: Any, a: Any, b: Any) -> tuple:
    return g, g


def _sub_rule(g: Any, ans: Any, a: Any, b: Any) -> tuple:
    return g, -g


def _mul_rule(g: Any, ans: Any, a: Any, b: Any) -> tuple:
    return g * b, g * a


def _matmul_rule(g: Any, ans: Any, a: Any, b: Any) -> tuple:
    if b.ndim == 1:
        return g.reshape(-1, 1) * b, a.T @ g
    return g @ b.T, a.T @ g


def _sum_rule(g: Any, ans: Any, x: Any) -> tuple:
    return (np.full(x.shape, g),)


def _mean_rule(g: Any, ans: Any, x: Any) -> tuple:
    return (np.full(x.shape, g / x.size),)


def _unary(fn: Any, rule: Any) -> Callable[[Node], Node]:
    return lambda x: _node(fn(x.data), rule, (x.data,), (x,))


class ops:  # the namespace the harness's losses call: ops.tanh, ops.sin, ops.relu
    tanh = staticmethod(_unary(np.tanh, lambda g, ans, x: (g * (1 - ans * ans),)))
    sin = staticmethod(_unary(np.sin, lambda g, ans, x: (g * np.cos(x),)))
    relu = staticmethod(_unary(lambda x: np.maximum(x, 0), lambda g, ans, x: (g * (ans > 0),)))


def backward(root: Node) -> None:
    grads = {root: np.ones_like(root.data)}
    heap = [(-root.id, root)]
    while heap:
        node = heappop(heap)[1]
        g = grads.pop(node)
        if node.rule is None:
            node.grad = g if node.grad is None else node.grad + g
            continue
        for parent, pg in zip(node.parents, node.rule(g, node.data, *node.args)):
            if parent is None:
                continue
            if pg.shape != parent.data.shape:  # a broadcast bias: sum the leading axis away
                pg = pg.sum(0)
            if parent in grads:
                grads[parent] = grads[parent] + pg
            else:
                grads[parent] = pg
                heappush(heap, (-parent.id, parent))
        node.args = node.parents = None


def _best(fn: Callable[[], Any], calls: int, rounds: int = 30) -> float:
    for _ in range(max(3, calls * 3)):
        fn()
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def main(rounds: int = 30) -> None:
    rng = np.random.default_rng(0)
    window = workloads.window_case(4, 8, 1, "float64", rng)
    chain = workloads.chain_case((4,), "float64", rng)
    rows = []
    for case, loss, hand, calls in (
        (window, workloads.window_loss, numpy_hand.window, 200),
        (chain, workloads.chain_loss, numpy_hand.chain, 20),
    ):
        ours = {k: leaf(v) for k, v in case.wrt.items()}
        theirs = {k: mg.tensor(v, requires_grad=True) for k, v in case.wrt.items()}

        def step_minimal(ours: dict = ours, loss: Any = loss, case: Any = case) -> None:
            for t in ours.values():
                t.grad = None
            backward(loss(ops, ours, case.const))

        def step_minigrad(theirs: dict = theirs, loss: Any = loss, case: Any = case) -> None:
            for t in theirs.values():
                t.grad = None
            loss(mg, theirs, case.const).backward()

        def step_numpy(hand: Any = hand, case: Any = case) -> None:
            hand(case.wrt, case.const)

        step_minimal()
        step_minigrad()
        for name, g in hand(case.wrt, case.const)[1].items():  # all three agree before anything is timed
            np.testing.assert_allclose(ours[name].grad, g, rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(theirs[name].grad, g, rtol=1e-10, atol=1e-12)
        t_np = _best(step_numpy, calls, rounds)
        ratios = _best(step_minimal, calls, rounds) / t_np, _best(step_minigrad, calls, rounds) / t_np
        rows.append((case.label, t_np, *ratios))
    print(f"{'workload':24} {'numpy/step':>11} {'minimal engine':>15} {'minigrad':>9}")
    for label, t_np, r_min, r_mg in rows:
        print(f"{label:24} {t_np * 1e6:8.1f} µs {r_min:14.2f}x {r_mg:8.2f}x")


if __name__ == "__main__":
    main()
