"""Network workloads: one forward+backward step of a layer stack in minigrad, PyTorch eager and ``mg.compile``.

``python -m benchmarks.networks [--only cnn,gru] [--quick] [--json F]``

Each ``benchmarks/net_*.py`` module holds ``WORKLOADS``: a list of ``NetCase``. A case's ``build()`` makes
the same network in each framework, with the same weights (PyTorch's are loaded from minigrad's
``state_dict``, ``twin_of``) and the same inputs, and returns the steps by name (``training_steps``):
``"torch"`` (the reference of every ratio), ``"minigrad"`` and ``"minigrad compiled"``. Each step runs one
forward and backward pass with the gradients cleared first, and returns the loss and the gradients as NumPy
arrays, which are checked to agree before anything is timed.

Times: ``minigrad.benchmark.compare``, interleaved rounds, ratios as the median of the per-round ratios.
Memory: the peak bytes of live arrays during one warmed-up step, above the state before it (``peak_bytes``):
``tracemalloc`` for minigrad, the profiler's allocation events for PyTorch. (The peak resident set was tried
first and dropped: its growth counts the pages glibc unmaps after a step and faults in again at the next, not
what a step holds; with glibc told to keep its pages, minigrad's growth read 0 and PyTorch's 0.9–2 MiB.)
"""

from __future__ import annotations

if __name__ == "__main__":  # one thread per framework, set before NumPy loads its BLAS (see threads.py)
    from benchmarks.threads import pin

    pin(1)

import argparse
import gc
import importlib
import json
import pkgutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minigrad import benchmark

Step = Callable[[], Any]
TOLERANCE = {"float64": 1e-8, "float32": 2e-3}


@dataclass
class NetCase:
    """One network workload at one batch size: ``build(batch, dtype) -> {name: step}``."""

    family: str
    label: str
    batch: int
    build: Callable[[int, str], dict[str, Step]]
    quick_batch: int | None = None


def twin_of(net: Any, twin: Any, dtype: str) -> Any:
    """The PyTorch module ``twin`` in ``dtype`` with minigrad's ``net``'s weights, through the state_dict."""
    import torch

    twin = twin.to(getattr(torch, dtype))
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in net.state_dict().items()})
    return twin


def training_steps(net: Any, twin: Any, loss: Callable, torch_loss: Callable, x: Any, xt: Any) -> dict[str, Step]:
    """The three steps of a case: clear the gradients, ``loss(net, x)`` (``torch_loss(twin, xt)``), backward;
    each returns the loss and the parameters' gradients as arrays. The compiled one traces ``loss`` once."""
    import minigrad as mg

    params, tparams = list(net.parameters()), list(twin.parameters())

    def minigrad_step() -> list:
        for p in params:
            p.grad = None
        value = loss(net, x)
        value.backward()
        return [value.data] + [p.grad for p in params]

    def torch_step() -> list:
        for p in tparams:
            p.grad = None
        value = torch_loss(twin, xt)
        value.backward()
        return [value.detach().numpy()] + [p.grad.numpy() for p in tparams]

    @mg.compile
    def compiled(xb: Any) -> Any:
        value = loss(net, xb)
        value.backward()
        return value

    def compiled_step() -> list:
        for p in params:
            p.grad = None
        value = compiled(x)
        return [value.data] + [p.grad for p in params]

    return {"torch": torch_step, "minigrad": minigrad_step, "minigrad compiled": compiled_step}


def classifier_steps(net: Any, twin: Any, x: np.ndarray, y: np.ndarray) -> dict[str, Step]:
    """``training_steps`` for logits scored by the mean cross-entropy against integer targets ``y``."""
    import torch

    from minigrad import nn

    yt = torch.from_numpy(y)
    return training_steps(
        net,
        twin,
        lambda m, xb: nn.functional.cross_entropy(m(xb), y),
        lambda m, xb: torch.nn.functional.cross_entropy(m(xb), yt),
        x,
        torch.from_numpy(x),
    )


def cases() -> list[NetCase]:
    """Every ``WORKLOADS`` entry of every ``benchmarks/net_*.py`` module."""
    found = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda m: m.name):
        if info.name.startswith("net_"):
            found += importlib.import_module(f"benchmarks.{info.name}").WORKLOADS
    return found


def _arrays(out: Any) -> list[np.ndarray]:
    items = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(a.detach() if hasattr(a, "detach") else a) for a in items]


def check(label: str, steps: dict[str, Step], dtype: str) -> None:
    """Every step agrees with the first one, loss and gradients, or the run stops naming the step."""
    names = list(steps)
    ref = _arrays(steps[names[0]]())
    for name in names[1:]:
        steps[name]()  # a first call: gradients that accumulate across steps show up in the second
        got = _arrays(steps[name]())
        if len(got) != len(ref):
            raise AssertionError(f"{label}: {name} returned {len(got)} arrays, {names[0]} {len(ref)}")
        for i, (a, b) in enumerate(zip(got, ref)):
            scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
            err = float(np.max(np.abs(a - b))) / scale if a.size else 0.0
            if a.shape != b.shape or not err <= TOLERANCE[dtype]:
                raise AssertionError(
                    f"{label}: {name} output {i} differs from {names[0]}: {a.shape} vs {b.shape}, err {err:.2e}"
                )


def torch_peak_bytes(step: Step) -> int:
    """Peak bytes of live tensors during one call of a PyTorch ``step``, above the start: the running sum of
    the profiler's allocation and free events (``profile_memory``), in the order they happened."""
    from torch.profiler import ProfilerActivity, profile

    gc.collect()
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    live = peak = 0
    for event in sorted(prof.events(), key=lambda e: e.time_range.start):
        # (a free of a tensor made before the step, the last step's gradients, is not let below the start:
        # tracemalloc, on minigrad's side, does not count frees of what it did not see allocated either)
        live = max(live + event.self_cpu_memory_usage, 0)
        peak = max(peak, live)
    return peak


def peak_bytes(name: str, step: Step) -> int:
    """Peak bytes of live arrays during one warmed-up call of ``step``: ``tracemalloc`` for minigrad (it sees
    every NumPy buffer), the profiler's memory events for PyTorch (whose allocator ``tracemalloc`` cannot see)."""
    step()
    return torch_peak_bytes(step) if name == "torch" else benchmark.peak_bytes(step)


def run(only: list[str], dtype: str, quick: bool, rounds: int, memory: bool) -> list[dict]:
    records = []
    for case in cases():
        if only and not any(s in case.label for s in only):
            continue
        batch = (case.quick_batch or 1) if quick else case.batch
        print(f"{case.label} {dtype} ...", file=sys.stderr, flush=True)
        try:
            steps = case.build(batch, dtype)
        except ImportError as e:
            print(f"  skipped: {e}", file=sys.stderr)
            continue
        check(case.label, steps, dtype)
        result = benchmark.compare(steps, rounds, reference="torch", sample_s=0.002 if quick else 0.02)
        print(result, file=sys.stderr)
        for name in steps:
            rec = {"workload": case.label, "family": case.family, "batch": batch, "dtype": dtype, "impl": name}
            rec.update(result[name].as_dict())
            rec["peak_bytes"] = peak_bytes(name, steps[name]) if memory else None
            records.append(rec)
        if memory:
            ref = next(r["peak_bytes"] for r in records[-len(steps) :] if r["impl"] == "torch")
            for r in records[-len(steps) :]:
                r["mem_ratio"] = r["peak_bytes"] / ref if ref > 0 else None
    return records


def table(records: list[dict]) -> str:
    head = f"{'workload':<42} {'impl':<18} {'time/step':>10} {'vs torch':>9} {'peak live':>10} {'mem vs torch':>12}"
    lines = [head, "-" * len(head)]
    for r in records:
        mem = "" if r.get("peak_bytes") is None else f"{r['peak_bytes'] / 2**20:.2f} MiB"
        mr = "" if r.get("mem_ratio") is None else f"{r['mem_ratio']:.2f}x"
        t = benchmark.fmt_time(r["median_s"])
        lines.append(f"{r['workload']:<42} {r['impl']:<18} {t:>10} {r['ratio']:>8.2f}x {mem:>10} {mr:>12}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.networks", description=__doc__.splitlines()[0])
    p.add_argument("--only", default="", help="comma-separated substrings of the workload labels")
    p.add_argument("--dtype", default="float32", choices=("float32", "float64"))
    p.add_argument("--quick", action="store_true", help="smoke mode: batch 1, few rounds; numbers mean nothing")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 15, quick 3)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    p.add_argument("--json", default="", help="where to write the records as JSON")
    args = p.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 15)
    records = run([s for s in args.only.split(",") if s], args.dtype, args.quick, rounds, not args.no_memory)
    print(table(records))
    if args.json:
        Path(args.json).write_text(json.dumps(records, indent=1))
    return records


if __name__ == "__main__":
    main()
