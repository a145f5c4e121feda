"""Forward+backward benchmarks of minigrad against hand-written NumPy and its peers, in one run.

    python -m benchmarks [--workloads window,chain] [--dtypes float32] [--impls numpy,minigrad,torch]
                         [--repeats 15] [--quick] [--json out.json] [--chart out.png] [--no-memory]
                         [--only "B=4096,1000x1000,mlp"] [--fresh]

For every case (a workload at one size and dtype) each implementation is first checked to agree with
the NumPy reference (loss and every gradient), then timed side by side (``minigrad.benchmark.compare``,
the method a user can call on their own steps), then its peak memory for one step is measured. Prints a
table (time per step and ratio to NumPy for every implementation), writes JSON and a PNG chart.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"
    from benchmarks.threads import pin, threads_from_argv

    pin(threads_from_argv(sys.argv[1:]))  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

from benchmarks import report, timing  # noqa: E402
from benchmarks.frameworks import STEPS, TRACEABLE, minigrad_cross_entropy  # noqa: E402
from benchmarks.workloads import FAMILIES, Case, make_cases  # noqa: E402
from minigrad import benchmark  # noqa: E402

REFERENCE = "numpy"
TOLERANCE = {"float64": 1e-7, "float32": 2e-3}


class Mismatch(AssertionError):
    """An implementation's loss or gradient differs from the NumPy reference."""


def check(case: Case, impl: str, got: tuple, ref: tuple) -> None:
    """Raise ``Mismatch`` unless ``got`` = (loss, grads) agrees with ``ref`` within the dtype's tolerance."""
    tol = TOLERANCE[case.dtype]
    pairs = [("loss", np.asarray(got[0]), np.asarray(ref[0]))]
    pairs += [(f"d{k}", np.asarray(got[1][k]), ref[1][k]) for k in ref[1]]
    for name, a, b in pairs:
        if a.shape != b.shape:
            raise Mismatch(f"{impl} on {case.label} {case.dtype}: {name} has shape {a.shape}, the reference {b.shape}")
        scale = float(np.max(np.abs(b))) if b.size else 0.0
        err = float(np.max(np.abs(a - b))) if b.size else 0.0
        if not err <= tol * max(scale, 1e-30) + 1e-300:
            raise Mismatch(
                f"{impl} on {case.label} {case.dtype}: {name} differs from the reference by {err:.3g} "
                f"(largest |reference| {scale:.3g}, tolerance {tol:g} of it)"
            )


def build(case: Case, impls: list[str], notes: dict) -> tuple[dict, dict]:
    """The checked steps of ``case`` by name; a peer that is missing or disagrees is left out with a note."""
    ref_step, ref_np = STEPS[REFERENCE](case)
    ref_step()
    ref = ref_np(ref_step())
    steps, status = {}, {}
    for impl in impls:
        try:
            step, to_np = STEPS[impl](case)
        except ImportError as e:
            notes.setdefault(impl, f"skipped: not installed ({e.name or e}); pip install -e '.[bench]'")
            continue
        try:
            step()  # a first call: the check then also catches gradients that accumulate across steps
            check(case, impl, to_np(step()), ref)
        except Mismatch as e:
            status[impl] = str(e)
            if impl in (REFERENCE, "minigrad"):
                raise
            print(f"  ! {e}", file=sys.stderr)
            continue
        steps[impl], status[impl] = step, "ok"
    return steps, status


def run_case(case: Case, impls: list[str], repeats: int, sample_s: float, memory: bool, notes: dict) -> list[dict]:
    steps, status = build(case, impls, notes)
    # (compare freezes the collector's view of torch's, jax's... import-time heaps while it times)
    times = benchmark.compare(steps, repeats, reference=REFERENCE, sample_s=sample_s)
    records = []
    for impl in steps:
        rec: dict[str, Any] = {
            "workload": case.label,
            "family": case.family,
            "group": case.group,
            "batch": case.batch,
            "dtype": case.dtype,
            "impl": impl,
            **times[impl].as_dict(),
            "check": status[impl],
        }
        if memory:
            traced = impl in TRACEABLE
            rec["peak_bytes"] = benchmark.peak_bytes(steps[impl]) if traced else None
            rec["mem_method"] = "tracemalloc" if traced else "not measured (allocates outside tracemalloc's view)"
            rec["page_faults"] = timing.page_faults(steps[impl])
        records.append(rec)
    ref_mem = next((r.get("peak_bytes") for r in records if r["impl"] == REFERENCE), None)
    for r in records:
        r["mem_ratio"] = r["peak_bytes"] / ref_mem if memory and ref_mem and r.get("peak_bytes") is not None else None
    return records


def _case_in_child(case: Case, impls: list[str], repeats: int, sample_s: float, memory: bool) -> tuple:
    notes: dict[str, str] = {}
    return run_case(case, impls, repeats, sample_s, memory, notes), notes


def run_case_fresh(case: Case, impls: list[str], repeats: int, sample_s: float, memory: bool, notes: dict) -> list:
    """``run_case`` in a fresh process: the C allocator starts from its initial state for every case.

    In one long process, glibc's allocator tunes its thresholds to the largest arrays freed so far and
    gives the top of its heap back to the kernel when enough is freed there, so a case's time can depend
    on which cases ran before it (page faults of 0 or ~20 MB per step for the same NER step).
    """
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(1) as pool:  # the child inherits the pinned thread variables
        records, child_notes = pool.apply(_case_in_child, (case, impls, repeats, sample_s, memory))
    for impl, note in child_notes.items():
        notes.setdefault(impl, note)
    return records


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--workloads", default=",".join(FAMILIES), help=f"comma-separated subset of {','.join(FAMILIES)}")
    p.add_argument("--dtypes", default="float64,float32", help="comma-separated subset of float64,float32")
    p.add_argument("--impls", default=",".join(STEPS), help=f"comma-separated subset of {','.join(STEPS)}")
    p.add_argument("--repeats", type=int, default=None, help="timed rounds per case (default 15, quick 3)")
    p.add_argument("--quick", action="store_true", help="smoke mode: shrunk sizes, few rounds; numbers mean nothing")
    p.add_argument("--json", default="benchmarks/results.json", help="where to write the JSON ('' for none)")
    p.add_argument("--chart", default="benchmarks/results.png", help="where to write the PNG chart ('' for none)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--threads", type=int, default=1, help="threads per framework (default 1, see threads.py)")
    p.add_argument("--only", default="", help="comma-separated substrings: run the cases whose label holds one")
    p.add_argument("--fresh", action="store_true", help="run each case in a fresh process (see run_case_fresh)")
    args = p.parse_args(argv)
    for name, allowed in (("workloads", FAMILIES), ("dtypes", ("float64", "float32")), ("impls", tuple(STEPS))):
        chosen = [s for s in getattr(args, name).split(",") if s]
        bad = [s for s in chosen if s not in allowed]
        if bad or not chosen:
            p.error(f"--{name}: unknown {bad or 'empty list'}; choose from {','.join(allowed)}")
        setattr(args, name, chosen)
    if REFERENCE not in args.impls:
        args.impls.insert(0, REFERENCE)  # every ratio is to the NumPy reference
    if args.repeats is None:
        args.repeats = 3 if args.quick else 15
    return args


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmarks; return the results as written to JSON."""
    args = parse_args(argv)
    cases = make_cases(tuple(args.workloads), tuple(args.dtypes), quick=args.quick)
    if args.only:
        cases = [c for c in cases if any(s in c.label for s in args.only.split(",") if s)]
    notes: dict[str, str] = {}
    records: list[dict] = []
    started = time.time()
    for case in cases:
        print(f"{case.label} {case.dtype} ...", file=sys.stderr, flush=True)
        runner = run_case_fresh if args.fresh else run_case
        records += runner(case, args.impls, args.repeats, 0.002 if args.quick else 0.02, not args.no_memory, notes)
    result = {
        "meta": {
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
            "seconds": round(time.time() - started, 1),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "versions": report.versions(args.impls),
            "quick": args.quick,
            "repeats": args.repeats,
            "fresh_process_per_case": args.fresh,
            "threads": args.threads,
            "thread_variables": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
            "notes": notes,
            "minigrad_cross_entropy": minigrad_cross_entropy(),
        },
        "records": records,
    }
    print(report.table(result))
    if args.json:
        report.write_json(result, args.json)
        print(f"wrote {args.json}")
    if args.chart:
        print(report.chart(result, args.chart))
    return result


if __name__ == "__main__":
    main()
