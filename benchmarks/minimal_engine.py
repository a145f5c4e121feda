"""Yardsticks for the small-size targets: what recording and walking a graph cost in CPython without minigrad.

    python -m benchmarks.minimal_engine

- The minimal engine: a tensor with six slots, one rule function per op returning every parent's gradient,
  no checks, no in-place guard, no value dropping, no anomaly or grad mode, 2-D broadcasting of a bias only.
  It handles any graph, as an engine must, walking it in one of two ways: by a heap of creation ids (as
  minigrad does) or down a tape of every node recorded, in reverse (as a gradient tape does; it needs no
  ordering at all, but a tape shared by every graph made meanwhile).
- The chain tape (the chain only): each op a link to the one before, each rule returning one gradient,
  the walk a loop down the links; no heap, no dictionary, no tuples. It is the floor: what an op costs when
  the code knows it is walking a chain of single-input ops.

They run the harness's workloads (the window scorer d = 4 at batch 1 and the chain of 100 ops on (4,); the
tape the chain only), check their gradients against the hand-written ones, and print their time ratios to
hand-written NumPy beside minigrad's, measured in the same run. What minigrad costs above the minimal
engine is the price of its features; what the minimal engine costs above the tape is the price of handling
any graph rather than one chain (its rules also compute every parent's gradient, the number's in ``h * 1.5``
too, as a general rule table written this simply does).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any

import numpy as np

import minigrad as mg
from minigrad.benchmark import best_per_call

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


_tape: list = []  # every recorded node in creation order, for ``backward_taped`` (``backward`` just clears it)


def _node(data: np.ndarray, rule: Any, args: Any, parents: tuple) -> Node:
    t = Node.__new__(Node)
    t.data, t.grad, t.rule, t.args, t.parents, t.id = data, None, rule, args, parents, next(_ids)
    if rule is not None:
        _tape.append(t)
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
    _tape.clear()


def backward_taped(root: Node) -> None:
    """The same walk in reverse creation order, down the tape instead of a heap (as a gradient tape does)."""
    grads = {root: np.ones_like(root.data)}
    for node in reversed(_tape):
        g = grads.pop(node, None)
        if g is None:  # recorded, but not on the way to the root
            continue
        for parent, pg in zip(node.parents, node.rule(g, node.data, *node.args)):
            if parent is None:
                continue
            if pg.shape != parent.data.shape:
                pg = pg.sum(0)
            if parent.rule is None:  # a leaf: straight into .grad
                parent.grad = pg if parent.grad is None else parent.grad + pg
            elif parent in grads:
                grads[parent] = grads[parent] + pg
            else:
                grads[parent] = pg
        node.args = node.parents = None
    _tape.clear()


# -- the chain tape ------------------------------------------------------------------------------------
class Link:
    __slots__ = ("data", "saved", "rule", "prev", "grad")  # saved: what the rule reads besides the value

    def __mul__(self, c: float) -> Link:
        return _link(self.data * c, c, _scale_rule, self)

    def __add__(self, c: float) -> Link:
        return _link(self.data + c, None, _shift_rule, self)

    def sum(self) -> Link:
        return _link(np.asarray(self.data.sum()), self.data.shape, _fill_rule, self)


def _link(data: np.ndarray, saved: Any, rule: Any, prev: Any) -> Link:
    t = Link.__new__(Link)
    t.data, t.saved, t.rule, t.prev, t.grad = data, saved, rule, prev, None
    return t


def _scale_rule(g: Any, ans: Any, c: Any) -> Any:
    return g * c


def _shift_rule(g: Any, ans: Any, c: Any) -> Any:
    return g


def _fill_rule(g: Any, ans: Any, shape: Any) -> Any:
    return np.full(shape, g)


def _tanh_rule(g: Any, ans: Any, _: Any) -> Any:
    return g * (1 - ans * ans)


def _sin_rule(g: Any, ans: Any, x: Any) -> Any:
    return g * np.cos(x)


class tape_ops:  # the chain's namespace: ops.tanh, ops.sin
    tanh = staticmethod(lambda x: _link(np.tanh(x.data), None, _tanh_rule, x))
    sin = staticmethod(lambda x: _link(np.sin(x.data), x.data, _sin_rule, x))


def tape_backward(root: Link) -> None:
    g, node = np.ones_like(root.data), root
    while node.rule is not None:
        g = node.rule(g, node.data, node.saved)
        node.prev, node = None, node.prev
    node.grad = g


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

        def step_taped(ours: dict = ours, loss: Any = loss, case: Any = case) -> None:
            for t in ours.values():
                t.grad = None
            backward_taped(loss(ops, ours, case.const))

        def step_minigrad(theirs: dict = theirs, loss: Any = loss, case: Any = case) -> None:
            for t in theirs.values():
                t.grad = None
            loss(mg, theirs, case.const).backward()

        def step_numpy(hand: Any = hand, case: Any = case) -> None:
            hand(case.wrt, case.const)

        def step_tape(loss: Any = loss, case: Any = case) -> Link:
            x = _link(case.wrt["x"], None, None, None)
            tape_backward(loss(tape_ops, {"x": x}, case.const))
            return x

        steps = [step_minimal, step_taped, step_minigrad] + ([step_tape] if case.family == "chain" else [])
        step_minigrad()
        expected = hand(case.wrt, case.const)[1]
        for minimal in (step_minimal, step_taped):
            minimal()
            for name, g in expected.items():
                np.testing.assert_allclose(ours[name].grad, g, rtol=1e-10, atol=0)
        for name, g in expected.items():  # all agree before anything is timed
            np.testing.assert_allclose(theirs[name].grad, g, rtol=1e-10, atol=0)
            if case.family == "chain":
                np.testing.assert_allclose(step_tape().grad, g, rtol=1e-10, atol=0)
        t_np = best_per_call(step_numpy, rounds, calls)
        rows.append((case.label, t_np, *(best_per_call(step, rounds, calls) / t_np for step in steps)))
    heads = ("minimal, heap", "minimal, tape", "minigrad", "chain tape")
    print(f"{'workload':24} {'numpy/step':>11}" + "".join(f" {h:>14}" for h in heads))
    for label, t_np, *ratios in rows:
        cells = "".join(f" {r:13.2f}x" for r in ratios)
        print(f"{label:24} {t_np * 1e6:8.1f} µs{cells}")


if __name__ == "__main__":
    main()
