"""Random programs over the whole op table, backward (and backward of backward) against numerical gradients.

Hypothesis draws a program: two or three inputs of broadcastable shapes, then a sequence of
operations, each applied to one or two values computed so far (so values are reused and gradients
accumulate), ending in a weighted sum of squares of every value. Some operations only lay the same values
out anew (Fortran order, a strided view, permutations that keep the shape), so that every other operation
also meets non-contiguous operands. ``test_the_programs_reach_every_rule``
checks that the operations below reach every entry of ``minigrad.registry.PRIMITIVES``, so a new rule must be
added here.

Kinked operations (abs, relu, clip, max, min, maximum, minimum) note how far their inputs are from
a kink; a program whose inputs land within ``KINK_MARGIN`` of one is rejected (``assume``), since
no finite difference is right there. Elsewhere ``kinks="raise"``: the check accepts no subgradient.

Run the long profile with ``HYPOTHESIS_PROFILE=thorough python -m pytest tests/test_fuzz.py``
(400 examples per property instead of 12; see docs/reliability.md).
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.engine import backward_pass
from minigrad.nn import functional as F
from minigrad.nn import fused_norms
from minigrad.nn.lstm_scan import lstm_states_of
from minigrad.nn.rnn_scan import gru_states_of
from minigrad.registry import with_rules
from minigrad.testing import gradcheck, gradgradcheck
from minigrad.testing import strategies as mst

KINK_MARGIN = 1e-3  # far beyond the finite-difference step (1e-6) times any slope these programs reach
_distances: list[float] = []  # filled by the kinked operations while a program runs


def _kink(*gaps) -> None:
    """Note the distance to the nearest kink: the smallest |gap| over the arrays given."""
    _distances.append(min(float(np.min(np.abs(g), initial=9.0)) for g in gaps))


def _top_two_gap(x, axis):
    """The gap between the largest two values along ``axis`` (ties make max/min a kink)."""
    d = np.sort(x.data, axis=axis)
    return (d.take([-1], axis) - d.take([-2], axis)) if d.shape[axis] > 1 else np.full(1, 9.0)


def relu(x):
    _kink(x.data)
    return mg.relu(x)


def absolute(x):
    _kink(x.data)
    return mg.abs(x)


def clip(x):
    _kink(x.data + 0.5, x.data - 0.8)
    return mg.clip(x, -0.5, 0.8)


def max_last(x):
    if x.ndim == 0:
        return x
    _kink(_top_two_gap(x, -1))
    return x.max(axis=-1)


def min_first(x):
    if x.ndim == 0:
        return x
    _kink(_top_two_gap(-x, 0))
    return x.min(axis=0, keepdims=True)


def maximum(a, b):
    _kink(np.subtract(a.data, b.data))
    return mg.maximum(a, b)


def minimum(a, b):
    _kink(np.subtract(a.data, b.data))
    return mg.minimum(a, b)


def max_pool_pairs(x):
    if x.size < 2:
        return x
    row = x.reshape(1, 1, -1)
    _kink(np.diff(row.data, axis=-1))  # two equal neighbours: a tie in a window
    return F.max_pool1d(row, 2, 1)


class Softplus(mg.Function):
    """log(1 + eᶻ), a custom operation: Jᵀg = σ(z) ∘ g (written on NumPy, so it also runs on Tensors)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0, x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g / (1 + np.exp(-x))


def _matrix(x):
    return x.reshape(x.shape[0], -1) if x.ndim else x.reshape(1, 1)


UNARY = {
    "tanh": mg.tanh,
    "sin": mg.sin,
    "cos": mg.cos,
    "sigmoid": mg.sigmoid,
    "exp_tanh": lambda x: mg.exp(mg.tanh(x)),
    "expm1_tanh": lambda x: mg.expm1(mg.tanh(x)),
    "log_1_x2": lambda x: mg.log(1 + x * x),
    "sqrt_1_x2": lambda x: mg.sqrt(1 + x * x),
    "log1p_x2": lambda x: mg.log1p(x * x),
    "neg": lambda x: -x,
    "scale": lambda x: x * 0.7,
    "square": lambda x: x**2,
    "relu": relu,
    "abs": absolute,
    "clip": clip,
    "max_last": max_last,
    "min_first": min_first,
    "sum_last_keep": lambda x: x.sum(axis=-1, keepdims=True) if x.ndim else x,
    "mean_first": lambda x: x.mean(axis=0) if x.ndim else x,
    "logsumexp_last": lambda x: mg.logsumexp(x, axis=-1, keepdims=True) if x.ndim else x,
    "log_softmax": lambda x: mg.log_softmax(x, axis=-1) if x.ndim else x,
    "transpose": lambda x: x.T,
    # the same values in other layouts and permutations that keep the shape (a replay must not take them for .T)
    "fortran_order": lambda x: x.T.reshape(-1).reshape(x.T.shape).T,
    "strided": lambda x: mg.stack([x, x], axis=-1)[..., 0],
    "identity_permutation": lambda x: x.transpose(tuple(range(x.ndim))),
    "swap_first_last": lambda x: x.swapaxes(0, -1) if x.ndim else x,
    "swap_last_with_itself": lambda x: x.swapaxes(-1, -1) if x.ndim else x,
    "flatten": lambda x: x.reshape(-1),
    "broadcast": lambda x: mg.broadcast_to(x, (2,) + x.shape),
    "round_trip_cast": lambda x: x.astype(np.float64).astype(x.dtype),  # exact both ways for float32 and 64
    "reverse": lambda x: x[::-1] if x.ndim else x,
    "gather": lambda x: x[np.array([0, 0, -1])] if x.ndim else x,
    "embed_rows": lambda x: F.embedding(np.array([[0, len(x) - 1], [0, 0]]), x) if x.ndim else x,
    "gram_tanh": lambda x: mg.tanh(_matrix(x)) @ mg.tanh(_matrix(x)).T,  # a contraction, bounded by its length
    "einsum_rows": lambda x: mg.einsum("ij,ij->i", _matrix(x), mg.sin(_matrix(x))),
    "square_fn": mg.square,
    "exp2_tanh": lambda x: mg.exp2(mg.tanh(x)),
    "log2_1_x2": lambda x: mg.log2(1 + x * x),
    "log10_1_x2": lambda x: mg.log10(1 + x * x),
    "tan_tanh": lambda x: mg.tan(mg.tanh(x)),
    "sinh_tanh": lambda x: mg.sinh(mg.tanh(x)),
    "cosh_tanh": lambda x: mg.cosh(mg.tanh(x)),
    "arctan": mg.arctan,
    "arcsin_tanh": lambda x: mg.arcsin(0.9 * mg.tanh(x)),
    "arccos_tanh": lambda x: mg.arccos(0.9 * mg.tanh(x)),
    "cumsum_first": lambda x: mg.cumsum(x, axis=0) if x.ndim else x,
    "cumprod_last": lambda x: mg.cumprod(mg.tanh(x), axis=-1) if x.ndim else x,
    "prod_first_keep": lambda x: mg.prod(mg.tanh(x), axis=0, keepdims=True) if x.ndim else x,
    "norm_last_keep": lambda x: mg.norm(1 + x * x, axis=-1, keepdims=True) if x.ndim else x,
    "erf": mg.erf,
    "layer_norm_last": lambda x: fused_norms.layer_norm(x, None, None, (x.ndim - 1,), 0.1) if x.ndim else x,
    "fused_softmax_last": lambda x: fused_norms.fused_softmax(x) if x.ndim else x,
    "linear_rows": lambda x: fused_norms.linear_rows(_matrix(x), mg.sin(_matrix(x)), mg.cos(_matrix(x)[:, 0])),
    "cross_entropy_rows": lambda x: F.cross_entropy(
        _matrix(x), np.zeros(len(_matrix(x)), dtype=int), reduction="none"
    ),  # the fused primitive, one loss per row
    "max_pool_pairs": max_pool_pairs,
    "gru_scan_rows": lambda x: gru_states_of(
        mg.stack([_matrix(x), 0.5 * _matrix(x), -_matrix(x)], axis=-1),
        np.full((_matrix(x).shape[1], 1), 0.3),
        np.array([[0.5], [-1.0], [0.8]]),
        np.array([0.2, 0.0, -0.1]),
        np.array([0.1, -0.2, 0.3]),
        None,
        x.ndim % 2 == 1,
    ),  # the GRU's loop over time: rows as steps, columns as sequences, hidden size 1
    "lstm_scan_rows": lambda x: lstm_states_of(
        mg.stack([_matrix(x), 0.5 * _matrix(x), -_matrix(x), mg.tanh(_matrix(x))], axis=-1),
        np.full((_matrix(x).shape[1], 1), 0.3),
        np.full((_matrix(x).shape[1], 1), -0.2),
        np.array([[0.5], [-1.0], [0.8], [0.3]]),
        np.array([0.2, 0.0, -0.1, 0.1]),
        None,
        None,
        x.ndim % 2 == 0,
    ),  # the LSTM's loop: [h | c] after each step
}
# test_compile_programs.py draws from UNARY and BINARY too; mg.compile refuses custom Functions (they run
# eagerly), so the custom operation is added for the fuzz tests here only
FUZZ_UNARY = {
    **UNARY,
    "softplus_function": Softplus.apply,
    "checkpoint": lambda x: mg.checkpoint(lambda x: mg.sin(x) * x, x),  # recomputed in backward
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1.5 + mg.tanh(b)),
    "pow": lambda a, b: (1 + a * a) ** mg.tanh(b),
    "where": lambda a, b: mg.where(np.arange(a.size).reshape(a.shape) % 2 == 0, a, b),  # a fixed mask
    "maximum": maximum,
    "minimum": minimum,
    "outer_matmul": lambda a, b: a.reshape(-1, 1) @ b.reshape(1, -1),
    "outer_einsum": lambda a, b: mg.einsum("i,j->ij", a.reshape(-1), b.reshape(-1)),
    "concatenate": lambda a, b: mg.concatenate([a.reshape(-1), b.reshape(-1)]),
    "logaddexp": mg.logaddexp,
    "hypot": lambda a, b: mg.hypot(1 + a * a, b),
    "numpy_multiply": lambda a, b: np.multiply(a, b),  # NumPy's function on tensors: minigrad's multiply
    "numpy_subtract": lambda a, b: np.subtract(b, a),
    "conv1d_full": lambda a, b: F.conv1d(a.reshape(1, 1, -1), b.reshape(1, 1, -1), padding=b.size - 1),
}


@st.composite
def programs(draw, unary=UNARY):
    n_inputs = draw(st.integers(2, 3))
    shapes = draw(mst.broadcastable_shapes(n_inputs, max_side=3))
    inputs = tuple(draw(mst.arrays(s, low=-2, high=2)) for s in shapes)
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        if draw(st.booleans()):
            steps.append(("u", draw(st.sampled_from(sorted(unary))), draw(st.integers(0, 99))))
        else:
            steps.append(
                ("b", draw(st.sampled_from(sorted(BINARY))), draw(st.integers(0, 99)), draw(st.integers(0, 99)))
            )
    return inputs, steps


def values_of(steps, *xs):
    values = list(xs)
    for step in steps:
        if step[0] == "u":
            values.append(FUZZ_UNARY[step[1]](values[step[2] % len(values)]))
        else:
            a, b = values[step[2] % len(values)], values[step[3] % len(values)]
            try:
                values.append(BINARY[step[1]](a, b))
            except ValueError:  # shapes that no longer broadcast after a reshape: skip the step
                continue
    return values


def run(steps, *xs):
    # every value reaches the loss, so unused branches are tested too
    return sum((v * v).sum() * (0.1 * (k + 1)) for k, v in enumerate(values_of(steps, *xs)))


def away_from_kinks(steps, inputs) -> None:
    """Reject the program (``assume``) if a kinked operation's input is within KINK_MARGIN of its kink."""
    _distances.clear()
    run(steps, *(mg.tensor(x) for x in inputs))
    assume(min(_distances, default=9.0) >= KINK_MARGIN)


# five (float64), three (float32) and two (second order) times the profile's example count
@settings(max_examples=5 * settings.default.max_examples)
@given(program=programs(FUZZ_UNARY))
def test_random_programs_match_numerical_gradients(program):
    inputs, steps = program
    away_from_kinks(steps, inputs)
    assert gradcheck(lambda *xs: run(steps, *xs), *inputs, kinks="raise")


@settings(max_examples=3 * settings.default.max_examples)
@given(program=programs(FUZZ_UNARY))
def test_random_programs_in_float32_keep_float32_and_match(program):
    inputs, steps = program
    inputs = tuple(x.astype(np.float32) for x in inputs)
    away_from_kinks(steps, inputs)
    assert gradcheck(lambda *xs: run(steps, *xs), *inputs, atol=1e-3, rtol=1e-2, kinks="raise")


@settings(max_examples=2 * settings.default.max_examples)
@given(program=programs(FUZZ_UNARY))
@example(program=((np.array(0.0), np.array(1.0)), [("b", "pow", 1, 0)]))  # found by the long run: see below
@example(program=((np.array(2.22507386e-309), np.array(0.0)), [("u", "square", 0)]))  # and after a first fix
def test_random_programs_match_numerical_second_derivatives(program):
    # the backward pass recorded (create_graph) and differentiated again: reaches scatter_add, the rule
    # of getitem's and embedding's gradients
    inputs, steps = program
    away_from_kinks(steps, inputs)
    assert gradgradcheck(lambda *xs: run(steps, *xs), *inputs, kinks="raise")


def _ops(root) -> set:
    seen, stack, ops = set(), [root], set()
    while stack:
        t = stack.pop()
        if t in seen or not t._parents:
            continue
        seen.add(t)
        ops.add(t._op)
        stack.extend(p for p in t._parents if p is not None)
    return ops


def test_the_programs_reach_every_rule():
    x = mg.tensor(np.array([[0.3, -1.2, 0.7], [1.1, 0.2, -0.4]]), requires_grad=True)
    y = mg.tensor(np.array([0.5, -0.9, 1.3]), requires_grad=True)
    reached = set()
    for name in FUZZ_UNARY:
        reached |= _ops(run([("u", name, 0)], x, y))
    for name in BINARY:
        reached |= _ops(run([("b", name, 0, 1)], x, y))
    for name in ("gather", "embed_rows"):  # second order: the recorded backward of an index
        out = run([("u", name, 0)], x, y)
        (gx,) = backward_pass(out, mg.tensor(1.0), True, True, [x]).values()
        reached |= _ops(gx) | _ops(backward_pass((gx * gx).sum(), mg.tensor(1.0), True, True, [x])[x])
    out = run([("b", "conv1d_full", 0, 1)], x, y)  # second order: the rules of conv are primitives too
    for g in backward_pass(out, mg.tensor(1.0), True, True, [x, y]).values():
        reached |= _ops(g)
    assert reached >= with_rules(), f"no program reaches {sorted(with_rules() - reached)}"


def test_the_mixed_second_derivative_of_power_at_a_zero_exponent():
    # found by the long profile: the power rule cut b out of ∂(aᵇ)/∂a = b aᵇ⁻¹ at b = 0, so the
    # recorded backward gave ∂²(aᵇ)/∂a∂b = 0 there; it is aᵇ⁻¹ (1 + b log a) = 1/a
    a, b = mg.tensor(2.0, requires_grad=True), mg.tensor(0.0, requires_grad=True)
    (a**b).backward(create_graph=True)
    da, a.grad, b.grad = a.grad, None, None
    da.backward()
    assert da.item() == 0.0 and b.grad == 0.5
    tiny = mg.tensor(1e-320, requires_grad=True)  # a denormal base: aᵇ⁻¹ overflows, the gradient is still 0
    (tiny ** mg.tensor(0.0)).backward()
    assert tiny.grad == 0.0
