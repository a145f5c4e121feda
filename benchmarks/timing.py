"""Timing and memory of forward+backward steps, interleaved so that machine noise hits all alike.

Timing: each step is warmed up (at least 3 calls and ~50 ms; this also compiles JAX), then a
number of calls per sample is chosen so that one sample lasts about ``sample_s``. The samples are
taken in rounds: every round times each implementation once, in an order rotated from round to
round, so that a slow phase of the machine is shared by all and never falls on one alone.
Each sample starts with one untimed call: at large sizes a step's time depends on the state in which
the previous step left the C allocator (freed pages reused, or fresh pages faulted in), and that
state must be this implementation's own, as in a process that runs only it, not its neighbour's.
The result per implementation is the median time per step and the interquartile range; the ratio
of two implementations is the median of their round-by-round ratios (``paired_ratio``).

The runner freezes the garbage collector's view of everything made before the timing
(``gc.freeze``): with PyTorch and JAX imported, each collection would otherwise walk their large
import-time heaps, a cost charged to whichever implementation makes the most Python objects (and
absent from a process that imports minigrad alone). Collection itself stays on.

Peak memory: the largest amount of memory allocated at once during one step, above what was
allocated before it. For NumPy-based implementations (NumPy, minigrad, HIPS autograd, MyGrad)
it is measured with ``tracemalloc``, which sees both Python objects and NumPy's array buffers.
PyTorch and JAX allocate outside Python's allocator, and the growth of the resident set in a process
that already ran the other implementations is mostly memory the C allocator reuses (it read 0 for
PyTorch's chain on (1000, 1000)), so their peak memory is not reported.
"""

from __future__ import annotations

import gc
import resource
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any


def warm_up(step: Callable[[], Any], min_calls: int = 3, min_s: float = 0.05) -> float:
    """Call ``step`` until both limits are passed; return the time of the fastest call."""
    best, spent, calls = float("inf"), 0.0, 0
    while calls < min_calls or spent < min_s:
        t0 = time.perf_counter()
        step()
        dt = time.perf_counter() - t0
        best, spent, calls = min(best, dt), spent + dt, calls + 1
    return best


def best_per_call(fn: Callable[[], Any], rounds: int, calls: int) -> float:
    """Seconds per call of ``fn`` after ``warm_up``: the best over ``rounds`` of the average of ``calls`` calls.

    For the stand-alone yardsticks (one implementation at a time); the harness uses ``interleaved``.
    """
    warm_up(fn)
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - t0) / calls)
    return best


def interleaved(steps: dict[str, Callable[[], Any]], repeats: int, sample_s: float = 0.02) -> dict[str, dict]:
    """Median and quartiles of the time per call of each step, over ``repeats`` interleaved rounds."""
    names = list(steps)
    inner = {}
    for name in names:
        inner[name] = max(1, int(sample_s / max(warm_up(steps[name], min_s=2.5 * sample_s), 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            step, n = steps[name], inner[name]
            step()  # untimed: leaves the memory allocator in this implementation's own steady state
            t0 = time.perf_counter()
            for _ in range(n):
                step()
            samples[name].append((time.perf_counter() - t0) / n)
    out = {}
    for name, s in samples.items():
        q = statistics.quantiles(s, n=4) if len(s) > 1 else [s[0]] * 3
        out[name] = {"median_s": statistics.median(s), "q1_s": q[0], "q3_s": q[2], "samples_s": s}
        out[name]["calls_per_sample"] = inner[name]
    return out


def paired_ratio(samples: list[float], reference: list[float]) -> float:
    """The median of the round-by-round ratios: a slow phase of the machine divides out of each pair."""
    return statistics.median(a / b for a, b in zip(samples, reference))


def peak_traced(step: Callable[[], Any]) -> int:
    """Peak bytes allocated through Python's and NumPy's allocators during one call, above the start."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = step()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del out
    return peak - base


def page_faults(step: Callable[[], Any]) -> int:
    """Minor page faults during one call (after one call to settle): fresh memory touched, a stable count
    where time at large sizes is dominated by the kernel handing out pages."""
    step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
