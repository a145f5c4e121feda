"""Threads: graphs built at the same time in two threads, and ``no_grad`` switched in one of them.

``test_engine.py`` checks the basic cases with one hand-over between the threads. Here the threads
take turns operation by operation (``Lockstep``): each hands over in the middle of building its graph,
inside ``no_grad`` or inside a transform, so the interleaving is certain rather than left to the
scheduler (which, measured on a busy 2-core machine, often ran a whole 3 ms round of one thread
without a switch). Backward then runs in both threads at once, started together at a barrier.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

import numpy as np

import minigrad as mg

ROUNDS = 20
STEPS = 100


class Lockstep:
    """Two threads that run strictly by turns: ``start``, then ``pause`` to hand over, then ``finish``."""

    def __init__(self) -> None:
        self.turn = [threading.Semaphore(1), threading.Semaphore(0)]
        self.log: list[int] = []

    def start(self, k: int) -> None:
        self.turn[k].acquire()

    def pause(self, k: int) -> None:
        self.log.append(k)
        self.turn[1 - k].release()
        self.turn[k].acquire()

    def finish(self, k: int) -> None:
        self.turn[1 - k].release()


def run_two(worker: Callable[[int, Lockstep, threading.Barrier], None]) -> Lockstep:
    """Run ``worker(0, ...)`` and ``worker(1, ...)`` in two threads; re-raise the first error."""
    lock, barrier, errors = Lockstep(), threading.Barrier(2), []

    def guarded(k: int) -> None:
        try:
            worker(k, lock, barrier)
        except BaseException as e:  # handed to the main thread; free the other thread
            errors.append(e)
            barrier.abort()
            lock.finish(k)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    if errors:
        raise errors[0]
    return lock


def chain_gradient(x: np.ndarray, a: float, b: float) -> np.ndarray:
    """∂/∂x of y = tanh(y·a + b) applied STEPS times, by the chain rule written out in NumPy."""
    d, y = np.ones_like(x), x
    for _ in range(STEPS):
        y = np.tanh(y * a + b)
        d = d * a * (1 - y * y)
    return d


def test_graphs_built_by_turns_in_two_threads_backprop_correctly():
    results: dict = {}

    def worker(k, lock, barrier):
        a, b = 0.9 + 0.1 * k, 0.2 * k - 0.1
        x = mg.tensor(np.linspace(-1, 1, 4) * (k + 1), requires_grad=True)
        grads, ids = [], []
        for _ in range(ROUNDS):
            lock.start(k)
            y = x
            for _ in range(STEPS):
                y = mg.tanh(y * a + b)
                ids.append(y._id)
                lock.pause(k)  # the other thread adds to its graph now
            lock.finish(k)
            barrier.wait()  # both graphs are complete: backward in both threads at once
            x.grad = None
            y.sum().backward()
            grads.append(x.grad)
            barrier.wait()
        results[k] = (x.data, a, b, grads, ids)

    lock = run_two(worker)
    assert lock.log == [0, 1] * (ROUNDS * STEPS)  # the graphs really were built by turns
    ids0, ids1 = results[0][4], results[1][4]
    assert all(i < j < k for i, j, k in zip(ids0, ids1, ids0[1:]))  # so their nodes' ids interleave
    for k in (0, 1):
        x, a, b, grads, _ = results[k]
        expected = chain_gradient(x, a, b)
        for g in grads:
            np.testing.assert_allclose(g, expected, rtol=1e-12)


def test_no_grad_in_one_thread_never_stops_the_other_from_recording():
    # thread 0 hands over while inside no_grad (the context manager, then the decorator); thread 1
    # records at that moment; thread 0, still inside, records nothing
    seen = {"inside": [], "other": [], "after": []}

    def worker(k, lock, barrier):
        x = mg.tensor([1.0], requires_grad=True)

        @mg.no_grad()
        def inside_decorated():
            lock.pause(k)
            return x * 2.0

        lock.start(k)
        for _ in range(ROUNDS):
            if k == 0:
                with mg.no_grad():
                    lock.pause(k)
                    seen["inside"].append((x * 2.0).requires_grad or mg.is_grad_enabled())
                seen["inside"].append(inside_decorated().requires_grad)
                seen["after"].append((x * 2.0).requires_grad and mg.is_grad_enabled())
            else:
                for _ in range(2):  # once while thread 0 is in each kind of no_grad
                    seen["other"].append((x * 3.0).requires_grad and mg.is_grad_enabled())
                    lock.pause(k)
        lock.finish(k)

    lock = run_two(worker)
    assert lock.log == [0, 1] * (2 * ROUNDS)
    assert seen == {"inside": [False] * (2 * ROUNDS), "other": [True] * (2 * ROUNDS), "after": [True] * ROUNDS}


def test_two_threads_inside_grad_at_once_over_shared_parameters():
    # mg.grad writes no .grad, so two threads may differentiate functions of the same parameters at
    # the same time; each hands over in the middle of its function, while both traces are open
    w = mg.tensor(np.array([[0.5, -1.0], [2.0, 0.3]]), requires_grad=True)
    results: dict = {}

    def worker(k, lock, barrier):
        x = np.array([1.0, -0.5]) * (k + 1)

        def f(v):
            z = w @ v
            lock.pause(k)  # the other thread's trace runs now
            return mg.tanh(z).sum()

        lock.start(k)
        results[k] = (x, [mg.grad(f)(x).data for _ in range(ROUNDS)])
        lock.finish(k)

    lock = run_two(worker)
    assert lock.log == [0, 1] * ROUNDS
    assert w.grad is None
    for k in (0, 1):
        x, grads = results[k]
        expected = w.data.T @ (1 - np.tanh(w.data @ x) ** 2)  # ∂/∂x Σ tanh(Wx) = Wᵀ f′(Wx)
        for g in grads:
            np.testing.assert_allclose(g, expected, rtol=1e-12)


def test_backward_from_two_threads_into_a_shared_leaf_loses_no_update():
    # NumPy releases the interpreter's lock inside a large addition, so without a lock around the
    # accumulation two threads' `leaf.grad + grad` interleave and one update is lost (measured: 459
    # instead of 600). Free-running threads here: the race needs no forced turns, only big arrays.
    w = mg.tensor(np.zeros(200_000), requires_grad=True)
    barrier = threading.Barrier(2)

    def work():
        barrier.wait()
        for _ in range(150):
            (w * 1.0).sum().backward()

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=work) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        sys.setswitchinterval(previous)
    assert w.grad.min() == w.grad.max() == 300.0
