"""The outputs of a benchmark run: a terminal table, JSON, and a PNG chart of time per step vs batch."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import numpy as np

PACKAGES = {"numpy": "numpy", "minigrad": "minigrad", "torch": "torch", "jax": "jax", "autograd": "autograd",
            "mygrad": "mygrad"}  # fmt: skip


STYLES = {"numpy": "k--", "minigrad": "C3-o", "torch": "C0-o", "jax": "C1-o", "autograd": "C2-o", "mygrad": "C4-o"}


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


def fmt_time(s: float) -> str:
    if s < 1e-3:
        return f"{s * 1e6:.1f} µs"
    if s < 1:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "-"
    if n < 1 << 20:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1 << 20):.1f} MiB"


def table(result: dict) -> str:
    """One line per case: the NumPy reference's time, spread and peak memory, then each ratio to it.

    ``minigrad`` shows time ratio / memory ratio; the peers show their time ratio (their memory,
    measured differently for torch and jax, is in the JSON).
    """
    records = result["records"]
    impls = [i for i in PACKAGES if i != "numpy" and any(r["impl"] == i for r in records)]
    cases: dict[tuple, dict] = {}
    for r in records:
        cases.setdefault((r["workload"], r["dtype"]), {})[r["impl"]] = r
    head = f"{'workload':<26} {'dtype':<8} {'numpy/step':>11} {'±IQR':>5} {'numpy peak':>11}"
    head += "".join(f" {'minigrad t/mem' if i == 'minigrad' else i:>{14 if i == 'minigrad' else 9}}" for i in impls)
    lines = [head, "-" * len(head)]
    for (label, dtype), row in cases.items():
        ref = row.get("numpy")
        line = f"{label:<26} {dtype:<8} "
        if ref:
            spread = (ref["q3_s"] - ref["q1_s"]) / ref["median_s"] * 100
            line += f"{fmt_time(ref['median_s']):>11} {spread:4.0f}% {fmt_bytes(ref.get('peak_bytes')):>11}"
        for impl in impls:
            r = row.get(impl)
            if impl == "minigrad":
                mem = f"{r['mem_ratio']:.2f}" if r and r.get("mem_ratio") is not None else "-"
                cell = f"{r['ratio']:.2f}x/{mem}x" if r else "-"
                line += f" {cell:>14}"
            else:
                cell = f"{r['ratio']:.2f}x" if r else "-"
                line += f" {cell:>9}"
        lines.append(line)
    lines.append("ratios: time per forward+backward step over NumPy's, median of the per-round ratios, lower is better")
    lines.append("memory: peak bytes allocated during one step (tracemalloc), minigrad over NumPy")
    for impl, note in result["meta"]["notes"].items():
        lines.append(f"{impl}: {note}")
    return "\n".join(lines)


def write_json(result: dict, path: str) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(result, indent=1) + "\n")


def chart(result: dict, path: str) -> str:
    """Time per step vs batch size, one panel per batched workload and dtype; returns what it did."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install -e '.[plot]')"
    records = [r for r in result["records"] if r["batch"] is not None]
    groups = list(dict.fromkeys(r["group"] for r in records if r["family"] != "mlp"))
    dtypes = list(dict.fromkeys(r["dtype"] for r in records))
    if not groups:
        return "chart skipped: no batched workload was run"
    fig, axes = plt.subplots(len(dtypes), len(groups), figsize=(4 * len(groups), 3.4 * len(dtypes)), squeeze=False)
    for i, dtype in enumerate(dtypes):
        for j, group in enumerate(groups):
            ax = axes[i][j]
            for impl in PACKAGES:
                rs = sorted((r for r in records if r["group"] == group and r["dtype"] == dtype and r["impl"] == impl),
                            key=lambda r: r["batch"])  # fmt: skip
                if rs:
                    ax.plot([r["batch"] for r in rs], [r["median_s"] * 1e6 for r in rs], STYLES[impl], label=impl, ms=4)
            ax.set(xscale="log", yscale="log", title=f"{group} ({dtype})", xlabel="batch")
            if j == 0:
                ax.set_ylabel("µs per forward+backward step")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"wrote {path}"


def markdown(result: dict) -> str:
    """The table as Markdown, for the README: time ratios to NumPy, and minigrad's memory ratio."""
    records = result["records"]
    impls = [i for i in PACKAGES if i != "numpy" and any(r["impl"] == i for r in records)]
    cases: dict[tuple, dict] = {}
    for r in records:
        cases.setdefault((r["workload"], r["dtype"]), {})[r["impl"]] = r
    head = ["workload", "dtype", "NumPy step", "minigrad time", "minigrad memory", *impls[1:]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for (label, dtype), row in cases.items():
        mg = row.get("minigrad")
        cells = [label, dtype, fmt_time(row["numpy"]["median_s"])]
        cells.append(f"{mg['ratio']:.2f}×" if mg else "-")
        cells.append(f"{mg['mem_ratio']:.2f}×" if mg and mg.get("mem_ratio") is not None else "-")
        cells += [f"{row[i]['ratio']:.2f}×" if i in row else "-" for i in impls[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
