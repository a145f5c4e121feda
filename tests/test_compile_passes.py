"""mg.compile's plan transformations: each gives what eager execution gives, and each does happen.

The passes: sibling subgraphs batched into one (``siblings.py``), np.dot for small matmuls, equal-rank
views for broadcasting, heaviside for the subgradient of max against a constant (``peephole.py``,
``vjp_source.py``), forward lines nobody reads dropped (``codegen.py``).
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_compile import grads, lecture_params, max_margin_step

import minigrad as mg


def replay_and_eager(step, params, make_args, tol, exact=False):
    """Trace ``step`` on one draw of its arguments, replay it on another, compare with eager on that one."""
    compiled = mg.compile(step, check=False)
    compiled(*make_args())
    grads(params)
    args = make_args()
    got = compiled(*args)
    g_got = grads(params)
    want = step(*args)
    g_want = grads(params)
    check = np.testing.assert_array_equal if exact else (lambda a, b: np.testing.assert_allclose(a, b, tol, tol))
    check(got.data, want.data)
    for a, b in zip(g_got, g_want):
        assert (a is None) == (b is None)
        if b is not None:
            assert a.dtype == b.dtype and a.shape == b.shape
            check(a, b)
    return compiled.source(*args)


# -- siblings -----------------------------------------------------------------------------------------
def test_the_window_scorer_runs_its_two_windows_as_one_and_matches_eager():
    rng = np.random.default_rng(0)
    params = lecture_params(rng)
    source = replay_and_eager(max_margin_step(*params), params, lambda: rng.standard_normal((2, 3, 20)), 1e-12)
    forward = source.split("_heaviside")[0]
    assert len(re.findall(r"_dot\([rs]\d+, [sp]\d+(?:\.T)?\)", forward)) == 2  # x Wᵀ and h u, once for both windows
    assert source.count("_concatenate") == 1  # the stacked windows
    assert len(re.findall(r"B\d+\[K\d+\] = ", source)) == 2  # the gradients of s and s_c, into one buffer


def test_batching_off_keeps_the_two_windows_apart():
    rng = np.random.default_rng(0)
    params = lecture_params(rng)
    compiled = mg.compile(max_margin_step(*params), batch=False)
    x = rng.standard_normal((2, 3, 20))
    compiled(*x)
    assert "_concatenate" not in compiled.source(*x)


def test_large_members_are_not_stacked():
    rng = np.random.default_rng(0)
    params = lecture_params(rng)
    compiled = mg.compile(max_margin_step(*params))
    x = rng.standard_normal((2, 1000, 20))  # 1000 × 8 hidden values per window: above the size limit
    compiled(*x)
    assert "_concatenate" not in compiled.source(*x)


UNARY_STEPS = {
    "tanh": mg.tanh,
    "sigmoid": mg.sigmoid,
    "relu": mg.relu,
    "exp_small": lambda h: mg.exp(0.1 * h),
    "hinge": lambda h: mg.maximum(0, h - 0.2),
    "square": lambda h: h * h,
}


def sibling_program(ops, taps, n_inputs, cross):
    """The same chain on each input, with shared parameters; ``taps`` use a member outside its chain."""

    def step(W, b, c, u, *xs):
        outs, extra = [], 0
        for k, x in enumerate(xs):
            h = x @ W
            for j, op in enumerate(ops):
                if op == "bias":
                    h = h + b
                elif op == "scale":
                    h = h * c
                elif op == "divide":
                    h = h / (c * c + 1)
                else:
                    h = UNARY_STEPS[op](h)
                if (k, j) in taps:
                    extra = extra + (h * (0.3 + k)).sum()
            outs.append(h @ u)
        loss = sum(((o - 0.5 * k) ** 2).sum() for k, o in enumerate(outs)) + extra
        if cross:
            loss = loss + (outs[0] * outs[-1]).sum()
        loss.backward()
        return loss

    return step


@settings(max_examples=5 * settings.default.max_examples, deadline=None)
@given(
    ops=st.lists(st.sampled_from(["bias", "scale", "divide", *sorted(UNARY_STEPS)]), min_size=1, max_size=5),
    taps=st.sets(st.tuples(st.integers(0, 2), st.integers(0, 4)), max_size=3),
    n_inputs=st.integers(2, 3),
    cross=st.booleans(),
    batch=st.sampled_from([1, 4]),
    dtype=st.sampled_from([np.float64, np.float32]),
    seed=st.integers(0, 2**16),
)
def test_random_sibling_programs_match_eager(ops, taps, n_inputs, cross, batch, dtype, seed):
    rng = np.random.default_rng(seed)
    W, b, c = (mg.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in [(6, 5), (5,), (5,)])
    u = mg.tensor(rng.standard_normal(5).astype(dtype), requires_grad=True)
    params = [W, b, c, u]
    step = sibling_program(ops, taps, n_inputs, cross)
    tol = 1e-4 if dtype == np.float32 else 1e-10

    def make_args():
        return (W, b, c, u, *(rng.standard_normal((batch, 6)).astype(dtype) for _ in range(n_inputs)))

    source = replay_and_eager(step, params, make_args, tol)
    assert "_concatenate" in source  # x W, (ops), h u: at least 2 pairs on the way to 3 with one op


PRE = [lambda x: x, lambda x: 1.5 * x, mg.sin, lambda x: x * x]


@settings(max_examples=3 * settings.default.max_examples, deadline=None)
@given(
    ops=st.lists(st.sampled_from(["bias", "scale", "divide", *sorted(UNARY_STEPS)]), min_size=1, max_size=4),
    taps=st.sets(st.tuples(st.integers(0, 2), st.integers(0, 3)), max_size=2),
    pre=st.lists(st.integers(0, len(PRE) - 1), min_size=3, max_size=3),
    n_inputs=st.integers(2, 3),
    batch=st.sampled_from([1, 3]),
    seed=st.integers(0, 2**16),
)
def test_random_sibling_programs_on_tensors_that_require_grad_match_eager(ops, taps, pre, n_inputs, batch, seed):
    """Inputs that require grad (or values computed from them) are joined by a concatenate node."""
    rng = np.random.default_rng(seed)
    W, b, c, u = (mg.tensor(rng.standard_normal(s), requires_grad=True) for s in [(6, 5), (5,), (5,), (5,)])
    params = [W, b, c, u]
    chain = sibling_program(ops, taps, n_inputs, cross=True)

    def step(*xs):
        return chain(W, b, c, u, *(PRE[pre[k]](x) for k, x in enumerate(xs)))

    def inputs(values):
        return [mg.tensor(v, requires_grad=True) for v in values]

    compiled = mg.compile(step, check=False)
    compiled(*inputs(rng.standard_normal((n_inputs, batch, 6))))
    grads(params)
    values = rng.standard_normal((n_inputs, batch, 6))
    mine, theirs = inputs(values), inputs(values)
    got, g_got = compiled(*mine), grads(params) + [t.grad for t in mine]
    want, g_want = step(*theirs), grads(params) + [t.grad for t in theirs]
    np.testing.assert_allclose(got.data, want.data, rtol=1e-10, atol=1e-10)
    for a, e in zip(g_got, g_want):
        assert (a is None) == (e is None)  # (c is unused without scale or divide)
        if e is not None:
            np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-10)
    assert "np.concatenate((" in compiled.source(*mine)


def test_models_window_scorer_joins_its_two_embedded_windows():
    from models.window_scorer import WindowScorer, corrupt

    rng = np.random.default_rng(10)
    model = WindowScorer(30, dim=4, hidden=8, rng=0)
    params = list(model.parameters())

    def step(w, wc):
        loss = model.loss(w, wc)
        loss.backward()
        return loss

    def make_args():
        w = rng.integers(2, 30, (2, 5))
        return w, corrupt(w, 30, rng)

    source = replay_and_eager(step, params, make_args, 1e-5)
    assert "np.concatenate((" in source and "ascontiguousarray" not in source


def test_siblings_with_a_shared_operand_of_full_rank_are_not_stacked_and_match_eager():
    rng = np.random.default_rng(4)
    M = mg.tensor(rng.standard_normal((3, 4)), requires_grad=True)  # (rows, not broadcast over the rows)

    def step(x, y):
        loss = (mg.tanh(mg.tanh(mg.tanh(x * M) * M) * M) + mg.tanh(mg.tanh(mg.tanh(y * M) * M) * M)).sum()
        loss.backward()
        return loss

    source = replay_and_eager(step, [M], lambda: rng.standard_normal((2, 3, 4)), 1e-12)
    assert "_concatenate" not in source


def test_a_chain_fed_by_its_sibling_is_not_paired_with_it():
    rng = np.random.default_rng(5)
    W = mg.tensor(rng.standard_normal((4, 4)) * 0.5, requires_grad=True)

    def step(x):
        h1 = mg.tanh(mg.tanh(x @ W) @ W)
        h2 = mg.tanh(mg.tanh(h1 @ W) @ W)  # the same operations, on the output of the first
        loss = (h2 * h2).sum()
        loss.backward()
        return loss

    source = replay_and_eager(step, [W], lambda: (rng.standard_normal((1, 4)),), 1e-12)
    assert "_concatenate" not in source


# -- peepholes ----------------------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore:invalid value")  # (the NaN in the sum)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_max_and_min_against_constants_give_eagers_subgradient_at_ties_nan_and_inf(dtype):
    special = np.array([0.0, -0.0, 0.5, -0.5, 2.0, np.nan, np.inf, -np.inf, 1e-300, -1e-300], dtype=dtype)
    c = np.full(special.shape, 0.5, dtype=dtype)

    def step(x):
        loss = (mg.maximum(0, x) + 2 * mg.minimum(x, 0.5) + 3 * mg.maximum(c, x) + 4 * mg.minimum(0.0, x)).sum()
        loss.backward()
        return loss

    x = mg.tensor(special.copy(), requires_grad=True)
    source = replay_and_eager(step, [x], lambda: (x,), 0, exact=True)
    assert source.count("_heaviside") == 4


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((1, 3), (3,))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_small_matmuls_by_np_dot_match_eager(shapes, dtype):
    rng = np.random.default_rng(6)
    a, b = (mg.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes)

    def step():
        loss = mg.tanh(a @ b).sum()
        loss.backward()
        return loss

    tol = 1e-5 if dtype == np.float32 else 1e-12
    source = replay_and_eager(step, [a, b], lambda: (), tol)
    assert "_dot(" in source and "@" not in source


@pytest.mark.parametrize("shapes", [((2, 3), (3,)), ((3,), (2, 3)), ((2, 1, 3), (4, 1)), ((2, 3, 4), (4,)), ((), (3,))])
def test_broadcasting_ufuncs_on_views_of_equal_rank_match_eager(shapes):
    rng = np.random.default_rng(7)
    x, y = (mg.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes)

    def step():
        loss = ((x + y) * (x - y) / (y * y + 1)).sum()
        loss.backward()
        return loss

    source = replay_and_eager(step, [x, y], lambda: (), 1e-12)
    if 0 not in (len(shapes[0]), len(shapes[1])):
        assert "[None" in source


def test_forward_values_nobody_reads_are_not_computed():
    rng = np.random.default_rng(8)
    W = mg.tensor(rng.standard_normal((3, 3)), requires_grad=True)

    def step(x):  # the gradient of Σ x W reads x only: neither x W nor the sum needs computing
        (x @ W).sum().backward()

    compiled = mg.compile(step)
    for _ in range(3):
        x = rng.standard_normal((2, 3))
        assert compiled(x) is None
        got = grads([W])[0]
        step(x)
        np.testing.assert_allclose(got, grads([W])[0], rtol=1e-12)
    assert not re.search(r"^ +s\d+ = ", compiled.source(x), flags=re.M)


def test_transposes_fold_only_when_the_transposed_value_is_read_once():
    from minigrad.compile.lines import _fold_transposes

    lines = ["g1 = _dot(a.T, b).T", "g2 = g1.T", "h1 = c.T", "h2 = h1.T", "k = h1 + 1", "m1 = d.T", "x = m1.T + 1"]
    assert _fold_transposes(lines) == ["g2 = _dot(a.T, b)", "h1 = c.T", "h2 = h1.T", "k = h1 + 1", "m1 = d.T",
                                       "x = m1.T + 1"]  # fmt: skip
    clobbered = ["g1 = e.T", "g2 = 0", "y = g2 + 1", "g2 = g1.T"]  # g2 read in between: the fold would clobber it
    assert _fold_transposes(clobbered) == clobbered


def test_the_gradient_of_a_transposed_weight_is_one_product_in_c_order():
    rng = np.random.default_rng(9)
    W = mg.tensor(rng.standard_normal((8, 20)), requires_grad=True)

    def step(x):
        loss = mg.tanh(x @ W.T).sum()
        loss.backward()
        return loss

    for batch in (1, 100):
        source = replay_and_eager(step, [W], lambda n=batch: (rng.standard_normal((n, 20)),), 1e-12)
        assert re.search(r"g0_\d+ = _dot\(g0_\d+\.T, a0\)\n", source)
        assert ".T\n" not in source  # no transposed view left to copy
        assert ("ascontiguousarray" in source) == (batch >= 64)  # Wᵀ copied to C order for many rows only
    compiled = mg.compile(step)
    compiled(rng.standard_normal((3, 20)))
    assert W.grad.flags.c_contiguous
