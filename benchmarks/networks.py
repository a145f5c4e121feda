"""Network workloads: one forward+backward step of a layer stack in minigrad, PyTorch eager and ``mg.compile``.

``python -m benchmarks.networks [--only cnn,gru] [--quick] [--json F]``

Each ``benchmarks/net_*.py`` module holds ``WORKLOADS``: a list of ``NetCase``. A case's ``build()`` makes
the same network in each framework, with the same weights (PyTorch's are loaded from minigrad's
``state_dict``, ``twin_of``) and the same inputs, and returns the steps by name (``training_steps``):
``"torch"`` (the reference of every ratio), ``"minigrad"`` and ``"minigrad compiled"``. Each step runs one
forward and backward pass with the gradients cleared first, and returns the loss and the gradients as NumPy
arrays, which are checked to agree before anything is timed.

Times: ``minigrad.benchmark.compare``, interleaved rounds, ratios as the median of the per-round ratios.
Memory: each step runs in a fresh process, and its peak resident set above the state after one warm-up
call is reported (Linux's ``VmHWM``, reset through ``/proc/self/clear_refs``): PyTorch allocates outside
``tracemalloc``'s view, so both are measured the same coarse way (page-grained: small steps read 0).
"""

from __future__ import annotations

if __name__ == "__main__":  # one thread per framework, set before NumPy loads its BLAS (see threads.py)
    from benchmarks.threads import pin

    pin(1)

import argparse
import gc
import importlib
import json
import multiprocessing
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


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise OSError(f"/proc/self/status has no {field}")


def _peak_in_child(case: NetCase, batch: int, dtype: str, name: str, queue: Any) -> None:
    step = case.build(batch, dtype)[name]
    step()
    gc.collect()
    base = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # Linux: reset the high-water mark VmHWM to the current RSS
    for _ in range(3):
        step()
    queue.put((_status_kib("VmHWM") - base) * 1024)


def peak_rss_bytes(case: NetCase, batch: int, dtype: str, name: str) -> int:
    """Growth of the peak resident set (Linux ``VmHWM``) over three steps after a warm-up one, in a fresh process."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_peak_in_child, args=(case, batch, dtype, name, queue))
    proc.start()
    value = queue.get(timeout=600)
    proc.join()
    return int(value)


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
            rec["peak_rss_bytes"] = peak_rss_bytes(case, batch, dtype, name) if memory else None
            records.append(rec)
        if memory:
            ref = next(r["peak_rss_bytes"] for r in records[-len(steps) :] if r["impl"] == "torch")
            for r in records[-len(steps) :]:
                r["mem_ratio"] = r["peak_rss_bytes"] / ref if ref > 0 else None
    return records


def table(records: list[dict]) -> str:
    head = f"{'workload':<42} {'impl':<18} {'time/step':>10} {'vs torch':>9} {'peak RSS':>10} {'mem vs torch':>12}"
    lines = [head, "-" * len(head)]
    for r in records:
        mem = "" if r.get("peak_rss_bytes") is None else f"{r['peak_rss_bytes'] / 2**20:.1f} MiB"
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
