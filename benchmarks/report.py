"""The outputs of a benchmark run: a terminal table, JSON, and a PNG chart of time per step vs batch."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import numpy as np

from minigrad.benchmark import fmt_time

PACKAGES = {"numpy": "numpy", "minigrad": "minigrad", "torch": "torch", "jax": "jax", "autograd": "autograd",
            "mygrad": "mygrad"}  # fmt: skip


STYLES = {"numpy": {"color": "k", "ls": "--", "marker": "_"}, **{impl: {"color": f"C{k}", "ls": "-", "marker": "o"}
          for impl, k in (("minigrad", 3), ("torch", 0), ("jax", 1), ("autograd", 2), ("mygrad", 4))}}  # fmt: skip


def versions(impls: list[str]) -> dict:
    out = {"numpy": np.__version__}
    for impl in impls:
        if impl == "minigrad":
            import minigrad

            out[impl] = f"{minigrad.__version__} ({Path(minigrad.__file__).parent})"
            continue
        try:
            out[impl] = importlib.metadata.version(PACKAGES[impl])
        except importlib.metadata.PackageNotFoundError:
            out[impl] = None
    return out


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    if n < 1 << 20:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1 << 20):.1f} MiB"


def _cases(records: list[dict]) -> tuple[list[str], dict[tuple, dict]]:
    """The implementations other than NumPy that ran, and the records by (workload, dtype) then implementation."""
    impls = [i for i in PACKAGES if i != "numpy" and any(r["impl"] == i for r in records)]
    cases: dict[tuple, dict] = {}
    for r in records:
        cases.setdefault((r["workload"], r["dtype"]), {})[r["impl"]] = r
    return impls, cases


def time_and_ratio(r: dict | None, times: str = "×") -> str:
    """An implementation's cell: its median time per step beside its ratio to NumPy's, ``60.7 µs 2.13×``."""
    return f"{fmt_time(r['median_s'])} {r['ratio']:.2f}{times}" if r else "-"


def table(result: dict) -> str:
    """One line per case: NumPy's time per step, spread and peak memory, then each implementation's time per
    step beside its ratio to NumPy's (and minigrad's memory ratio)."""
    impls, cases = _cases(result["records"])
    head = f"{'workload':<26} {'dtype':<8} {'numpy/step':>11} {'±IQR':>5} {'numpy peak':>11}"
    for impl in impls:
        head += f" {impl:>17}" + (f" {'mg mem':>7}" if impl == "minigrad" else "")
    lines = [head, "-" * len(head)]
    for (label, dtype), row in cases.items():
        ref = row.get("numpy")
        line = f"{label:<26} {dtype:<8} "
        if ref:
            spread = (ref["q3_s"] - ref["q1_s"]) / ref["median_s"] * 100
            line += f"{fmt_time(ref['median_s']):>11} {spread:4.0f}% {fmt_bytes(ref.get('peak_bytes')):>11}"
        for impl in impls:
            r = row.get(impl)
            line += f" {time_and_ratio(r, 'x'):>17}"
            if impl == "minigrad":
                mem = f"{r['mem_ratio']:.2f}x" if r and r.get("mem_ratio") is not None else "-"
                line += f" {mem:>7}"
        lines.append(line)
    lines.append("time per forward+backward step (median), then its ratio to NumPy's (the median of the per-round")
    lines.append("ratios, lower is better); mg mem: minigrad's peak bytes during one step over NumPy's (tracemalloc)")
    for impl, note in result["meta"]["notes"].items():
        lines.append(f"{impl}: {note}")
    return "\n".join(lines)


def write_json(result: dict, path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=1) + "\n")


def chart_panels(result: dict) -> list[dict]:
    """What the chart draws, every record once: per dtype, a panel of time per step against batch size for
    each workload run at several batch sizes, and one panel for the workloads run at one size (the chains,
    the MLP), time per step by workload. A panel: ``dtype``, ``title``, ``x`` ("batch" or "workload"),
    ``series`` {impl: [(batch or workload label, seconds)]}."""
    records = result["records"]
    batches: dict[tuple, set] = {}
    for r in records:
        batches.setdefault((r["group"], r["dtype"]), set()).add(r["batch"])
    panels = []
    for dtype in dict.fromkeys(r["dtype"] for r in records):
        mine = [r for r in records if r["dtype"] == dtype]
        swept = [g for g in dict.fromkeys(r["group"] for r in mine) if len(batches[g, dtype] - {None}) > 1]
        for group in swept:
            rs = sorted((r for r in mine if r["group"] == group), key=lambda r: r["batch"])
            panels.append({"dtype": dtype, "title": f"{group} ({dtype})", "x": "batch", "series": _series(rs, "batch")})
        rest = [r for r in mine if r["group"] not in swept]
        if rest:
            title = f"by workload ({dtype})"
            panels.append({"dtype": dtype, "title": title, "x": "workload", "series": _series(rest, "workload")})
    return panels


def _series(records: list[dict], x: str) -> dict[str, list]:
    series: dict[str, list] = {}
    for r in records:
        series.setdefault(r["impl"], []).append((r[x], r["median_s"]))
    return series


def chart(result: dict, path: str) -> str:
    """Draw ``chart_panels`` to a PNG, one row per dtype; returns what it did."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install -e '.[plot]')"
    panels = chart_panels(result)
    if not panels:
        return "chart skipped: no case was run"
    dtypes = list(dict.fromkeys(p["dtype"] for p in panels))
    cols = max(sum(p["dtype"] == d for p in panels) for d in dtypes)
    fig, axes = plt.subplots(len(dtypes), cols, figsize=(4 * cols, 3.6 * len(dtypes)), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for i, dtype in enumerate(dtypes):
        for j, panel in enumerate(p for p in panels if p["dtype"] == dtype):
            _draw(axes[i][j], panel, ylabel=j == 0)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"wrote {path}"


def _draw(ax, panel: dict, ylabel: bool) -> None:
    ax.set_visible(True)
    labels = list(dict.fromkeys(x for pts in panel["series"].values() for x, _ in pts))
    for impl in PACKAGES:
        pts = panel["series"].get(impl)
        if not pts:
            continue
        us = [t * 1e6 for _, t in pts]
        if panel["x"] == "batch":
            ax.plot([x for x, _ in pts], us, label=impl, ms=4, **STYLES[impl])
        else:  # workloads side by side: markers, no line between unrelated workloads
            style = {**STYLES[impl], "ls": "none"}
            ax.plot([labels.index(x) for x, _ in pts], us, label=impl, ms=7, mew=2, **style)
    if panel["x"] == "batch":
        ax.set(xscale="log", xlabel="batch")
    else:
        ax.set_xticks(range(len(labels)), [x.replace(" B=", "\nB=").replace(" ops ", " ops\n") for x in labels],
                      fontsize=7)  # fmt: skip
        ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set(yscale="log", title=panel["title"])
    if ylabel:
        ax.set_ylabel("µs per forward+backward step")


def markdown(result: dict) -> str:
    """The table as Markdown, for docs/benchmarks.md: each implementation's time per step beside its ratio to NumPy's,
    and minigrad's memory ratio."""
    impls, cases = _cases(result["records"])
    peers = [i for i in impls if i != "minigrad"]
    head = ["workload", "dtype", "NumPy step", "minigrad step", "minigrad memory", *peers]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (label, dtype), row in cases.items():
        mg = row.get("minigrad")
        cells = [label, dtype, fmt_time(row["numpy"]["median_s"]), time_and_ratio(mg)]
        cells.append(f"{mg['mem_ratio']:.2f}×" if mg and mg.get("mem_ratio") is not None else "-")
        cells += [time_and_ratio(row.get(i)) for i in peers]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
