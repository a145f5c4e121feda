"""Time your own step functions the way ``python -m benchmarks`` times minigrad against NumPy and its peers.

>>> from minigrad import benchmark
>>> result = benchmark.compare({"numpy": numpy_step, "minigrad": minigrad_step}, rounds=15)  # doctest: +SKIP
>>> print(result)  # time per step, its spread and the ratio to the first step, one line each  # doctest: +SKIP
>>> result["minigrad"].median_s, result["minigrad"].ratio  # doctest: +SKIP

The method, shared with the harness (``benchmarks/run.py`` calls ``compare``):

1. Warm-up: each step is called at least 3 times and for 2.5 samples' worth of time (caches, JIT
   compilers such as JAX's and the allocator settle). Its fastest call sets how many calls make one
   sample, so that a sample lasts about ``sample_s``: a timer's resolution and a call's overhead vanish.
2. Rounds: every round takes one sample of each step, in an order rotated from round to round, so that
   a slow phase of the machine falls on all of them and never on one alone. Each sample starts with one
   untimed call: at large sizes a step's time depends on the state the previous call left the C
   allocator in (pages reused or faulted in anew), and that state must be the step's own, not its
   neighbour's.
3. Results: per step, the median time per call over the rounds and its quartiles; the ratio of a step
   to the reference is the median of the round-by-round ratios, so that a slow phase divides out.
4. The garbage collector's view of everything made before the timing is frozen (``gc.freeze``) and
   thawed after: otherwise each collection walks every import-time heap (PyTorch's, JAX's) on the time
   of whichever step makes the most Python objects. Collection itself stays on.

Threads are not set here: NumPy's BLAS reads ``OPENBLAS_NUM_THREADS`` (``OMP_NUM_THREADS``, ...) once,
when NumPy is first imported, so set them before that (the harness runs one thread per framework).
"""

from __future__ import annotations

import gc
import os
import statistics
import time
import tracemalloc
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Clock = Callable[[], float]
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def fmt_time(s: float) -> str:
    """Seconds as ``28.5 µs``, ``4.18 ms`` or ``1.20 s``."""
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def warm_up(
    step: Callable[[], Any], min_calls: int = 3, min_s: float = 0.05, clock: Clock = time.perf_counter
) -> float:
    """Call ``step`` until both limits are passed; return the time of the fastest call."""
    best, spent, calls = float("inf"), 0.0, 0
    while calls < min_calls or spent < min_s:
        t0 = clock()
        step()
        dt = clock() - t0
        best, spent, calls = min(best, dt), spent + dt, calls + 1
    return best


def best_per_call(fn: Callable[[], Any], rounds: int, calls: int, clock: Clock = time.perf_counter) -> float:
    """Seconds per call of ``fn`` after ``warm_up``: the best over ``rounds`` of the average of ``calls`` calls.

    For stand-alone yardsticks (one implementation at a time); comparisons use ``compare``.
    """
    warm_up(fn, clock=clock)
    best = float("inf")
    for _ in range(rounds):
        t0 = clock()
        for _ in range(calls):
            fn()
        best = min(best, (clock() - t0) / calls)
    return best


def interleaved(
    steps: Mapping[str, Callable[[], Any]], rounds: int, sample_s: float = 0.02, clock: Clock = time.perf_counter
) -> dict[str, tuple[list[float], int]]:
    """Steps 1 and 2 of the method: for each step, (seconds per call in each round, calls per sample)."""
    names = list(steps)
    inner = {name: max(1, int(sample_s / max(warm_up(steps[name], min_s=2.5 * sample_s, clock=clock), 1e-9)))
             for name in names}  # fmt: skip
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            step, n = steps[name], inner[name]
            step()  # untimed: leaves the memory allocator in this step's own steady state
            t0 = clock()
            for _ in range(n):
                step()
            samples[name].append((clock() - t0) / n)
    return {name: (samples[name], inner[name]) for name in names}


def paired_ratio(samples: list[float], reference: list[float]) -> float:
    """The median of the round-by-round ratios: a slow phase of the machine divides out of each pair."""
    return statistics.median(a / b for a, b in zip(samples, reference))


@dataclass
class Timing:
    """One step's times: ``samples_s`` holds the seconds per call of each round."""

    name: str
    samples_s: list[float]
    calls_per_sample: int
    ratio: float  # to the comparison's reference: the median of the per-round ratios (1.0 for the reference)

    @property
    def median_s(self) -> float:
        return statistics.median(self.samples_s)

    @property
    def quartiles_s(self) -> tuple[float, float]:
        s = self.samples_s
        q = statistics.quantiles(s, n=4) if len(s) > 1 else [s[0]] * 3
        return q[0], q[2]

    @property
    def iqr_s(self) -> float:
        q1, q3 = self.quartiles_s
        return q3 - q1

    def __str__(self) -> str:
        spread = self.iqr_s / self.median_s * 100 if self.median_s > 0 else 0.0
        return (
            f"{self.name}: {fmt_time(self.median_s)} per call (±IQR {spread:.0f}%), median of "
            f"{len(self.samples_s)} rounds of {self.calls_per_sample} calls"
        )

    def as_dict(self) -> dict:
        q1, q3 = self.quartiles_s
        return {"median_s": self.median_s, "q1_s": q1, "q3_s": q3, "samples_s": list(self.samples_s),
                "calls_per_sample": self.calls_per_sample, "ratio": self.ratio}  # fmt: skip


@dataclass
class Comparison:
    """What ``compare`` returns: ``result[name]`` is a ``Timing``; ``print(result)`` prints the table."""

    timings: dict[str, Timing]
    reference: str
    rounds: int
    notes: tuple[str, ...] = ()

    def __getitem__(self, name: str) -> Timing:
        return self.timings[name]

    def __iter__(self):
        return iter(self.timings)

    def table(self) -> str:
        width, vs = max(len("step"), *(len(n) for n in self.timings)), f"vs {self.reference}"
        head = f"{'step':<{width}}  {'time/step':>10}  {'±IQR':>5}  {vs:>9}"
        lines = [head, "-" * len(head)]
        for name, t in self.timings.items():
            spread = t.iqr_s / t.median_s * 100 if t.median_s > 0 else 0.0
            ratio = f"{t.ratio:.2f}x"
            lines.append(f"{name:<{width}}  {fmt_time(t.median_s):>10}  {spread:4.0f}%  {ratio:>{max(9, len(vs))}}")
        lines.append(f"time/step: median of {self.rounds} interleaved rounds; ±IQR: interquartile range over it")
        lines.append(f"vs {self.reference}: median of the per-round ratios of time per step (lower is faster)")
        return "\n".join(lines + [f"note: {note}" for note in self.notes])

    def __str__(self) -> str:
        return self.table()


def compare(
    steps: Mapping[str, Callable[[], Any]],
    rounds: int = 15,
    reference: str | None = None,
    sample_s: float = 0.02,
    freeze_gc: bool = True,
    clock: Clock = time.perf_counter,
) -> Comparison:
    """Time each step (a function of no arguments, e.g. one forward+backward pass) interleaved with the others.

    Parameters
    ----------
    steps : mapping of name to callable
        The steps to compare; give one to time it alone.
    rounds : int
        Timed rounds; each takes one sample of every step (the median is over these).
    reference : str, optional
        The step the ratios are to; by default the first.
    sample_s : float
        About how long one sample lasts (the calls per sample are chosen from the warm-up).
    freeze_gc : bool
        Freeze the collector's view of existing objects while timing (see the module docstring).
    clock : callable
        The timer, ``time.perf_counter``; a test may pass a fake one.

    Returns a ``Comparison``: ``result[name].median_s``, ``.quartiles_s``, ``.iqr_s``, ``.ratio``,
    ``.samples_s``; ``print(result)`` prints them as a table.
    """
    steps = dict(steps)
    if not steps:
        raise ValueError("benchmark.compare: no steps given; pass {'name': step_function, ...}")
    for name, step in steps.items():
        if not callable(step):
            raise TypeError(f"benchmark.compare: step {name!r} is a {type(step).__name__}, not a callable")
    reference = next(iter(steps)) if reference is None else reference
    if reference not in steps:
        raise ValueError(f"benchmark.compare: reference {reference!r} is not one of the steps {list(steps)}")
    if rounds < 1:
        raise ValueError(f"benchmark.compare: rounds must be at least 1, got {rounds}")
    thaw = freeze_gc and gc.get_freeze_count() == 0  # a caller's own frozen objects stay frozen
    if freeze_gc:
        gc.collect()
        gc.freeze()
    try:
        times = interleaved(steps, rounds, sample_s, clock)
    finally:
        if thaw:
            gc.unfreeze()
    ref = times[reference][0]
    timings = {name: Timing(name, s, n, paired_ratio(s, ref)) for name, (s, n) in times.items()}
    return Comparison(timings, reference, rounds, threads_note())


def threads_note() -> tuple[str, ...]:
    """A warning when NumPy's BLAS may run a pool of threads: idle pools spin, and the pools of steps timed
    in turn fight over the cores (measured on 2 cores: a 64-row MLP step took 316-422 µs with one thread,
    487 µs with an interquartile range of 2800 % with the default pool)."""
    if any(os.environ.get(v) for v in THREAD_VARIABLES) or (os.cpu_count() or 1) == 1:
        return ()
    return (
        "NumPy's BLAS may use several threads (none of " + ", ".join(THREAD_VARIABLES) + " is set): for steady "
        "numbers set OPENBLAS_NUM_THREADS=1 (and OMP_NUM_THREADS=1) before NumPy is imported",
    )


def measure(step: Callable[[], Any], rounds: int = 15, sample_s: float = 0.02, **options: Any) -> Timing:
    """``compare`` for one step alone: its ``Timing``."""
    return compare({getattr(step, "__name__", "step"): step}, rounds, sample_s=sample_s, **options).timings.popitem()[1]


def peak_bytes(step: Callable[[], Any]) -> int:
    """Peak bytes allocated at once during one call of ``step``, above the start, by ``tracemalloc``.

    It sees Python objects and NumPy's array buffers; libraries with allocators of their own (PyTorch,
    JAX) allocate outside its view.
    """
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
