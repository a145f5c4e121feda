"""The benchmark harness in its smoke mode: it runs, minigrad agrees with the NumPy reference, and the
reference's hand-derived gradients agree with central differences. No timing is asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks import numpy_hand, report, run
from benchmarks.frameworks import STEPS
from benchmarks.workloads import FAMILIES, make_cases


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("bench")
    argv = ["--quick", "--impls", "numpy,minigrad", "--repeats", "2"]
    argv += ["--json", str(out / "r.json"), "--chart", str(out / "r.png")]
    return run.main(argv), out


def test_smoke_run_covers_every_case_and_dtype(smoke: tuple) -> None:
    result, _ = smoke
    records = result["records"]
    cases = make_cases(FAMILIES, ("float64", "float32"), quick=True)
    assert {(r["workload"], r["dtype"]) for r in records} == {(c.label, c.dtype) for c in cases}
    for r in records:
        assert r["check"] == "ok"
        assert r["median_s"] > 0 and r["q1_s"] <= r["median_s"] <= r["q3_s"]
        assert r["ratio"] > 0 and np.isfinite(r["ratio"])
        assert r["peak_bytes"] > 0 and r["mem_method"] == "tracemalloc"
    assert {r["impl"] for r in records} == {"numpy", "minigrad"}


def test_smoke_run_writes_json_and_chart(smoke: tuple) -> None:
    result, out = smoke
    assert json.loads((out / "r.json").read_text()) == json.loads(json.dumps(result))
    rows = report.markdown(result).splitlines()[2:]
    assert len(rows) == len({(r["workload"], r["dtype"]) for r in result["records"]})
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # the [plot] extra is optional: the run says so instead of failing
        assert not (out / "r.png").exists()
    else:
        assert (out / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_minigrad_agrees_with_the_reference(dtype: str) -> None:
    for case in make_cases(FAMILIES, (dtype,), quick=True):
        ref_step, ref_np = STEPS["numpy"](case)
        mg_step, mg_np = STEPS["minigrad"](case)
        mg_step()  # a second step must not accumulate into the first one's gradients
        run.check(case, "minigrad", mg_np(mg_step()), ref_np(ref_step()))


def test_check_catches_a_wrong_gradient() -> None:
    case = make_cases(("window",), ("float64",), quick=True)[0]
    ref = STEPS["numpy"](case)[1](STEPS["numpy"](case)[0]())
    bad = (ref[0], {k: v.copy() for k, v in ref[1].items()})
    bad[1]["W"].flat[3] *= 1 + 1e-5
    with pytest.raises(run.Mismatch, match="dW differs"):
        run.check(case, "minigrad", bad, ref)
    with pytest.raises(run.Mismatch, match="loss differs"):
        run.check(case, "minigrad", (ref[0] + 1e-3, ref[1]), ref)


@pytest.mark.parametrize("family", FAMILIES)
def test_hand_gradients_match_central_differences(family: str) -> None:
    """The reference is an independent derivation: check it against numerical differences (float64)."""
    rng = np.random.default_rng(1)
    for case in make_cases((family,), ("float64",), quick=True)[:2]:
        fn = numpy_hand.HAND[family]
        loss, grads = fn(case.wrt, case.const)
        rounding = 50 * np.finfo(np.float64).eps * max(1.0, abs(float(loss))) / 1e-6  # of the difference quotient
        for name, a in case.wrt.items():
            for i in rng.choice(a.size, size=min(a.size, 8), replace=False):
                saved, eps = a.flat[i], 1e-6
                a.flat[i] = saved + eps
                up = fn(case.wrt, case.const)[0]
                a.flat[i] = saved - eps
                down = fn(case.wrt, case.const)[0]
                a.flat[i] = saved
                numeric = (up - down) / (2 * eps)
                assert grads[name].flat[i] == pytest.approx(numeric, rel=1e-5, abs=rounding), (case.label, name, i)


def test_unknown_selection_is_rejected_with_the_choices(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        run.parse_args(["--workloads", "window,conv"])
    assert "unknown ['conv']" in capsys.readouterr().err


def test_only_and_fresh_select_and_isolate_cases() -> None:
    argv = ["--quick", "--impls", "numpy,minigrad", "--dtypes", "float64", "--repeats", "2"]
    argv += ["--only", "window d=4 B=8,chain 100 ops 4", "--fresh", "--json", "", "--chart", ""]
    result = run.main(argv)
    assert {r["workload"] for r in result["records"]} == {"window d=4 B=8", "chain 100 ops 4"}
    assert all(r["check"] == "ok" and r["median_s"] > 0 for r in result["records"])
    assert result["meta"]["fresh_process_per_case"] is True


def test_minimal_engine_yardstick_runs_and_agrees(capsys: pytest.CaptureFixture) -> None:
    # main() first checks the minimal engine's and minigrad's gradients against the hand-written ones
    from benchmarks import minimal_engine

    minimal_engine.main(rounds=1)
    out = capsys.readouterr().out
    assert "window d=4 B=1" in out and "chain 100 ops 4" in out


def test_every_network_workload_agrees_with_its_pytorch_twin_at_batch_1():
    """``python -m benchmarks.networks`` checks each step against PyTorch's before timing it; run that check."""
    pytest.importorskip("torch")
    from benchmarks import networks

    cases = networks.cases()
    assert {c.family for c in cases} >= {"mlp", "cnn", "gru", "transformer", "kit"}
    assert len({c.label for c in cases}) == len(cases)
    for case in cases:
        if case.batch == 1:
            steps = case.build(1, "float64")
            assert list(steps) == ["torch", "minigrad", "minigrad compiled"]
            networks.check(case.label, steps, "float64")  # raises, naming the step, on any disagreement


def test_the_per_example_benchmark_steps_compute_the_same_gradients():
    from benchmarks import per_example

    params, xs, ys = per_example._problem(20, 8)
    steps = per_example.steps(params, xs, ys)
    vectorized, looped = steps["vmap(grad)"](), steps["loop of grad"]()
    batch_mean = steps["batched backward"]()
    for k in range(4):
        stacked = np.stack([grads[k].data for grads in looped])
        np.testing.assert_allclose(vectorized[k].data, stacked, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(stacked.mean(0), batch_mean[k].data, rtol=1e-10, atol=1e-14)
    if "torch.func vmap(grad)" in steps:
        for mine, theirs in zip(vectorized, steps["torch.func vmap(grad)"]()):
            np.testing.assert_allclose(mine.data, theirs.numpy(), rtol=1e-10, atol=1e-13)
