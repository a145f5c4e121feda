"""``minigrad.benchmark``, the harness's method of timing as an installed API, and the harness's outputs (issue #20).

Nothing here asserts a speed: a fake clock, moved only by the steps, makes the method's results exact, and the
real clock is used only to check the structure of what comes back.
"""

from __future__ import annotations

import gc
import re
import shutil
import subprocess
import sys
from itertools import groupby
from pathlib import Path

import numpy as np
import pytest

import minigrad
from benchmarks import report, run, timing
from minigrad import benchmark

ROOT = Path(__file__).resolve().parents[1]
# Costs in powers of two, so that the fake clock's sums and quotients are exact.
A, B, C, SAMPLE = 2.0**-10, 3 * 2.0**-10, 2.0**-8, 2.0**-6


class FakeClock:
    """A clock that only the steps move: each call of a step advances it by that step's cost."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def fake_steps(clock: FakeClock, costs: dict, log: list) -> dict:
    def make(name: str, cost: float):
        def step() -> None:
            clock.now += cost
            log.append(name)

        return step

    return {name: make(name, cost) for name, cost in costs.items()}


def test_compare_returns_each_steps_median_quartiles_and_paired_ratio():
    clock, log = FakeClock(), []
    result = benchmark.compare(fake_steps(clock, {"a": A, "b": B}, log), rounds=5, sample_s=SAMPLE, clock=clock)
    assert result.reference == "a" and list(result) == ["a", "b"]
    a, b = result["a"], result["b"]
    assert a.samples_s == [A] * 5 and b.samples_s == [B] * 5  # the untimed call of each sample is not counted
    assert (a.median_s, a.quartiles_s, a.iqr_s) == (A, (A, A), 0.0)
    assert (a.ratio, b.ratio) == (1.0, 3.0)
    assert (a.calls_per_sample, b.calls_per_sample) == (16, 5)  # ~SAMPLE of calls each
    assert benchmark.compare(fake_steps(clock, {"a": A, "b": B}, []), 3, "b", SAMPLE, clock=clock)["a"].ratio == 1 / 3


def test_compare_warms_up_then_interleaves_in_a_rotated_order():
    clock, log = FakeClock(), []
    benchmark.compare(fake_steps(clock, {"a": A, "b": B, "c": C}, log), rounds=3, sample_s=SAMPLE, clock=clock)
    runs = [(name, len(list(calls))) for name, calls in groupby(log)]
    # warm-up: each step alone, at least 3 calls and 2.5 samples' worth of time
    assert runs[:3] == [("a", 40), ("b", 14), ("c", 10)]
    # then one sample of each per round (one untimed call + the calls per sample), the order rotated per round
    a, b, c = ("a", 1 + 16), ("b", 1 + 5), ("c", 1 + 4)
    assert runs[3:] == [a, b, c, b, c, a, c, a, b]


def test_paired_ratio_is_the_median_of_the_per_round_ratios():
    # a slow second round (10x for both) divides out of its pair; the ratio of the medians would say 2.5
    assert benchmark.paired_ratio([2.0, 20.0, 2.5], [1.0, 10.0, 1.0]) == 2.0


def test_compare_freezes_the_collector_while_timing_and_thaws_it_after():
    before, seen = gc.get_freeze_count(), []
    benchmark.compare({"s": lambda: seen.append(gc.get_freeze_count())}, rounds=2, sample_s=1e-4)
    assert before == 0 and min(seen) > 0 and gc.get_freeze_count() == 0
    seen.clear()
    benchmark.compare({"s": lambda: seen.append(gc.get_freeze_count())}, rounds=2, sample_s=1e-4, freeze_gc=False)
    assert max(seen) == 0


@pytest.mark.parametrize(
    "steps, options, error",
    [
        ({}, {}, "no steps given"),
        ({"a": 3}, {}, "step 'a' is a int, not a callable"),
        ({"a": print}, {"reference": "numpy"}, r"reference 'numpy' is not one of the steps \['a'\]"),
        ({"a": print}, {"rounds": 0}, "rounds must be at least 1"),
    ],
)
def test_compare_rejects_bad_arguments_saying_why(steps, options, error):
    with pytest.raises((ValueError, TypeError), match=error):
        benchmark.compare(steps, **options)


def test_table_gives_time_per_step_spread_and_ratio_and_the_threads_warning(monkeypatch):
    clock = FakeClock()
    for var in benchmark.THREAD_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    result = benchmark.compare(fake_steps(clock, {"numpy": A, "mine": B}, []), rounds=3, sample_s=SAMPLE, clock=clock)
    lines = str(result).splitlines()
    assert re.fullmatch(r"numpy +976\.6 µs +0% +1\.00x", lines[2])
    assert re.fullmatch(r"mine +2\.93 ms +0% +3\.00x", lines[3])
    assert "median of 3 interleaved rounds" in lines[4] and "OPENBLAS_NUM_THREADS=1" in lines[-1]
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert "note" not in str(benchmark.compare(fake_steps(clock, {"n": A}, []), 1, sample_s=SAMPLE, clock=clock))


def test_measure_and_peak_bytes_on_a_real_step():
    x = np.ones(10_000)
    timing_ = benchmark.measure(lambda: np.tanh(x), rounds=3, sample_s=1e-4)
    assert len(timing_.samples_s) == 3 and timing_.median_s > 0 and timing_.ratio == 1.0
    q1, q3 = timing_.quartiles_s
    assert q1 <= timing_.median_s <= q3 and "per call" in str(timing_)
    assert benchmark.peak_bytes(lambda: np.tanh(x)) >= x.nbytes  # the result's buffer, at least


def test_the_harness_times_with_minigrad_benchmark_compare(monkeypatch):
    calls = []
    real = benchmark.compare

    def spy(steps, *args, **kwargs):
        calls.append(sorted(steps))
        calls.append(real(steps, *args, **kwargs))
        return calls[-1]

    monkeypatch.setattr(benchmark, "compare", spy)
    argv = ["--quick", "--impls", "numpy,minigrad", "--dtypes", "float64", "--repeats", "2", "--no-memory"]
    result = run.main(argv + ["--only", "window d=4 B=1", "--json", "", "--chart", ""])
    assert calls[0] == ["minigrad", "numpy"]
    timed = {r["impl"]: r for r in result["records"]}
    assert timed["minigrad"]["samples_s"] == calls[1]["minigrad"].samples_s
    assert timed["minigrad"]["ratio"] == calls[1]["minigrad"].ratio
    assert not hasattr(timing, "interleaved") and not hasattr(timing, "warm_up")  # moved, not copied


def test_minigrad_benchmark_works_without_the_checkout(tmp_path):
    shutil.copytree(ROOT / "minigrad", tmp_path / "minigrad", ignore=shutil.ignore_patterns("__pycache__"))
    code = "from minigrad import benchmark; print(benchmark.compare({'s': lambda: None}, rounds=2, sample_s=1e-4))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.startswith("step") and minigrad.__file__.startswith(str(ROOT))


# -- the harness's outputs ------------------------------------------------------------------------
def _record(workload, group, family, batch, dtype, impl, median, ratio):
    case = {"workload": workload, "group": group, "family": family, "batch": batch, "dtype": dtype, "impl": impl}
    return {**case, "median_s": median, "q1_s": median, "q3_s": median, "ratio": ratio, "mem_ratio": 1.0}


def _result() -> dict:
    cases = [("window d=4 B=1", "window d=4", "window", 1), ("window d=4 B=64", "window d=4", "window", 64),
             ("chain 100 ops 4", "chain 4", "chain", None), ("chain 100 ops 30x30", "chain 30x30", "chain", None),
             ("mlp 32x3 B=8", "mlp 32x3", "mlp", 8)]  # fmt: skip
    records = []
    for k, (label, group, family, batch) in enumerate(cases):
        for dtype in ("float64", "float32"):
            records.append(_record(label, group, family, batch, dtype, "numpy", 1e-5 * (k + 1), 1.0))
            records.append(_record(label, group, family, batch, dtype, "minigrad", 2.5e-5 * (k + 1), 2.5))
            records.append(_record(label, group, family, batch, dtype, "torch", 3e-3 * (k + 1), 300.0))
    return {"records": records, "meta": {"notes": {}}}


def test_tables_give_the_time_per_step_beside_every_ratio():
    result = _result()
    rows = report.table(result).splitlines()[2:] + report.markdown(result).splitlines()[2:]
    for r in result["records"]:
        if r["impl"] != "numpy":
            mine = [row for row in rows if row.startswith((r["workload"] + " ", "| " + r["workload"] + " "))]
            mine = [row for row in mine if r["dtype"] in row]
            assert len(mine) == 2, r["workload"]
            cell = f"{benchmark.fmt_time(r['median_s'])} {r['ratio']:.2f}"
            assert all(cell + "x" in row or cell + "×" in row for row in mine), (cell, mine)


def test_the_chart_draws_every_workload():
    result = _result()
    points = [(p["dtype"], impl, x, t) for p in report.chart_panels(result) for impl, pts in p["series"].items()
              for x, t in pts]  # fmt: skip
    drawn = {(d, impl, t) for d, impl, x, t in points}
    assert len(points) == len(drawn) == len(result["records"])  # each record once
    assert drawn == {(r["dtype"], r["impl"], r["median_s"]) for r in result["records"]}
    kinds = {p["title"]: p["x"] for p in report.chart_panels(result)}
    assert kinds == {"window d=4 (float64)": "batch", "by workload (float64)": "workload",
                     "window d=4 (float32)": "batch", "by workload (float32)": "workload"}  # fmt: skip


def test_the_chart_is_written_with_matplotlib(tmp_path):
    pytest.importorskip("matplotlib")  # the [plot] extra
    assert report.chart(_result(), str(tmp_path / "c.png")) == f"wrote {tmp_path / 'c.png'}"
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_docs_example_runs():
    section = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8").split("## Timing your own step", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert "rounds=15" in code
    namespace: dict = {}
    exec(compile(code.replace("rounds=15", "rounds=2, sample_s=1e-3"), "docs/benchmarks.md", "exec"), namespace)
    assert namespace["result"]["compiled"].ratio > 0 and namespace["result"].reference == "eager"
