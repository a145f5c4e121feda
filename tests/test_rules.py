"""Every rule in ``minigrad.registry.PRIMITIVES`` against central differences, in float64 and float32, and its
second derivative (the rule run on Tensors with ``create_graph``) against differences of the first.

``CASES`` maps each primitive to a hypothesis strategy that draws ``(f, inputs)``: a function of
tensors that reaches the primitive, and its inputs (random shapes with broadcasting, 0-d and size-1
axes). ``test_every_rule_has_a_case`` fails when a rule is added without a case. Each draw goes through
``minigrad.testing.check_function``: gradcheck, plus gradients of the input's shape and dtype that share
no memory with each other, the inputs or the output, and inputs left unmodified.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad.registry import PRIMITIVES, with_rules
from minigrad.shape_ops import getitem, scatter_add
from minigrad.testing import check_function, gradgradcheck
from minigrad.testing import strategies as mst


def _pair(low=-3.0, high=3.0, low_b=None, high_b=None):
    """Two arrays of mutually broadcastable shapes."""
    return mst.broadcastable_shapes(2).flatmap(
        lambda s: st.tuples(
            mst.arrays(s[0], low=low, high=high),
            mst.arrays(s[1], low=low if low_b is None else low_b, high=high if high_b is None else high_b),
        )
    )


def _one(low=-3.0, high=3.0, away_from=(), min_dims=0):
    return mst.arrays(mst.shapes(min_dims=min_dims), low=low, high=high, away_from=away_from).map(lambda a: (a,))


def _binary(fn, **kw):
    return _pair(**kw).map(lambda ab: (fn, ab))


def _unary(fn, **kw):
    return _one(**kw).map(lambda a: (fn, a))


def _far_apart(ab):
    a, b = np.broadcast_arrays(*ab)
    return bool(np.all(np.abs(a - b) > 1e-3))


@st.composite
def _reduction(draw, fn, distinct=False):
    x = draw(mst.arrays(mst.shapes(), low=-3, high=3))
    if distinct:  # keep max/min away from ties, where the derivative jumps
        flat = np.unique(np.round(x.ravel(), 3))
        assume(flat.size == x.size)
    axis = draw(mst.axes(x.ndim))
    keepdims = draw(st.booleans())
    return (lambda t: fn(t, axis=axis, keepdims=keepdims)), (x,)


@st.composite
def _matmul(draw):
    n, k, m = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch_a, batch_b = draw(mst.broadcastable_shapes(2, max_dims=2, max_side=3))
    a_shape = draw(st.sampled_from([(k,), (*batch_a, n, k)]))
    b_shape = draw(st.sampled_from([(k,), (*batch_b, k, m)]))
    a, b = draw(mst.arrays(a_shape)), draw(mst.arrays(b_shape))
    return mg.matmul, (a, b)


EINSUM_SPECS = [
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("i,i->", [(3,), (3,)]),
    ("i,j->ij", [(2,), (3,)]),
    ("ii->i", [(3, 3)]),
    ("ii", [(3, 3)]),
    ("ij->", [(2, 3)]),
    ("ij,jk", [(2, 3), (3, 2)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]),
    ("ij,ij->i", [(2, 3), (2, 3)]),
    ("iij,k->jk", [(2, 2, 3), (2,)]),
]


@st.composite
def _einsum(draw, specs=EINSUM_SPECS):
    spec, shapes = draw(st.sampled_from(specs))
    arrays = tuple(draw(mst.arrays(s)) for s in shapes)
    return (lambda *ts: mg.einsum(spec, *ts)), arrays


@st.composite
def _transpose(draw):
    x = draw(mst.arrays(mst.shapes()))
    axes = draw(st.none() | st.permutations(range(x.ndim)).map(tuple))
    return (lambda t: t.transpose(axes) if axes is not None else t.T), (x,)


@st.composite
def _reshape(draw):
    x = draw(mst.arrays(mst.shapes()))
    shape = draw(st.sampled_from([(-1,), (x.size, 1), (1, x.size, 1), x.shape[::-1] if x.ndim else ()]))
    assume(int(np.prod(shape)) in (x.size, -1) or -1 in shape)
    return (lambda t: t.reshape(shape)), (x,)


@st.composite
def _broadcast_to(draw):
    a_shape, b_shape = draw(mst.broadcastable_shapes(2))
    target = np.broadcast_shapes(a_shape, b_shape)
    x = draw(mst.arrays(a_shape))
    return (lambda t: mg.broadcast_to(t, target)), (x,)


@st.composite
def _getitem(draw):
    x = draw(mst.arrays(mst.shapes(min_dims=1)))
    kind = draw(st.sampled_from(["slice", "int-array", "bool-mask", "mixed"]))
    if kind == "slice":
        index = (slice(draw(st.integers(0, x.shape[0] - 1)), None, draw(st.integers(1, 2))), Ellipsis)
    elif kind == "int-array":  # repeats included: their gradients add up
        index = draw(mst.indices(x.shape))
    elif kind == "bool-mask":
        index = draw(hnp.arrays(bool, x.shape))
    else:
        index = (draw(mst.indices(x.shape)), Ellipsis) if x.ndim == 1 else (draw(mst.indices(x.shape)), 0)
    return (lambda t: t[index]), (x,)


@st.composite
def _scatter_add(draw):
    shape = draw(mst.shapes(min_dims=1))
    index = draw(mst.indices(shape))
    g = draw(mst.arrays((len(index), *shape[1:])))
    return (lambda t: scatter_add(t, index, shape)), (g,)


@st.composite
def _embedding(draw):
    from minigrad.nn.functional import embedding

    table = draw(mst.arrays(mst.shapes(min_dims=2, max_dims=3)))
    index = draw(mst.indices(table.shape)) % table.shape[0]  # repeats included: their gradients add up
    index = index.reshape(-1, 1) if len(index) % 2 else index.reshape(2, -1)
    return (lambda t: embedding(index, t)), (table,)


@st.composite
def _concatenate(draw):
    base = draw(mst.shapes(min_dims=1))
    axis = draw(st.integers(-len(base), len(base) - 1))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        shape[axis] = draw(st.integers(1, 3))
        parts.append(draw(mst.arrays(tuple(shape))))
    return (lambda *ts: mg.concatenate(ts, axis=axis)), tuple(parts)


@st.composite
def _where(draw):
    c_shape, a_shape, b_shape = draw(mst.broadcastable_shapes(3))
    cond = draw(hnp.arrays(bool, c_shape))
    a, b = draw(mst.arrays(a_shape)), draw(mst.arrays(b_shape))
    return (lambda x, y: mg.where(cond, x, y)), (a, b)


@st.composite
def _clip(draw):
    x = draw(mst.arrays(mst.shapes(), away_from=(-1.0, 1.5)))
    lo, hi = draw(st.sampled_from([(-1.0, 1.5), (None, 1.5), (-1.0, None)]))
    return (lambda t: mg.clip(t, lo, hi)), (x,)


@st.composite
def _cross_entropy(draw):
    from minigrad.nn.functional import cross_entropy

    z = draw(mst.arrays(mst.shapes(min_dims=1), low=-3, high=3))
    c = z.shape[-1]
    target = draw(hnp.arrays(np.int64, z.shape[:-1], elements=st.integers(-1, c - 1)))  # -1: ignored
    assume(bool(np.any(target >= 0)))  # the mean over no counted target is 0/0
    weight = draw(st.none() | mst.arrays((c,), low=0.5, high=2.0))
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    return (lambda t: cross_entropy(t, target, weight=weight, ignore_index=-1, reduction=reduction)), (z,)


@st.composite
def _cumsum(draw):
    x = draw(mst.arrays(mst.shapes()))
    axis = draw(st.none() | st.integers(0, max(x.ndim - 1, 0))) if x.ndim else None
    return (lambda t: mg.cumsum(t, axis=axis)), (x,)


@st.composite
def _cumprod(draw):
    x = draw(mst.arrays(mst.shapes(max_side=4), low=0.5, high=1.5))
    # a root, so that a product of up to 64 of them stays small: 1.5²⁴ made the numerical differences of
    # sin(product) in test_layouts miss by 1e-5
    x = (x ** (1.0 / max(1, x.size // 4))).astype(x.dtype)
    x = np.where(draw(hnp.arrays(np.bool_, x.shape)), 0.0, x).astype(x.dtype)  # zeros, where the rule divides not
    axis = draw(st.none() | st.integers(0, max(x.ndim - 1, 0))) if x.ndim else None
    return (lambda t: mg.cumprod(t, axis=axis)), (x,)


@st.composite
def _prod(draw):
    x = draw(mst.arrays(mst.shapes(max_side=4), low=0.5, high=1.5))
    # a root, so that a product of up to 64 of them stays small: 1.5²⁴ made the numerical differences of
    # sin(product) in test_layouts miss by 1e-5
    x = (x ** (1.0 / max(1, x.size // 4))).astype(x.dtype)
    x = np.where(draw(hnp.arrays(np.bool_, x.shape)), 0.0, x).astype(x.dtype)
    axis = draw(st.none() | st.integers(-x.ndim, x.ndim - 1)) if x.ndim else None
    keepdims = draw(st.booleans())
    return (lambda t: mg.prod(t, axis=axis, keepdims=keepdims)), (x,)


@st.composite
def _norm(draw):
    x = draw(mst.arrays(mst.shapes(min_dims=1), low=0.3, high=3.0))  # away from 0, where it has no gradient
    axis = draw(st.none() | st.integers(0, x.ndim - 1))
    keepdims = draw(st.booleans())
    return (lambda t: mg.norm(t, axis=axis, keepdims=keepdims)), (x,)


@st.composite
def _conv_shapes(draw):
    """(x shape, weight shape, geometry) of a small 1-D or 2-D convolution with any stride, padding,
    dilation and groups."""
    from minigrad.conv import geometry

    nd = draw(st.integers(1, 2))
    groups = draw(st.integers(1, 2))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    inner = tuple(draw(st.integers(1, 5)) for _ in range(nd))
    stride, dilation = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding = draw(st.integers(0, 1))
    x_shape, w_shape = (draw(st.integers(1, 2)), c, *inner), (o, c // groups, *kernel)
    try:
        geom = geometry("conv", x_shape, w_shape, stride, padding, dilation, groups)
    except ValueError:  # a kernel larger than the padded input
        assume(False)
    return x_shape, w_shape, geom


@st.composite
def _conv(draw, which="conv"):
    from minigrad.conv import conv_input, conv_nd, conv_weight
    from minigrad.conv_kernels import output_size

    x_shape, w_shape, geom = draw(_conv_shapes())
    y_shape = (x_shape[0], w_shape[0], *output_size(x_shape[2:], w_shape[2:], geom))
    x, w, g = (draw(mst.arrays(s)) for s in (x_shape, w_shape, y_shape))
    if which == "conv":
        return (lambda a, b: conv_nd(a, b, geom)), (x, w)
    if which == "conv_input":
        return (lambda a, b: conv_input(a, b, x_shape, geom)), (g, w)
    return (lambda a, b: conv_weight(a, b, w_shape, geom)), (x, g)


@st.composite
def _max_pool(draw):
    from minigrad.nn.functional import max_pool1d, max_pool2d

    nd = draw(st.integers(1, 2))
    x = draw(mst.arrays((1, 2) + tuple(draw(st.integers(2, 5)) for _ in range(nd)), low=-3, high=3))
    flat = np.unique(np.round(x.ravel(), 3))
    assume(flat.size == x.size)  # away from ties, where the derivative jumps
    kernel, stride = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    padding, dilation = draw(st.integers(0, kernel // 2)), draw(st.integers(1, 2))
    assume(all(dilation * (kernel - 1) + 1 <= n + 2 * padding for n in x.shape[2:]))
    pool = max_pool1d if nd == 1 else max_pool2d
    return (lambda t: pool(t, kernel, stride, padding, dilation)), (x,)


@st.composite
def _gru_scan(draw):
    from minigrad.nn.rnn_scan import gru_states_of

    steps, batch, hidden = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    gi = draw(mst.arrays((steps, batch, 3 * hidden)))
    h0, w = draw(mst.arrays((batch, hidden))), draw(mst.arrays((3 * hidden, hidden)))
    b_ih, b_hh = draw(mst.arrays((3 * hidden,))), draw(mst.arrays((3 * hidden,)))
    lengths = draw(hnp.arrays(np.int64, (batch,), elements=st.integers(1, steps)))
    mask = draw(st.sampled_from([None, np.arange(steps)[:, None] < lengths]))
    reverse = draw(st.booleans())
    return (lambda *ts: gru_states_of(*ts, mask, reverse)), (gi, h0, w, b_ih, b_hh)


@st.composite
def _lstm_scan(draw):
    from minigrad.nn.lstm_scan import lstm_states_of

    steps, batch, hidden = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    gi = draw(mst.arrays((steps, batch, 4 * hidden)))
    h0, c0 = draw(mst.arrays((batch, hidden))), draw(mst.arrays((batch, hidden)))
    w, b_ih, b_hh = (draw(mst.arrays(s)) for s in [(4 * hidden, hidden), (4 * hidden,), (4 * hidden,)])
    lengths = draw(hnp.arrays(np.int64, (batch,), elements=st.integers(1, steps)))
    mask = draw(st.sampled_from([None, np.arange(steps)[:, None] < lengths]))
    reverse = draw(st.booleans())
    return (lambda *ts: lstm_states_of(*ts, mask, reverse)), (gi, h0, c0, w, b_ih, b_hh)


@st.composite
def _layer_norm(draw):
    from minigrad.nn.fused_norms import layer_norm

    x = draw(mst.arrays(mst.shapes(min_dims=1), low=-3, high=3))
    k = draw(st.integers(1, x.ndim))
    axes = tuple(range(x.ndim - k, x.ndim))
    affine = draw(st.sampled_from(["none", "weight", "both"]))
    if affine == "none":
        return (lambda t: layer_norm(t, None, None, axes, 0.1)), (x,)
    w = draw(mst.arrays(x.shape[x.ndim - k :], low=-2, high=2))
    if affine == "weight":
        return (lambda t, tw: layer_norm(t, tw, None, axes, 0.1)), (x, w)
    b = draw(mst.arrays(x.shape[x.ndim - k :], low=-2, high=2))
    return (lambda t, tw, tb: layer_norm(t, tw, tb, axes, 0.1) * tw), (x, w, b)


def _fused_softmax():
    from minigrad.nn.fused_norms import fused_softmax

    return _one(min_dims=1).flatmap(
        lambda a: st.sampled_from([1.0, 0.3, 2.5]).map(lambda c: ((lambda t: fused_softmax(t, c)), a))
    )


@st.composite
def _linear_rows(draw):
    from minigrad.nn.fused_norms import linear_rows

    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    x, w = draw(mst.arrays((m, k))), draw(mst.arrays((n, k)))
    if draw(st.booleans()):
        return (lambda a, b: linear_rows(a, b)), (x, w)
    return (lambda a, b, c: linear_rows(a, b, c) * c), (x, w, draw(mst.arrays((n,))))


class _ScaledSin(mg.Function):
    """A custom operation a ∘ sin(b) with broadcasting: the case of the table's "function" gateway."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * np.sin(b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        return g * np.sin(b), g * a * np.cos(b)  # broadcast shapes: the engine sums them away


CASES = {
    "add": _binary(mg.add),
    "subtract": _binary(mg.subtract),
    "multiply": _binary(mg.multiply),
    "divide": _pair(low_b=0.5, high_b=2.0).map(lambda ab: (lambda a, b: a / (b * np.sign(ab[1] - 1.2)), ab)),
    "power": _binary(mg.power, low=0.5, high=2.0),
    "negative": _unary(mg.negative),
    "absolute": _unary(mg.abs, away_from=(0.0,)),
    "maximum": _pair().filter(_far_apart).map(lambda ab: (mg.maximum, ab)),
    "minimum": _pair().filter(_far_apart).map(lambda ab: (mg.minimum, ab)),
    "clip": _clip(),
    "where": _where(),
    "exp": _unary(mg.exp),
    "log": _unary(mg.log, low=0.2, high=3.0),
    "log1p": _unary(mg.log1p, low=-0.5, high=3.0),
    "expm1": _unary(mg.expm1),
    "sqrt": _unary(mg.sqrt, low=0.2, high=3.0),
    "sin": _unary(mg.sin),
    "cos": _unary(mg.cos),
    "tanh": _unary(mg.tanh),
    "checkpoint": _unary(lambda x: mg.checkpoint(lambda x: mg.sin(x) * x, x)),  # f = x sin x, run again
    "sigmoid": _unary(mg.sigmoid),
    "relu": _unary(mg.relu, away_from=(0.0,)),
    "square": _unary(mg.square),
    "exp2": _unary(mg.exp2),
    "log2": _unary(mg.log2, low=0.2, high=3.0),
    "log10": _unary(mg.log10, low=0.2, high=3.0),
    "tan": _unary(mg.tan, low=-1.2, high=1.2),
    "sinh": _unary(mg.sinh),
    "cosh": _unary(mg.cosh),
    "arctan": _unary(mg.arctan),
    "arcsin": _unary(mg.arcsin, low=-0.9, high=0.9),
    "arccos": _unary(mg.arccos, low=-0.9, high=0.9),
    "logaddexp": _binary(mg.logaddexp),
    "hypot": _binary(mg.hypot, low=0.3, high=3.0),
    "cumsum": _cumsum(),
    "cumprod": _cumprod(),
    "prod": _prod(),
    "erf": _unary(mg.erf),
    "norm": _norm(),
    "sum": _reduction(mg.sum),
    "mean": _reduction(mg.mean),
    "max": _reduction(mg.max, distinct=True),
    "min": _reduction(mg.min, distinct=True),
    "logsumexp": _reduction(mg.logsumexp),
    "matmul": _matmul(),
    "einsum": _einsum(),
    "reshape": _reshape(),
    "transpose": _transpose(),
    "broadcast_to": _broadcast_to(),
    "astype": _unary(lambda t: t.astype(np.float64) * 3),  # float32 in: the gradient comes back float32
    "concatenate": _concatenate(),
    "getitem": _getitem(),
    "scatter_add": _scatter_add(),
    "function": _binary(_ScaledSin.apply),
    "embedding": _embedding(),
    "cross_entropy": _cross_entropy(),
    "conv": _conv(),
    "conv_input": _conv("conv_input"),
    "conv_weight": _conv("conv_weight"),
    "max_pool": _max_pool(),
    "gru_scan": _gru_scan(),
    "lstm_scan": _lstm_scan(),
    "layer_norm": _layer_norm(),
    "fused_softmax": _fused_softmax(),
    "linear_rows": _linear_rows(),
}


def test_every_rule_has_a_case():
    assert set(with_rules()) == set(CASES), (
        f"rules without a case: {set(with_rules()) - set(CASES)}; stale: {set(CASES) - set(with_rules())}"
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("op", sorted(CASES))
@given(data=st.data())
def test_rule_matches_numerical_gradient(op, dtype, data):
    f, inputs = data.draw(CASES[op], label="case")
    inputs = tuple(x.astype(dtype) for x in inputs)
    assert check_function(f, *inputs)


def _einsum_takes_a_0d_operand() -> bool:
    try:
        mg.einsum("i,->i", np.ones(2), np.float64(2.0))
    except ValueError:
        return False
    return True


# einsum's rule builds an einsum with a 0-d operand when the output is 0-d; where the core rejects empty
# subscripts, those second derivatives fail: they are then pinned as expected failures below.
EINSUM_TAKES_0D = _einsum_takes_a_0d_operand()
SCALAR_EINSUMS = [(spec, shapes) for spec, shapes in EINSUM_SPECS if spec.endswith("->") or spec == "ii"]
SECOND_ORDER_CASES = {
    **CASES,
    "einsum": _einsum(EINSUM_SPECS if EINSUM_TAKES_0D else [c for c in EINSUM_SPECS if c not in SCALAR_EINSUMS]),
}


@pytest.mark.parametrize("op", sorted(SECOND_ORDER_CASES))
@given(data=st.data())
def test_rule_has_the_right_second_derivative(op, data):
    f, inputs = data.draw(SECOND_ORDER_CASES[op], label="case")
    assert gradgradcheck(f, *inputs)


@pytest.mark.xfail(not EINSUM_TAKES_0D, strict=True, raises=ValueError, reason="einsum rejects a 0-d operand")
@pytest.mark.parametrize("spec, shapes", SCALAR_EINSUMS, ids=[s for s, _ in SCALAR_EINSUMS])
def test_einsum_second_derivative_with_a_0d_output(spec, shapes):
    arrays = [np.random.default_rng(0).standard_normal(s) for s in shapes]
    assert gradgradcheck(lambda *ts: mg.einsum(spec, *ts), *arrays)


def test_getitem_repeated_indices_add_up():
    x = mg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[np.array([0, 2, 0, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


def test_scatter_add_is_adjoint_of_getitem():
    # <x[i], g> = <x, scatter_add(g, i)> for any x, g: the two rules are each other's transpose
    rng = np.random.default_rng(0)
    x, index = rng.standard_normal((5, 2)), np.array([4, 0, 4, 1])
    g = rng.standard_normal((4, 2))
    lhs = np.sum(getitem(mg.tensor(x), index).data * g)
    rhs = np.sum(x * scatter_add(mg.tensor(g), index, (5, 2)).data)
    assert np.isclose(lhs, rhs)


def test_power_with_exponent_zero_has_zero_gradient_even_at_zero():
    x = mg.tensor([0.0, 1.0, 2.0], requires_grad=True)
    (x**0.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])


def test_max_of_a_slice_with_nan_sends_the_gradient_to_the_nan():
    x = mg.tensor([[1.0, np.nan, 3.0], [1.0, 5.0, 2.0]], requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, k, n", [(64, 6, 3), (300, 20, 8), (300, 8, 20), (70, 5, 5)])
def test_matmul_rules_in_their_blas_layouts(m, k, n, dtype):
    # from 64 rows the rules copy a tiny transposed B, and compute Aᵀg as (gᵀA)ᵀ when it is narrow:
    # compared with the plain products, and with central differences at the smallest size
    rng = np.random.default_rng(m + k + n)
    a, b, g = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k, n), (m, n)))
    ta, tb = mg.tensor(a, requires_grad=True), mg.tensor(b, requires_grad=True)
    (ta @ tb).backward(g)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ta.grad, g @ b.T, rtol=tol, atol=tol)
    np.testing.assert_allclose(tb.grad, a.T @ g, rtol=tol, atol=tol)
    assert ta.grad.flags.c_contiguous and tb.grad.flags.c_contiguous
    assert ta.grad.dtype == tb.grad.dtype == dtype
    if m == 64:
        assert check_function(mg.matmul, a, b)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m, k", [(300, 20), (3, 2)])
def test_matmul_rules_with_a_vector_operand(m, k, dtype):
    # the outer products g bᵀ (A b) and a gᵀ (aᵀ B): einsum from 4096 elements, a broadcast product below
    rng = np.random.default_rng(m)
    a, v, g, h = (rng.standard_normal(s).astype(dtype) for s in ((m, k), (k,), (m,), (k,)))
    ta, tv = mg.tensor(a, requires_grad=True), mg.tensor(v, requires_grad=True)
    (ta @ tv).backward(g)
    tu, tb = mg.tensor(g, requires_grad=True), mg.tensor(a, requires_grad=True)
    (tu @ tb).backward(h)
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(ta.grad, np.outer(g, v), rtol=tol, atol=tol)
    np.testing.assert_allclose(tb.grad, np.outer(g, h), rtol=tol, atol=tol)
    np.testing.assert_allclose(tv.grad, a.T @ g, rtol=tol, atol=tol)
    np.testing.assert_allclose(tu.grad, a @ h, rtol=tol, atol=tol)
    assert ta.grad.dtype == tb.grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("op", ["tanh", "sigmoid", "sin", "cos"])
@pytest.mark.parametrize("shape", [(), (4,), (3, 5)])
def test_in_place_array_form_of_a_rule_equals_its_expression(op, shape, dtype):
    # On arrays these rules compute into their own temporary; on Tensors they run the expression. The two
    # must agree bit for bit, with g an ordinary array and with g a read-only broadcast view (a sum's rule).
    rng = np.random.default_rng(len(shape))
    x = rng.standard_normal(shape).astype(dtype)
    ans = getattr(mg, op)(mg.tensor(x)).data
    rule = PRIMITIVES[op].vjps[0]
    for g in (rng.standard_normal(shape).astype(dtype), np.broadcast_to(np.asarray(0.7, dtype), shape)):
        on_arrays = np.asarray(rule(g, ans, x))  # (0-d: NumPy's scalar, as the expression gives)
        on_tensors = rule(mg.tensor(g), mg.tensor(ans), mg.tensor(x)).data
        assert on_arrays.dtype == dtype and on_arrays.shape == shape
        np.testing.assert_array_equal(on_arrays, on_tensors)
        assert not np.shares_memory(on_arrays, g) and not np.shares_memory(on_arrays, ans)
