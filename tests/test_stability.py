"""Numerical edges: softmax, log_softmax, cross_entropy, logsumexp and sigmoid at logits of ±1e4, in
float64 and float32, against the definitions evaluated in 60-digit decimal arithmetic (no shift, no
rule of minigrad); and the documented IEEE results and NumPy warnings of log, sqrt, division and power
at 0 and below (the table in docs/inspecting.md)."""

from __future__ import annotations

import warnings
from decimal import Decimal, localcontext

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import functional as F

DTYPES = [np.float64, np.float32]
# exact in float32 and float64; large, mixed, tied, and close-but-large logits
LOGITS = [
    [1e4, -1e4, 0.0],
    [1e4, 1e4],
    [-1e4, -1e4, -1e4],
    [1e4, 9999.0, 9997.5],
    [-1e4, 3.0, -2.5, 0.5],
    [-1e4, 1e4],
]


# -- references: the definitions, in high precision --------------------------------------------------
def _exp(values):
    return [Decimal(float(v)).exp() for v in values]


def ref_softmax(z):
    with localcontext() as ctx:
        ctx.prec = 60
        e = _exp(z)
        total = sum(e)
        return [x / total for x in e]


def ref_logsumexp(z):
    with localcontext() as ctx:
        ctx.prec = 60
        return sum(_exp(z)).ln()


def ref_sigmoid(x):
    with localcontext() as ctx:
        ctx.prec = 60
        return 1 / (1 + Decimal(float(-x)).exp())


def ref_sigmoid_prime(x):
    with localcontext() as ctx:
        ctx.prec = 60
        e = Decimal(float(-x)).exp()
        return e / (1 + e) ** 2  # d/dx (1 + e^-x)^-1


def as_float(values, dtype):
    return np.array([float(v) for v in values]).astype(dtype)


def close(actual, expected, dtype):
    """Elementwise relative error of a few units in the last place, no absolute slack: a result at ±1e4
    that lost the digits of the logits' magnitude (x − logsumexp(x)) fails here."""
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    assert actual.dtype == dtype
    assert not np.isnan(actual).any()
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=0)


def no_warnings(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return fn()


# -- the stable functions at ±1e4 ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("z", LOGITS)
def test_softmax_value_and_gradient(z, dtype):
    x = mg.tensor(np.array(z, dtype=dtype), requires_grad=True)
    c = np.arange(1, len(z) + 1, dtype=dtype)  # an upstream gradient that tells the entries apart
    y = no_warnings(lambda: mg.softmax(x))
    no_warnings(lambda: (y * c).sum().backward())
    s = ref_softmax(z)
    close(y.data, as_float(s, dtype), dtype)
    # ∂(c·softmax)/∂z_j = s_j (c_j − Σᵢ cᵢ sᵢ)
    cs = sum(Decimal(int(ci)) * si for ci, si in zip(c, s))
    close(x.grad, as_float([sj * (Decimal(int(cj)) - cs) for sj, cj in zip(s, c)], dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("z", LOGITS)
def test_log_softmax_value_and_gradient(z, dtype):
    x = mg.tensor(np.array(z, dtype=dtype), requires_grad=True)
    c = np.arange(1, len(z) + 1, dtype=dtype)
    y = no_warnings(lambda: mg.log_softmax(x))
    no_warnings(lambda: (y * c).sum().backward())
    lse = ref_logsumexp(z)
    close(y.data, as_float([Decimal(float(v)) - lse for v in z], dtype), dtype)
    # ∂(c·log softmax)/∂z_j = c_j − s_j Σᵢ cᵢ
    s = ref_softmax(z)
    close(x.grad, as_float([Decimal(int(cj)) - sj * Decimal(int(c.sum())) for sj, cj in zip(s, c)], dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("z", LOGITS)
def test_logsumexp_value_and_gradient(z, dtype):
    x = mg.tensor(np.array(z, dtype=dtype), requires_grad=True)
    y = no_warnings(lambda: mg.logsumexp(x))
    no_warnings(y.backward)
    close(y.data.reshape(1), as_float([ref_logsumexp(z)], dtype), dtype)
    close(x.grad, as_float(ref_softmax(z), dtype), dtype)  # ∂ lse/∂z = softmax(z)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_value_and_gradient_on_a_batch(dtype):
    rows = [[1e4, -1e4, 0.0], [1e4, 1e4, -1e4], [-1e4, -1e4, -1e4], [-1e4, 3.0, -2.5], [1e4, 9999.0, 9997.5]]
    targets = np.array([1, 0, 2, 2, 2])
    x = mg.tensor(np.array(rows, dtype=dtype), requires_grad=True)
    loss = no_warnings(lambda: F.cross_entropy(x, targets))
    no_warnings(loss.backward)
    n = len(rows)
    # ℓ = mean_b (lse(z_b) − z_b,y_b); ∂ℓ/∂z_b = (softmax(z_b) − onehot(y_b)) / n
    expected = sum(ref_logsumexp(z) - Decimal(z[y]) for z, y in zip(rows, targets)) / n
    close(loss.data.reshape(1), as_float([expected], dtype), dtype)
    grad = [[(s - (j == y)) / n for j, s in enumerate(ref_softmax(z))] for z, y in zip(rows, targets)]
    close(x.grad, np.array([as_float(g, dtype) for g in grad]), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_value_and_gradient(dtype):
    points = [1e4, -1e4, 0.0, 3.0, -3.0, -20.0, -700.0, 0.5]
    x = mg.tensor(np.array(points, dtype=dtype), requires_grad=True)
    y = no_warnings(lambda: mg.sigmoid(x))
    no_warnings(lambda: y.sum().backward())
    close(y.data, as_float([ref_sigmoid(p) for p in points], dtype), dtype)
    close(x.grad, as_float([ref_sigmoid_prime(p) for p in points], dtype), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_gradient_at_large_positive_x_is_off_by_less_than_eps(dtype):
    # The rule σ′ = h(1 − h) loses 1 − h once h rounds near 1: σ′(30) comes out 0 (or a few ulps of 1)
    # instead of e^-30 ≈ 9e-14. The absolute error stays below eps: documented, pinned here.
    points = np.linspace(-30, 30, 121)
    x = mg.tensor(points.astype(dtype), requires_grad=True)
    mg.sigmoid(x).sum().backward()
    error = np.abs(x.grad.astype(np.float64) - as_float([ref_sigmoid_prime(p) for p in points], np.float64))
    assert error.max() < np.finfo(dtype).eps


def test_log_softmax_with_minus_inf_masks():
    x = mg.tensor([0.0, -np.inf, np.log(3.0)], dtype=np.float64, requires_grad=True)
    y = no_warnings(lambda: mg.log_softmax(x))
    no_warnings(lambda: y[0].backward())
    np.testing.assert_allclose(y.data, [np.log(0.25), -np.inf, np.log(0.75)])
    np.testing.assert_allclose(x.grad, [0.75, 0.0, -0.75])  # onehot(0) − softmax
    with pytest.warns(RuntimeWarning):  # nothing left: log Σ = log 0 = -inf, then -inf − (-inf) = nan
        every = mg.log_softmax(mg.tensor([-np.inf, -np.inf], dtype=np.float64))
    assert np.isnan(every.data).all()


def test_log_softmax_axis_error_names_the_function():
    with pytest.raises(ValueError, match=r"log_softmax: axis 2 is out of range for a tensor of shape \(2, 3\)"):
        mg.log_softmax(mg.ones((2, 3)), axis=2)


# -- domain edges: IEEE results, NumPy's RuntimeWarnings, in forward and in backward ------------------
def _kinds(record) -> set:
    kinds = set()
    for w in record:
        assert issubclass(w.category, RuntimeWarning), w
        text = str(w.message)
        kinds.add("divide" if "divide by zero" in text else "invalid" if "invalid value" in text else text)
    return kinds


def run(f, values, dtype):
    xs = [mg.tensor(np.array(v, dtype=dtype), requires_grad=True) for v in values]
    with warnings.catch_warnings(record=True) as forward:
        warnings.simplefilter("always")
        y = f(*xs)
    with warnings.catch_warnings(record=True) as backward:
        warnings.simplefilter("always")
        y.backward()
    return y.data, [x.grad for x in xs], _kinds(forward), _kinds(backward)


inf, nan = np.inf, np.nan
# name, f, inputs, value, gradients, warnings of forward, warnings of backward
EDGES = [
    ("log(0)", mg.log, [0.0], -inf, [inf], {"divide"}, {"divide"}),
    ("log(-1)", mg.log, [-1.0], nan, [-1.0], {"invalid"}, set()),
    ("log1p(-1)", mg.log1p, [-1.0], -inf, [inf], {"divide"}, {"divide"}),
    ("sqrt(0)", mg.sqrt, [0.0], 0.0, [inf], set(), {"divide"}),
    ("sqrt(-1)", mg.sqrt, [-1.0], nan, [nan], {"invalid"}, set()),
    ("1/0", mg.divide, [1.0, 0.0], inf, [inf, -inf], {"divide"}, {"divide"}),
    ("-1/0", mg.divide, [-1.0, 0.0], -inf, [inf, inf], {"divide"}, {"divide"}),
    ("0/0", mg.divide, [0.0, 0.0], nan, [inf, nan], {"invalid"}, {"divide"}),
    ("0**-1", mg.power, [0.0, -1.0], inf, [-inf, nan], {"divide"}, {"divide", "invalid"}),
    ("0**0.5", mg.power, [0.0, 0.5], 0.0, [inf, 0.0], set(), {"divide"}),
    ("0**0", mg.power, [0.0, 0.0], 1.0, [0.0, 0.0], set(), set()),
    ("0**2", mg.power, [0.0, 2.0], 0.0, [0.0, 0.0], set(), set()),
    ("(-1)**0.5", mg.power, [-1.0, 0.5], nan, [nan, nan], {"invalid"}, {"invalid"}),
    ("(-2)**2", mg.power, [-2.0, 2.0], 4.0, [-4.0, nan], set(), {"invalid"}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name, f, inputs, value, grads, fw, bw", EDGES, ids=[e[0] for e in EDGES])
def test_domain_edges(name, f, inputs, value, grads, fw, bw, dtype):
    y, g, forward, backward = run(f, inputs, dtype)
    np.testing.assert_array_equal(y, np.array(value, dtype=dtype))  # nan equals nan here
    assert y.dtype == dtype
    for actual, expected in zip(g, grads):
        np.testing.assert_array_equal(actual, np.array(expected, dtype=dtype))
        assert actual.dtype == dtype
    assert (forward, backward) == (fw, bw)


def test_a_constant_exponent_on_a_negative_base_has_a_clean_gradient():
    x = mg.tensor([-2.0, 0.0, 3.0], requires_grad=True)
    y = no_warnings(lambda: x**2)
    no_warnings(lambda: y.sum().backward())
    np.testing.assert_array_equal(x.grad, [-4.0, 0.0, 6.0])


def test_log_of_zero_warns_in_forward_and_backward():
    x = mg.tensor([0.0, 1.0], requires_grad=True)
    with pytest.warns(RuntimeWarning, match="divide by zero encountered in log"):
        y = mg.log(x)
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        y.sum().backward()
    np.testing.assert_array_equal(y.data, [-inf, 0.0])
    np.testing.assert_array_equal(x.grad, [inf, 1.0])


def test_sqrt_gradient_at_zero_is_inf_with_a_warning():
    x = mg.tensor([0.0, 4.0], requires_grad=True)
    y = no_warnings(lambda: mg.sqrt(x))
    with pytest.warns(RuntimeWarning, match="divide by zero"):
        y.sum().backward()
    np.testing.assert_array_equal(x.grad, [inf, 0.25])


def test_numpy_error_settings_are_respected():
    # the warnings are NumPy's own: np.errstate turns them into errors (or silences them)
    x = mg.tensor([0.0], requires_grad=True)
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError, match="divide by zero"):
        mg.log(x)
    with np.errstate(divide="ignore"):
        y = no_warnings(lambda: mg.log(x))
        no_warnings(lambda: y.sum().backward())
    assert x.grad[0] == inf


# -- float16 means ------------------------------------------------------------------------------------
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_float16_mean_sums_in_float32_as_numpy_does(axis, keepdims):
    # 21,000 values up to 10: a float16 running sum passes 65504 and would make the mean inf
    x = (np.random.default_rng(0).random((300, 70)) * 10).astype(np.float16)
    t = mg.tensor(x, requires_grad=True)
    m = t.mean(axis=axis, keepdims=keepdims)
    expected = np.mean(x, axis=axis, keepdims=keepdims)
    assert m.dtype == np.float16 and m.shape == expected.shape
    np.testing.assert_array_equal(m.data, expected)
    m.sum().backward()
    n = x.size // expected.size
    assert t.grad.dtype == np.float16
    np.testing.assert_array_equal(t.grad, np.full(x.shape, np.float16(1) / np.float16(n)))


def test_float16_mean_gradient_over_more_elements_than_float16_counts():
    # n = 70,000 is inf in float16: g / n would be a zero gradient; 1/70,000 is a float16 (subnormal) number
    x = mg.tensor(np.ones((70_000, 2), dtype=np.float16), requires_grad=True)
    x.mean().backward()
    np.testing.assert_array_equal(x.grad, np.full(x.shape, np.float16(1 / 140_000)))
    x.grad = None
    x.mean(axis=0).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full(x.shape, np.float16(1 / 70_000)))


@pytest.mark.parametrize("weighted", [False, True])
def test_float16_cross_entropy_mean_sums_in_float32(weighted):
    # 70,000 losses of about 2: their float16 sum and the count of targets would pass 65504
    rng = np.random.default_rng(0)
    z = rng.standard_normal((70_000, 5)).astype(np.float16)
    y = rng.integers(0, 5, 70_000)
    weight = np.array([1.0, 2.0, 1.0, 0.5, 1.0], dtype=np.float16) if weighted else None
    t = mg.tensor(z, requires_grad=True)
    loss = F.cross_entropy(t, y, weight=weight)
    z64 = z.astype(np.float64)
    w = np.ones(5) if weight is None else weight.astype(np.float64)
    per_row = (np.log(np.exp(z64).sum(axis=1)) - z64[np.arange(len(y)), y]) * w[y]
    assert loss.dtype == np.float16
    np.testing.assert_allclose(float(loss.data), per_row.sum() / w[y].sum(), rtol=2e-3)
    loss.backward()
    p = np.exp(z64) / np.exp(z64).sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    expected = p * (w[y] / w[y].sum())[:, None]  # entries of 1e-10 to 2e-5: float16 subnormals, 6e-8 apart
    assert t.grad.dtype == np.float16
    np.testing.assert_allclose(t.grad.astype(np.float64), expected, rtol=2e-2, atol=1.2e-7)
