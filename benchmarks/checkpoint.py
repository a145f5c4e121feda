"""Gradient checkpointing: peak memory and time of a deep MLP's forward+backward, checkpointed against not.

    python -m benchmarks.checkpoint            # 64 tanh layers of width 512, batch 256, float32, 8 segments
    python -m benchmarks.checkpoint --quick    # a smoke run: small sizes, numbers mean nothing

Each step runs one forward and backward pass of ``Sequential(Linear(512, 512), Tanh(), ...)`` with the gradients
cleared first, and returns the gradients, which are checked to agree before anything is measured. The
checkpointed step is ``nn.utils.checkpoint_sequential(net, segments, x)`` (all segments but the last run under
``mg.checkpoint``). Two workloads:

- **train**: the gradients of the loss with respect to the parameters (and the input), as in training;
- **activations**: the parameters frozen, the gradient with respect to the input only. Its peak is what the
  graph holds for backward, the memory checkpointing trades for time; in *train* the parameters' gradients
  (64 MiB here, allocated during backward, the same in both steps) are added to it;
- **train, .grad kept**: *train* without clearing the gradients between steps (they accumulate, as with
  ``zero_grad(set_to_none=False)`` in PyTorch): the 64 MiB of ``.grad`` exist before the step, and backward adds
  each new gradient into its ``.grad`` as soon as it is complete, so the peak is again what the graph holds.

Memory: ``minigrad.benchmark.peak_bytes`` (``tracemalloc``: the peak of live allocations during one warmed-up
step, above the state before it), as ``benchmarks.networks`` measures minigrad. Times: ``benchmark.compare``,
interleaved rounds in one run, ratios as the median of the per-round ratios. One BLAS thread (threads.py).
"""

from __future__ import annotations

if __name__ == "__main__":  # one thread, set before NumPy loads its BLAS (see threads.py)
    from benchmarks.threads import pin

    pin(1)

import argparse
import gc
import tracemalloc
from collections.abc import Callable

import numpy as np

import minigrad as mg
from minigrad import benchmark, nn


def build(layers: int, width: int, batch: int, segments: int, train: bool, keep: bool = False) -> dict[str, Callable]:
    """{"unchecked": step, "checkpointed": step} for a ``layers``-deep tanh MLP; each step returns the gradients."""
    previous = mg.get_default_dtype()
    mg.set_default_dtype(np.float32)
    try:
        net = nn.Sequential(*[m for i in range(layers) for m in (nn.Linear(width, width, rng=i), nn.Tanh())])
    finally:
        mg.set_default_dtype(previous)
    for p in net.parameters():
        p.requires_grad = train
    x = mg.tensor(np.random.default_rng(0).standard_normal((batch, width)).astype(np.float32), requires_grad=True)

    def step(forward: Callable) -> Callable:
        def run() -> list:
            if not keep:
                net.zero_grad()
                x.grad = None
            forward(x).sum().backward()
            return [x.grad] + ([p.grad for p in net.parameters()] if train else [])

        return run

    return {
        "unchecked": step(net),
        f"checkpointed ({segments} segments)": step(lambda x: nn.utils.checkpoint_sequential(net, segments, x)),
    }


def check(steps: dict[str, Callable]) -> None:
    """The two steps give the same gradients (float32: to rounding, the recomputation runs the same ops)."""
    plain, checked = (step() for step in steps.values())
    for i, (a, b) in enumerate(zip(plain, checked)):
        if not np.allclose(a, b, rtol=1e-5, atol=1e-6):
            raise AssertionError(f"gradient {i} differs: largest difference {np.max(np.abs(a - b)):.3g}")


def _kept_peak(step: Callable) -> int:
    """Peak bytes of a step whose gradients stay allocated: ``tracemalloc`` traces one step first, so that the
    ``.grad`` arrays in place (which each step replaces by new ones) were allocated under its view; otherwise
    freeing an old one would not count and every new one would look like growth."""
    gc.collect()
    tracemalloc.start()
    try:
        step()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        step()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def measure(layers: int, width: int, batch: int, segments: int, rounds: int, quick: bool) -> list[dict]:
    records = []
    for workload, train, keep in (
        ("train", True, False),
        ("activations", False, False),
        ("train, .grad kept", True, True),
    ):
        steps = build(layers, width, batch, segments, train, keep)
        if not keep:  # (kept gradients accumulate: the steps are the train workload's, checked there)
            check(steps)
        times = benchmark.compare(steps, rounds, sample_s=0.002 if quick else 0.05)
        peak_of = _kept_peak if keep else benchmark.peak_bytes
        peaks = {name: peak_of(step) for name, step in steps.items() if step() is not None}
        reference = next(iter(steps))
        for name in steps:
            records.append({"workload": workload, "step": name, "median_s": times[name].median_s,
                            "time_ratio": times[name].ratio, "peak_bytes": peaks[name],
                            "mem_ratio": peaks[name] / peaks[reference]})  # fmt: skip
    return records


def table(records: list[dict]) -> str:
    head = f"{'workload':<18} {'step':<26} {'time/step':>10} {'time ratio':>10} {'peak':>11} {'peak ratio':>10}"
    lines = [head, "-" * len(head)]
    for r in records:
        time, peak = benchmark.fmt_time(r["median_s"]), r["peak_bytes"] / 2**20
        lines.append(f"{r['workload']:<18} {r['step']:<26} {time:>10} {r['time_ratio']:>9.2f}x {peak:>7.2f} MiB "
                     f"{r['mem_ratio']:>9.2f}x")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.checkpoint", description=__doc__.splitlines()[0])
    p.add_argument("--layers", type=int, default=64)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--segments", type=int, default=8, help="checkpoint_sequential's segments (default √64 = 8)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 11, quick 3)")
    p.add_argument("--quick", action="store_true", help="smoke mode: 8 layers of width 16, batch 4")
    args = p.parse_args(argv)
    if args.quick:
        args.layers, args.width, args.batch, args.segments = 8, 16, 4, 4
    rounds = args.rounds or (3 if args.quick else 11)
    records = measure(args.layers, args.width, args.batch, args.segments, rounds, args.quick)
    print(f"{args.layers} tanh layers of width {args.width}, batch {args.batch}, float32; ratios to unchecked")
    print(table(records))
    return records


if __name__ == "__main__":
    main()
