"""Profile one benchmark case in one implementation (default minigrad), to see where a step's time goes.

    python -m benchmarks.profile "window d=4 B=1" [--dtype float32] [--impl minigrad] [--steps 2000]
                                 [--tool cprofile|pyinstrument] [--quick]

``cprofile`` (the default, in the standard library) prints the functions by their own time;
``pyinstrument`` (in the ``[bench]`` extra, or ``pip install pyinstrument``) prints the call tree.
For a flame graph of the whole harness: ``py-spy record -o flame.svg -- python -m benchmarks ...``.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import pstats
import sys

from benchmarks.threads import pin

pin(1)

from benchmarks.frameworks import STEPS  # noqa: E402
from benchmarks.workloads import FAMILIES, make_cases  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__.splitlines()[0])
    p.add_argument("label", help='a case label as the table prints it, e.g. "chain 100 ops 4"')
    p.add_argument("--dtype", default="float64")
    p.add_argument("--impl", default="minigrad", choices=list(STEPS))
    p.add_argument("--steps", type=int, default=None, help="steps to profile (default: about 2 s worth)")
    p.add_argument("--tool", default="cprofile", choices=["cprofile", "pyinstrument"])
    p.add_argument("--quick", action="store_true", help="the smoke-mode sizes")
    args = p.parse_args(argv)
    if args.tool == "pyinstrument" and importlib.util.find_spec("pyinstrument") is None:
        p.error("--tool pyinstrument needs pyinstrument: the [bench] extra, or pip install pyinstrument")
    cases = {c.label: c for c in make_cases(FAMILIES, (args.dtype,), quick=args.quick)}
    if args.label not in cases:
        p.error(f"unknown case {args.label!r}; choose from: {', '.join(cases)}")
    step, _ = STEPS[args.impl](cases[args.label])
    import time

    t0 = time.perf_counter()
    for _ in range(3):
        step()
    per_step = (time.perf_counter() - t0) / 3
    steps = args.steps or max(1, int(2.0 / per_step))
    print(f"{args.impl} on {args.label} {args.dtype}: {steps} steps of ~{per_step * 1e6:.0f} µs", file=sys.stderr)
    if args.tool == "pyinstrument":
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002)
        profiler.start()
        for _ in range(steps):
            step()
        profiler.stop()
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        return
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
