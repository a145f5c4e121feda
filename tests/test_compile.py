"""mg.compile: the replay gives eager execution's values and gradients, and refuses what it cannot replay."""

from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.compile import CompileError, TracedMask
from minigrad.nn import functional as F


def lecture_params(rng, d=4, window=5, hidden=8, dtype=np.float64):
    W = mg.tensor(rng.standard_normal((hidden, window * d)).astype(dtype), requires_grad=True)
    b = mg.tensor(rng.standard_normal(hidden).astype(dtype), requires_grad=True)
    u = mg.tensor(rng.standard_normal(hidden).astype(dtype), requires_grad=True)
    return W, b, u


def max_margin_step(W, b, u):
    def step(x, xc):
        s = mg.tanh(x @ W.T + b) @ u
        sc = mg.tanh(xc @ W.T + b) @ u
        loss = mg.maximum(0, 1 - s + sc).mean()
        loss.backward()
        return loss

    return step


def grads(params):
    out = [None if p.grad is None else p.grad.copy() for p in params]
    for p in params:
        p.grad = None
    return out


@pytest.mark.parametrize("batch", [1, 7, 100])  # 100: the bias gradient as a BLAS product
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_window_scorer_replay_matches_eager_while_sgd_updates_the_parameters(batch, dtype):
    rng = np.random.default_rng(0)
    params = lecture_params(rng, dtype=dtype)
    step = max_margin_step(*params)
    compiled = mg.compile(step, check=False)  # the test compares with eager itself
    opt = optim.SGD(params, lr=0.1)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for _ in range(5):
        x, xc = (rng.standard_normal((batch, 20)).astype(dtype) for _ in range(2))
        loss_c = compiled(x, xc)
        g_c = grads(params)
        loss_e = step(x, xc)
        g_e = [p.grad.copy() for p in params]
        assert loss_c.dtype == loss_e.dtype == dtype
        np.testing.assert_allclose(loss_c.data, loss_e.data, rtol=tol, atol=tol)
        for a, e in zip(g_c, g_e):
            assert a.dtype == dtype
            np.testing.assert_allclose(a, e, rtol=tol, atol=tol)
        opt.step()  # in place, from the eager gradients
        opt.zero_grad()
    assert compiled.traces == 1


def test_parameters_reassigned_between_calls_are_read_at_every_call():
    rng = np.random.default_rng(1)
    params = lecture_params(rng)
    step = max_margin_step(*params)
    compiled = mg.compile(step)
    x, xc = rng.standard_normal((3, 20)), rng.standard_normal((3, 20))
    for _ in range(4):
        loss = compiled(x, xc)
        g = grads(params)
        expected = step(x, xc)
        np.testing.assert_allclose(loss.data, expected.data, rtol=1e-12)
        for a, p in zip(g, params):
            np.testing.assert_allclose(a, p.grad, rtol=1e-12)
            p.data = p.data - 0.5 * p.grad  # by assignment: a new array
        grads(params)


def test_gradients_accumulate_as_eager_backward_does_and_outputs_are_fresh():
    rng = np.random.default_rng(2)
    params = lecture_params(rng)
    compiled = mg.compile(max_margin_step(*params))
    x, xc = rng.standard_normal((2, 20)), rng.standard_normal((2, 20)) + 3
    first = compiled(x, xc)
    once = [p.grad.copy() for p in params]
    second = compiled(x, xc)
    third = compiled(x, xc)
    for p, g in zip(params, once):
        np.testing.assert_allclose(p.grad, 3 * g, rtol=1e-12)
    assert first.data is not second.data is not third.data
    assert float(first.data) == float(third.data)


def test_models_window_scorer_with_embeddings_trains_like_eager():
    from models.window_scorer import WindowScorer, corrupt

    rng = np.random.default_rng(3)
    eager, comp = WindowScorer(30, dim=4, hidden=8, rng=0), WindowScorer(30, dim=4, hidden=8, rng=0)
    opt_e, opt_c = optim.Adagrad(eager.parameters(), lr=0.1), optim.Adagrad(comp.parameters(), lr=0.1)

    def step(windows, corrupted):
        loss = comp.loss(windows, corrupted)
        loss.backward()
        return loss

    compiled = mg.compile(step, check=False)
    for _ in range(6):
        w = rng.integers(2, 30, (5, 5))
        c = corrupt(w, 30, rng)
        opt_e.zero_grad(), opt_c.zero_grad()
        le = eager.loss(w, c)
        le.backward()
        lc = compiled(w, c)
        np.testing.assert_allclose(lc.data, le.data, rtol=1e-5)
        for (name, pe), pc in zip(eager.named_parameters(), comp.parameters()):
            np.testing.assert_allclose(pc.grad, pe.grad, rtol=1e-4, atol=1e-6, err_msg=name)
        opt_e.step(), opt_c.step()
    for pe, pc in zip(eager.parameters(), comp.parameters()):
        np.testing.assert_allclose(pc.data, pe.data, rtol=1e-4, atol=1e-6)


def _tagger(seed=0):
    from models.tagger import TaggerConfig, WindowTagger

    config = TaggerConfig(word_dim=6, case_dim=2, suffix_dim=3, hidden=10, dropout=0.5, seed=seed)
    return WindowTagger(40, 12, 5, config)


def test_ner_tagger_training_step_with_dropout_matches_eager_step_by_step():
    eager, comp = _tagger(), _tagger()
    opt_e, opt_c = optim.Adam(eager.parameters(), lr=0.01), optim.Adam(comp.parameters(), lr=0.01)

    def step(windows, targets):
        loss = F.cross_entropy(comp(windows), targets)
        loss.backward()
        return loss

    compiled = mg.compile(step)  # with the check of the first replay: it must pass
    rng = np.random.default_rng(4)
    for i in range(5):
        n = 8
        windows = np.stack([rng.integers(0, 40, (n, 5)), rng.integers(0, 4, (n, 5)), rng.integers(0, 12, (n, 5))], -1)
        targets = rng.integers(0, 5, n)
        opt_e.zero_grad(), opt_c.zero_grad()
        le = F.cross_entropy(eager(windows), targets)
        le.backward()
        lc = compiled(windows, targets)
        np.testing.assert_allclose(lc.data, le.data, rtol=1e-5, err_msg=f"step {i}")
        for (name, pe), pc in zip(eager.named_parameters(), comp.parameters()):
            np.testing.assert_allclose(pc.grad, pe.grad, rtol=1e-4, atol=1e-6, err_msg=f"{name} at step {i}")
        opt_e.step(), opt_c.step()
    assert compiled.traces == 1


def test_softmax_classifier_with_relu_and_a_traced_comparison():
    rng = np.random.default_rng(5)
    W = mg.tensor(rng.standard_normal((6, 4)), requires_grad=True)

    def step(x, y):
        h = mg.relu(x @ W)
        h = mg.where(h > 0.5, h, 0.5 * h)  # a traced comparison
        loss = F.cross_entropy(h, y)
        loss.backward()
        return loss

    compiled = mg.compile(step, check=False)
    for _ in range(4):
        x, y = rng.standard_normal((9, 6)), rng.integers(0, 4, 9)
        lc = compiled(x, y)
        (gc,) = grads([W])
        le = step(x, y)
        np.testing.assert_allclose(lc.data, le.data, rtol=1e-12)
        np.testing.assert_allclose(gc, W.grad, rtol=1e-12)
        W.grad = None


def test_a_new_shape_retraces_and_the_cache_is_bounded():
    rng = np.random.default_rng(6)
    params = lecture_params(rng)
    compiled = mg.compile(max_margin_step(*params), cache_size=2)
    for batch in (1, 2, 1, 3, 1, 2):
        compiled(rng.standard_normal((batch, 20)), rng.standard_normal((batch, 20)))
    # 1, 2 traced; 1 cached; 3 traced (drops 2); 1 cached; 2 traced again
    assert compiled.traces == 4
    assert len(compiled.trace_seconds) == 4 and len(compiled.cache) == 2
    compiled(rng.standard_normal((1, 20)).astype(np.float32), rng.standard_normal((1, 20)).astype(np.float32))
    assert compiled.traces == 5  # a new dtype too


@pytest.mark.parametrize(
    "branch",
    [
        lambda loss: loss > 1,  # bool of a traced comparison
        lambda loss: bool(loss),
        lambda loss: loss.item() > 1,
        lambda loss: float(loss) > 1,
    ],
)
def test_python_control_flow_on_values_raises_and_names_the_line(branch):
    W = mg.tensor(np.ones((3, 2)), requires_grad=True)

    def step(x):
        loss = (x @ W).sum()
        if branch(loss):
            loss = loss * 2
        loss.backward()

    with pytest.raises(mg.CompileError, match=r"test_compile\.py:\d+"):  # (from minigrad.compile import CompileError)
        mg.compile(step)(np.ones((1, 3)))
    # the patches are gone: eager code works again
    assert bool(mg.tensor(1.0) > 0) and mg.tensor(2.0).item() == 2.0
    assert not isinstance(mg.tensor([1.0]) > 0, TracedMask)


def test_numpy_control_flow_on_data_is_caught_by_the_check_of_the_first_replay():
    W = mg.tensor(np.ones((3, 2)), requires_grad=True)

    def step(x):
        z = x @ W
        loss = z.sum() if x.sum() > 0 else (z * z).sum()  # NumPy on an array argument: invisible to tracing
        loss.backward()
        return loss

    compiled = mg.compile(step)
    compiled(np.ones((1, 3)))
    with pytest.raises(CompileError, match="disagrees with eager"):
        compiled(-np.ones((1, 3)))


def test_tensor_arguments_that_require_grad_receive_their_gradients():
    def step(a, b):
        loss = (mg.exp(a) * b).sum() + (a / (1 + b * b)).sum()
        loss.backward()
        return loss

    compiled = mg.compile(step, check=False)
    rng = np.random.default_rng(7)
    for _ in range(3):
        a = mg.tensor(rng.standard_normal((2, 3)), requires_grad=True)
        b = mg.tensor(rng.standard_normal(3), requires_grad=True)
        c = mg.tensor(rng.standard_normal(3))  # no grad: a different signature than b
        compiled(a, b)
        ga, gb = a.grad, b.grad
        np.testing.assert_allclose(ga, np.exp(a.data) * b.data + 1 / (1 + b.data**2), rtol=1e-12)
        expected_b = (np.exp(a.data) - a.data * 2 * b.data / (1 + b.data**2) ** 2).sum(axis=0)
        np.testing.assert_allclose(gb, expected_b, rtol=1e-12)
        a.grad = None
        compiled(a, c)  # c carries no gradient, but what the step computes from it is replayed
        np.testing.assert_allclose(a.grad, np.exp(a.data) * c.data + 1 / (1 + c.data**2), rtol=1e-12)
        assert c.grad is None


def test_the_docs_example_runs_and_traces_once():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "compile.md").read_text(encoding="utf-8")
    section = text.split("# mg.compile: trace a training step once, replay it", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/compile.md", "exec"), namespace)
    step, W, x, xc = namespace["step"], namespace["W"], namespace["x"], namespace["xc"]
    assert step.traces == 1
    W.grad = None
    step(x, xc)
    compiled_grad = W.grad
    W.grad = None
    step.fn(x, xc)
    np.testing.assert_allclose(compiled_grad, W.grad, rtol=1e-12)


def test_a_step_without_backward_replays_its_forward():
    W = mg.tensor(np.ones((3, 2)), requires_grad=True)
    compiled = mg.compile(lambda x: mg.tanh(x @ W).sum(axis=0))
    for v in (1.0, 2.0, 3.0):
        out = compiled(np.full((4, 3), v))
        np.testing.assert_allclose(out.data, np.full(2, 4 * np.tanh(3 * v)), rtol=1e-12)
    assert W.grad is None and compiled.traces == 1


def test_two_backward_calls_in_one_step_accumulate_in_order():
    W = mg.tensor(np.linspace(-1, 1, 6).reshape(3, 2), requires_grad=True)

    def step(x):
        (x @ W).sum().backward()
        mg.tanh(x @ W).sum().backward()

    compiled = mg.compile(step, check=False)
    for v in (1.0, 0.5, -0.2):
        x = np.full((2, 3), v)
        compiled(x)
        got, W.grad = W.grad, None
        h = np.tanh(x @ W.data)
        np.testing.assert_allclose(got, x.T @ np.ones((2, 2)) + x.T @ (1 - h * h), rtol=1e-12)


def test_mg_grad_inside_a_step_is_caught_by_the_check():
    W = mg.tensor(np.ones((3, 2)), requires_grad=True)
    compiled = mg.compile(lambda x: mg.grad(lambda w: (x @ w).sum())(W))  # the transform's graph is not traced
    compiled(np.ones((1, 3)))
    with pytest.raises(CompileError, match="disagrees with eager"):
        compiled(2 * np.ones((1, 3)))


def test_softmax_classifier_with_dropout_on_an_array_input_draws_the_masks_as_eager_does():
    from models.softmax_classifier import SoftmaxClassifier

    eager, comp = (SoftmaxClassifier(6, 3, hidden=5, dropout=0.3, dtype=np.float64, rng=9) for _ in range(2))

    def step(x, y):
        loss = comp.loss(x, y)  # dropout on x itself (no gradient) and on the hidden layer
        loss.backward()
        return loss

    compiled = mg.compile(step)
    rng = np.random.default_rng(10)
    for i in range(4):
        x, y = rng.standard_normal((7, 6)), rng.integers(0, 3, 7)
        le = eager.loss(x, y)
        le.backward()
        lc = compiled(x, y)
        np.testing.assert_allclose(lc.data, le.data, rtol=1e-12, err_msg=f"call {i}")
        for pe, pc in zip(eager.parameters(), comp.parameters()):
            np.testing.assert_allclose(pc.grad, pe.grad, rtol=1e-12, err_msg=f"call {i}")
            pe.grad = pc.grad = None


def test_cross_entropy_with_a_varying_number_of_ignored_targets():
    rng = np.random.default_rng(11)
    W = mg.tensor(rng.standard_normal((5, 4)), requires_grad=True)

    def step(x, y):
        loss = F.cross_entropy(x @ W, y)  # mean over the counted targets: the count changes from call to call
        loss.backward()
        return loss

    compiled = mg.compile(step, check=False)
    for ignored in (0, 3, 1, 5):
        x, y = rng.standard_normal((8, 5)), rng.integers(0, 4, 8)
        y[:ignored] = -100
        lc = compiled(x, y)
        (gc,) = grads([W])
        le = step(x, y)
        np.testing.assert_allclose(lc.data, le.data, rtol=1e-12, err_msg=f"{ignored} ignored")
        np.testing.assert_allclose(gc, W.grad, rtol=1e-12, err_msg=f"{ignored} ignored")
        W.grad = None


def test_tracing_a_step_inside_a_traced_step_is_refused():
    W = mg.tensor(np.ones((3, 2)), requires_grad=True)
    inner = mg.compile(lambda x: (x @ W).sum())

    def outer(x):
        loss = inner(x) * 2
        loss.backward()

    with pytest.raises(CompileError, match="another one"):
        mg.compile(outer)(np.ones((1, 3)))
    assert not isinstance(mg.tensor([1.0]) > 0, TracedMask)  # and the patches are gone


def test_dropout_with_fresh_entropy_replays_new_masks_at_every_call():
    W = mg.tensor(np.ones((50, 3)), requires_grad=True)

    def step(x):
        loss = F.dropout(x @ W, 0.5).sum()  # rng=None: new masks every call, eager or compiled
        loss.backward()
        return loss

    compiled = mg.compile(step)
    x = np.ones((4, 50))
    losses = set()
    for _ in range(6):
        W.grad = None
        loss = float(compiled(x).data)
        assert W.grad.sum() == loss  # the gradient used the same mask as the value: Σ ∂L/∂W = L here
        losses.add(loss)
    assert len(losses) > 1  # masks are drawn anew, not frozen at the trace
    for loss in losses:  # each is 2 · 50 · (number of kept elements of 12)
        assert loss % 100 == 0 and 0 <= loss <= 1200


def test_gradients_handed_to_grad_are_never_reused_by_a_later_call():
    from models.window_scorer import WindowScorer, corrupt

    rng = np.random.default_rng(12)
    model = WindowScorer(30, dim=4, hidden=8, rng=0)

    def step(windows, corrupted):
        loss = model.loss(windows, corrupted) + (model.u * model.u).sum()  # a sum rule feeding a leaf too
        loss.backward()
        return loss

    compiled = mg.compile(step, check=False)
    kept = []
    for _ in range(4):
        w = rng.integers(2, 30, (3, 5))
        model.zero_grad()
        compiled(w, corrupt(w, 30, rng))
        kept.append([(p.grad, p.grad.copy()) for p in model.parameters()])
        model_grads = [p.grad for p in model.parameters()]
        model.zero_grad()
        step(w, corrupt(w, 30, np.random.default_rng(0)))  # eager: the memory layout of its gradients
        for p, g in zip(model.parameters(), model_grads):  # eager's layout or C order, the parameters' (an
            assert g.flags.c_contiguous or g.flags.f_contiguous == p.grad.flags.f_contiguous  # update is slower
            assert p.data.flags.c_contiguous  # on mixed layouts; eager's W.grad is F order, the replay's C order)
            p.grad = g
    for grads_of_call in kept:
        for held, copy in grads_of_call:
            np.testing.assert_array_equal(held, copy)  # later calls did not write into it
    assert not any(np.shares_memory(a[0], b[0]) for a, b in zip(kept[0], kept[1]))


def test_the_module_docstring_example_runs():
    import doctest
    import sys

    result = doctest.testmod(sys.modules["minigrad.compile"])
    assert result.attempted >= 5 and result.failed == 0


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_of_every_reduction_and_weight_replays_like_eager(reduction, weighted):
    rng = np.random.default_rng(5)
    W = mg.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    weight = rng.uniform(0.5, 2.0, 4) if weighted else None

    def step(x, y):
        losses = F.cross_entropy(x @ W, y, weight=weight, ignore_index=3, reduction=reduction)
        loss = losses.sum() if reduction == "none" else losses
        loss.backward()
        return loss

    compiled = mg.compile(step)
    for _ in range(3):  # trace, checked replay, replay
        x, y = rng.standard_normal((7, 6)), rng.integers(0, 4, 7)
        W.grad = None
        got = compiled(x, y)
        g_compiled = W.grad.copy()
        W.grad = None
        expected = step(x, y)
        np.testing.assert_allclose(np.asarray(got.data), expected.data, rtol=1e-12)
        np.testing.assert_allclose(g_compiled, W.grad, rtol=1e-10, atol=1e-12)


def test_a_float16_mean_replays_as_eager_computes_it():
    x = (np.random.default_rng(1).random((40, 500)) * 10).astype(np.float16)  # a float16 sum would overflow
    W = mg.tensor(np.ones((500, 1), dtype=np.float16), requires_grad=True)
    compiled = mg.compile(lambda v: (v * W.T).mean())
    for scale in (1.0, 0.5):
        v = x * np.float16(scale)
        expected = (mg.tensor(v) * W.T).mean()
        got = compiled(v)
        assert np.isfinite(got.data) and got.dtype == np.float16
        np.testing.assert_array_equal(got.data, expected.data)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("rows", [8, 40_000])  # 40,000: a float16 sum of the losses or of the count passes 65504
def test_a_float16_cross_entropy_step_replays_as_eager_computes_it(rows, weighted, reduction):
    rng = np.random.default_rng(2)
    W = mg.tensor((rng.standard_normal((4, 5)) * 0.3).astype(np.float16), requires_grad=True)
    weight = np.array([1.0, 2.0, 1.0, 0.5, 1.0], dtype=np.float16) if weighted else None

    def step(x, y):
        loss = F.cross_entropy(x @ W, y, weight=weight, reduction=reduction)
        loss.backward()
        return loss

    compiled = mg.compile(step)  # its check compares the first replay with eager, to float16's tolerance
    for _ in range(3):
        x = rng.standard_normal((rows, 4)).astype(np.float16)
        y = rng.integers(0, 5, rows)
        with np.errstate(over="ignore" if reduction == "sum" else "warn"):  # a sum of 40,000 losses is past 65504
            got, grad, W.grad = compiled(x, y), W.grad, None
            expected = step(x, y)
        assert got.dtype == np.float16 and grad.dtype == np.float16 and np.isfinite(grad).all()
        assert np.isfinite(got.data) == (reduction == "mean" or rows == 8)  # else inf: about 79,000, past 65504
        np.testing.assert_allclose(float(got.data), float(expected.data), rtol=2e-3)
        np.testing.assert_allclose(grad, W.grad, rtol=2e-2, atol=1e-3 * float(np.abs(W.grad).max()))
        W.grad = None
