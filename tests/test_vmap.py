"""mg.vmap against Python loops: random programs over every primitive, per-example gradients, the transforms.

Every result is compared with the same function run once per example and stacked (float64, to 1e-12), and the
per-example gradients of the lecture's classifier also with numerical differences.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import test_fuzz
from hypothesis import given, settings
from hypothesis import strategies as st
from test_function import Cube

import minigrad as mg
import minigrad.vmap  # noqa: F401  (the module, shadowed by the function on the package)
from minigrad import registry
from minigrad.nn import functional as F
from minigrad.vmap_dispatch import dispatch

# the fuzz tables, with the kinked operations' distance notes (which read values) left out
UNARY = {
    **test_fuzz.FUZZ_UNARY,
    "relu": mg.relu,
    "abs": mg.abs,
    "clip": lambda x: mg.clip(x, -0.5, 0.8),
    "max_last": lambda x: x.max(axis=-1) if x.ndim else x,
    "min_first": lambda x: x.min(axis=0, keepdims=True) if x.ndim else x,
    "max_pool_pairs": lambda x: F.max_pool1d(x.reshape(1, 1, -1), 2, 1) if x.size >= 2 else x,
}
BINARY = {**test_fuzz.BINARY, "maximum": mg.maximum, "minimum": mg.minimum}


def program(steps):
    def f(*xs):
        values = list(xs)
        for step in steps:
            if step[0] == "u":
                values.append(UNARY[step[1]](values[step[2] % len(values)]))
            else:
                try:
                    values.append(BINARY[step[1]](values[step[2] % len(values)], values[step[3] % len(values)]))
                except ValueError:
                    continue
        return sum((v * v).sum() * (0.1 * (k + 1)) for k, v in enumerate(values))

    return f


def looped(f, batch, *args):
    """f on each example (axis 0 of every argument), stacked."""
    outs = [f(*(mg.tensor(a[i]) for a in args)) for i in range(batch)]
    if isinstance(outs[0], tuple):
        return tuple(np.stack([o[k].data for o in outs]) for k in range(len(outs[0])))
    return np.stack([o.data for o in outs])


def close(a, b, tol=1e-12):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


@st.composite
def batched_programs(draw):
    inputs, steps = draw(test_fuzz.programs(UNARY))
    batch = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    # every input batched: each example has its own values near the drawn ones
    xs = tuple(x + 0.1 * rng.standard_normal((batch,) + np.shape(x)) for x in inputs)
    return xs, steps, batch


@settings(max_examples=12 * settings.default.max_examples)
@given(batched_programs())
def test_random_programs_match_the_loop(case):
    xs, steps, batch = case
    f = program(steps)
    close(mg.vmap(f)(*xs).data, looped(f, batch, *xs))


@settings(max_examples=8 * settings.default.max_examples)
@given(batched_programs())
def test_per_example_gradients_of_random_programs_match_the_loop(case):
    xs, steps, batch = case
    f = program(steps)
    argnums = tuple(range(len(xs)))
    grads = mg.vmap(mg.grad(f, argnums=argnums))(*xs)
    expected = looped(mg.grad(f, argnums=argnums), batch, *xs)
    for got, want in zip(grads, expected):
        close(got.data, want)


@settings(max_examples=8 * settings.default.max_examples)
@given(batched_programs())
def test_a_batch_of_cotangents_runs_the_backward_rules_batched(case):
    xs, steps, batch = case
    f = program(steps)
    primals = tuple(mg.tensor(x[0]) for x in xs)
    _, pull = mg.vjp(f, *primals)
    seeds = np.linspace(-1.0, 2.0, batch)
    got = mg.vmap(pull)(seeds)
    for k, g in enumerate(got):
        close(g.data, np.stack([pull(mg.tensor(s))[k].data for s in seeds]))


# -- per-example gradients of the lecture's classifier ----------------------------------------------------------
def _classifier(rng, dtype=np.float64):
    return [mg.tensor(rng.standard_normal(s) * 0.1, dtype=dtype) for s in ((100, 250), (100,), (5, 100), (5,))]


def _loss(W1, b1, W2, b2, x, y):
    return F.cross_entropy(W2 @ mg.tanh(W1 @ x + b1) + b2, y)


def test_per_example_gradients_of_the_classifier_match_the_loop_and_numerical_differences():
    rng = np.random.default_rng(0)
    params = _classifier(rng)
    xs, ys = rng.standard_normal((16, 250)), rng.integers(0, 5, 16)
    per_example = mg.vmap(mg.grad(_loss, argnums=(0, 1, 2, 3)), in_axes=(None, None, None, None, 0, 0))
    grads = per_example(*params, xs, ys)
    for i in (0, 7, 15):
        want = mg.grad(_loss, argnums=(0, 1, 2, 3))(*params, mg.tensor(xs[i]), ys[i])
        for got, w in zip(grads, want):
            close(got.data[i], w.data)
    # and along random directions, by central differences of each example's loss
    eps = 1e-6
    for k, p in enumerate(params):
        d = rng.standard_normal(p.shape)
        shifted = [list(params), list(params)]
        shifted[0][k], shifted[1][k] = p + eps * d, p - eps * d
        for i in (0, 15):
            up, down = (_loss(*q, mg.tensor(xs[i]), ys[i]).item() for q in shifted)
            np.testing.assert_allclose((grads[k].data[i] * d).sum(), (up - down) / (2 * eps), rtol=1e-6, atol=1e-8)


def test_per_example_gradients_of_a_module_through_functional_call():
    rng = np.random.default_rng(1)
    model = mg.nn.Sequential(mg.nn.Linear(6, 8, dtype=np.float64), mg.nn.Tanh(), mg.nn.Linear(8, 3, dtype=np.float64))
    params = dict(model.named_parameters())
    xs, ys = rng.standard_normal((5, 6)), rng.integers(0, 3, 5)

    def loss(p, x, y):
        return F.cross_entropy(mg.nn.functional_call(model, p, x), y)

    grads = mg.vmap(mg.grad(loss), in_axes=(None, 0, 0))(params, xs, ys)
    assert set(grads) == set(params)
    for i in range(5):
        want = mg.grad(loss)(params, mg.tensor(xs[i]), ys[i])
        for name in params:
            assert grads[name].shape == (5,) + params[name].shape
            close(grads[name].data[i], want[name].data)
    # the tree of gradients is .backward()'s, by name
    whole = mg.grad(lambda p: F.cross_entropy(mg.nn.functional_call(model, p, mg.tensor(xs)), ys))(params)
    F.cross_entropy(model(mg.tensor(xs)), ys).backward()
    for name, p in params.items():
        close(whole[name].data, p.grad.data)
    # and dropout inside: each example draws its own mask
    out = mg.vmap(lambda x: F.dropout(x, 0.5))(np.ones((4, 200)))
    assert set(np.unique(out.data)) <= {0.0, 2.0}
    assert len({tuple(row) for row in out.data}) == 4


# -- axes, nesting, composition ----------------------------------------------------------------------------------
def test_in_axes_out_axes_and_trees():
    rng = np.random.default_rng(3)
    A, v = rng.standard_normal((3, 4, 5)), rng.standard_normal(5)
    out = mg.vmap(lambda a, w: a @ w, in_axes=(1, None))(A, v)  # batch along axis 1: 4 examples of (3, 5)
    close(out.data, np.einsum("ibj,j->bi", A, v))
    out = mg.vmap(lambda a: a * 2, out_axes=1)(A)
    close(out.data, np.moveaxis(A * 2, 0, 1))
    tree = mg.vmap(lambda d: {"s": d["a"].sum(), "t": (d["a"] * 2, d["b"])}, in_axes=0)({"a": A, "b": A[:, 0]})
    close(tree["s"].data, A.reshape(3, -1).sum(1))
    close(tree["t"][1].data, A[:, 0])
    same, per = mg.vmap(lambda a, w: (w * 1.0, a.sum()), in_axes=(0, None), out_axes=(None, 0))(A, v)
    close(same.data, v)


# -- errors -----------------------------------------------------------------------------------------------------
def test_bad_axes_and_sizes_are_named():
    with pytest.raises(ValueError, match=r"in_axes 2 is out of range for argument 0 of shape \(3, 4\)"):
        mg.vmap(lambda x: x, in_axes=2)(np.ones((3, 4)))
    with pytest.raises(ValueError, match="batch sizes differ.*argument 1 has size 4"):
        mg.vmap(lambda x, y: x + y)(np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(mg.VmapError, match="output 0 .*does not depend on the batched arguments"):
        mg.vmap(lambda x: mg.tensor(1.0))(np.ones((3, 2)))
    with pytest.raises(ValueError, match="in_axes must be"):
        mg.vmap(lambda x: x, in_axes=(0, 0))(np.ones(3))
    with pytest.raises(ValueError, match="sum: axis 2 is out of range for a tensor of shape \\(2,\\)"):
        mg.vmap(lambda x: x.sum(axis=2))(np.ones((3, 2)))


@pytest.mark.parametrize(
    "read", [lambda x: bool(x.sum() > 0), lambda x: float(x.sum()), lambda x: x.data, lambda x: x.item(), np.asarray]
)
def test_reading_an_examples_values_is_refused(read):
    with pytest.raises(mg.VmapError, match="reads the values of a batched tensor"):
        mg.vmap(lambda x: mg.tensor(read(x)) * x)(np.ones((3, 2)))


def test_a_batched_tensor_that_escapes_is_refused():
    kept = []
    mg.vmap(lambda x: kept.append(x) or x)(np.ones((3, 2)))
    with pytest.raises(mg.VmapError):
        mg.tanh(kept[0])


def test_the_programs_batch_every_primitive(monkeypatch):
    """Each primitive with a rule is dispatched batched by some program above (in the forward, or in the backward
    pass of a batch of cotangents)."""
    dispatched = set()

    def recording(name, *rest):
        dispatched.add(name)
        return dispatch(name, *rest)

    monkeypatch.setattr(sys.modules["minigrad.vmap"], "dispatch", recording)
    x, y = np.array([[0.3, -1.2, 0.7], [1.1, 0.2, -0.4]]), np.array([0.5, -0.9, 1.3])
    xs, ys = np.stack([x, x + 0.1]), np.stack([y, y - 0.2])
    steps = [("u", name, 0) for name in UNARY] + [("b", name, 0, 1) for name in BINARY]
    for step in steps:
        f = program([step])
        mg.vmap(mg.grad(f, argnums=(0, 1)))(xs, ys)
        mg.vmap(mg.vjp(f, mg.tensor(x), mg.tensor(y))[1])(np.array([1.0, -2.0]))
    # mg.checkpoint under vmap runs f as it is: its node is never made there, so never dispatched
    missing = registry.with_rules() - dispatched - {"checkpoint"}
    assert not missing, f"no program runs {sorted(missing)} on batched arguments"


def test_nesting_and_composition_with_the_transforms():
    rng = np.random.default_rng(2)
    A, B, v = rng.standard_normal((3, 4, 5)), rng.standard_normal((2, 5)), rng.standard_normal(5)

    def f(x, w):
        return mg.tanh(x * w).sum() + (x**2).sum() * w[0]

    # nested: every pair (a row of A's examples, a row of B)
    out = mg.vmap(lambda a: mg.vmap(lambda b: f(a, b))(B))(A.reshape(12, 5))
    close(out.data, [[f(mg.tensor(a), mg.tensor(b)).item() for b in B] for a in A.reshape(12, 5)])
    # grad of a vmapped sum is the sum of the per-example gradients
    total = mg.grad(lambda w: mg.vmap(f, in_axes=(0, None))(A.reshape(12, 5), w).sum())(mg.tensor(v))
    per = mg.vmap(mg.grad(f, argnums=1), in_axes=(0, None))(A.reshape(12, 5), v)
    close(total.data, per.data.sum(0))
    # jacobian, jvp and hessian of each example
    jac = mg.vmap(mg.jacobian(lambda x: mg.sin(x) * x.sum()))(B)
    close(jac.data, [mg.jacobian(lambda x: mg.sin(x) * x.sum())(mg.tensor(b)).data for b in B])
    _, tangent = mg.vmap(lambda x, t: mg.jvp(lambda y: mg.tanh(y) * 2, (x,), (t,)))(B, B[::-1])
    close(tangent.data, 2 * (1 - np.tanh(B) ** 2) * B[::-1])
    hess = mg.vmap(mg.hessian(lambda x: (mg.sin(x) * x).sum()))(B)
    close(hess.data, [np.diag(2 * np.cos(b) - b * np.sin(b)) for b in B])
    # a closure over a batched value
    out = mg.vmap(lambda a: mg.grad(lambda w: (w * a).sum() ** 2)(mg.tensor(v)))(A.reshape(12, 5))
    close(out.data, [2 * (v * a).sum() * a for a in A.reshape(12, 5)])


def test_a_custom_function_loops_over_the_batch():
    x = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
    close(mg.vmap(Cube.apply)(x).data, x**3)
    close(mg.vmap(mg.grad(lambda t: Cube.apply(t).sum()))(x).data, 3 * x**2)
    close(mg.grad(lambda t: mg.vmap(Cube.apply)(t).sum())(mg.tensor(x)).data, 3 * x**2)


LAYERS = {
    "Conv1d": (lambda: mg.nn.Conv1d(2, 3, 3, padding=1, dtype=np.float64), (4, 2, 2, 7)),
    "Conv2d": (lambda: mg.nn.Conv2d(2, 3, 3, stride=2, dtype=np.float64), (3, 2, 2, 7, 7)),
    "MaxPool2d": (lambda: mg.nn.MaxPool2d(2), (3, 2, 2, 6, 6)),
    "AvgPool2d": (lambda: mg.nn.AvgPool2d(2), (3, 2, 2, 6, 6)),
    "LayerNorm": (lambda: mg.nn.LayerNorm(5, dtype=np.float64), (4, 3, 5)),
    "BatchNorm1d (eval)": (lambda: mg.nn.BatchNorm1d(3, dtype=np.float64).eval(), (4, 2, 3)),
    "BatchNorm1d (no running statistics)": (
        lambda: mg.nn.BatchNorm1d(3, track_running_stats=False, dtype=np.float64),
        (4, 2, 3),
    ),
    "TransformerEncoderLayer": (
        lambda: mg.nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, dtype=np.float64),
        (3, 3, 2, 4),
    ),
    "RNN": (lambda: mg.nn.RNN(4, 3, dtype=np.float64), (4, 3, 2, 4)),
    "GRU": (lambda: mg.nn.GRU(4, 3, bidirectional=True, dtype=np.float64), (4, 3, 2, 4)),
    "LSTM": (lambda: mg.nn.LSTM(4, 3, num_layers=2, dtype=np.float64), (4, 3, 2, 4)),
}


@pytest.mark.parametrize("name", LAYERS)
def test_layers_and_their_per_example_gradients_match_the_loop(name):
    make, shape = LAYERS[name]
    layer = make()
    xs = np.random.default_rng(4).standard_normal(shape)

    def f(x):
        out = layer(x)
        return out[0] if isinstance(out, tuple) else out

    close(mg.vmap(f)(xs).data, np.stack([f(mg.tensor(x)).data for x in xs]))
    params = dict(layer.named_parameters())
    if not params:
        return

    def loss(p, x):
        out = mg.nn.functional_call(layer, p, x)
        return ((out[0] if isinstance(out, tuple) else out) ** 2).sum()

    grads = mg.vmap(mg.grad(loss), in_axes=(None, 0))(params, xs)
    for i, x in enumerate(xs):
        want = mg.grad(loss)(params, mg.tensor(x))
        for key in params:
            close(grads[key].data[i], want[key].data)


def test_batch_norm_refuses_to_update_its_statistics_per_example():
    layer = mg.nn.BatchNorm1d(3, dtype=np.float64)
    with pytest.raises(mg.VmapError, match="batch_norm: in training mode it updates running_mean"):
        mg.vmap(layer)(np.ones((4, 2, 3)))


def test_a_convolution_with_per_example_weights_is_one_grouped_convolution(monkeypatch):
    from minigrad import vmap_conv_rules

    monkeypatch.setattr(vmap_conv_rules, "loop_rule", None)  # the loop would fail: the rule must not take it
    rng = np.random.default_rng(5)
    x, ws = rng.standard_normal((2, 4, 9, 9)), rng.standard_normal((3, 6, 2, 3, 3))
    got = mg.vmap(lambda w: F.conv2d(x, w, stride=2, padding=1, groups=2))(ws)
    close(got.data, np.stack([F.conv2d(x, w, stride=2, padding=1, groups=2).data for w in ws]))
    xs = rng.standard_normal((3, 2, 4, 9, 9))
    both = mg.vmap(lambda x, w: F.conv2d(x, w, dilation=2, groups=2))(xs, ws)
    close(both.data, np.stack([F.conv2d(a, w, dilation=2, groups=2).data for a, w in zip(xs, ws)]))


def _numerical_jacobian(f, x, eps=1e-6):
    columns = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = eps
        e = e.reshape(x.shape)
        columns.append((f(mg.tensor(x + e)).data - f(mg.tensor(x - e)).data) / (2 * eps))
    return np.stack(columns, axis=-1).reshape(*columns[0].shape, *x.shape)


def test_jacobian_rows_from_one_batched_backward_pass_match_numerical_differences(monkeypatch):
    from minigrad import functional

    monkeypatch.setattr(functional, "_basis", None)  # the loop of passes would call it: the batched pass must not
    rng = np.random.default_rng(6)
    W, b, u = rng.standard_normal((8, 20)) * 0.3, rng.standard_normal(8), rng.standard_normal(8)
    x = rng.standard_normal(20)
    cases = {
        "tanh(Wx + b)": (lambda x: mg.tanh(W @ x + b), x),
        "softmax of a matrix": (lambda m: mg.softmax(m @ m.T, axis=-1), rng.standard_normal((3, 4))),
        "conv and pooling": (
            lambda s: F.max_pool1d(F.conv1d(s.reshape(1, 1, -1), np.ones((2, 1, 3)) * 0.5), 2).reshape(-1),
            rng.standard_normal(19),
        ),
        "gather and cumsum": (lambda v: mg.cumsum(v[np.array([0, 3, 3, 5, 1, 2, 7, 4])] * v[:8], axis=0), x),
    }
    for name, (f, x0) in cases.items():
        J = mg.jacobian(f, mode="rev")(x0)
        np.testing.assert_allclose(J.data, _numerical_jacobian(f, x0), rtol=1e-6, atol=1e-8, err_msg=name)
    # the Hessian of the window scorer (20 rows of the gradient), and a Jacobian of a Jacobian (nested)
    score = lambda x: u @ mg.tanh(W @ x + b)  # noqa: E731
    H = mg.hessian(score)(x)
    np.testing.assert_allclose(H.data, _numerical_jacobian(mg.grad(score), x), rtol=1e-6, atol=1e-8)
    inner = mg.jacobian(lambda x: mg.tanh(W @ x + b))
    JJ = mg.jacobian(lambda x: inner(x).sum(axis=1))(x)
    np.testing.assert_allclose(JJ.data, _numerical_jacobian(lambda x: inner(x).sum(axis=1), x), rtol=1e-6, atol=1e-8)


def test_indexing_with_an_int_beside_an_array_and_with_a_batched_index():
    rng = np.random.default_rng(7)
    xs, i3 = rng.standard_normal((4, 2, 3, 4)), np.array([1, 3, 3])
    for f in (lambda x: x[0, :, i3], lambda x: x[i3 % 2, :, 0], lambda x: x[:, 1, i3 % 3]):
        close(mg.vmap(f)(xs).data, np.stack([f(mg.tensor(x)).data for x in xs]))
    # (the same index through mg.jacobian, whose rows run batched)
    M, x = rng.standard_normal((8, 8)), rng.standard_normal((2, 1, 10))
    idx = np.array([0, 1, 2, 3, 4, 5, 6, 9])
    expected = np.zeros((8, 1, 2, 1, 10))  # t[0, :, idx] is (8, 1): NumPy puts the advanced axis first
    expected[:, 0, 0, 0, idx] = M
    close(mg.jacobian(lambda t: mg.tensor(M) @ t[0, :, idx])(mg.tensor(x)).data, expected)
    # each example its own integer index, and the per-example gradients of a table
    X, ids, many = rng.standard_normal((4, 6, 3)), np.array([0, 2, 2, 5]), rng.integers(0, 6, (4, 2, 5))
    close(mg.vmap(lambda x, i: x[i])(X, ids).data, X[np.arange(4), ids])
    close(mg.vmap(lambda x, i: x[i])(X, many).data, np.stack([X[k][many[k]] for k in range(4)]))
    W = X[0]
    per = mg.vmap(mg.grad(lambda W, i: (W[i] ** 2).sum()), in_axes=(None, 0))(W, ids)
    close(per.data, np.stack([mg.grad(lambda W, i: (W[i] ** 2).sum())(W, i).data for i in ids]))


def test_vectors_comparisons_keywords_and_unused_primals():
    rng = np.random.default_rng(8)
    xs, w = rng.standard_normal((4, 3)), rng.standard_normal(3)
    for axes, a, b in (((0, None), xs, w), ((0, 0), xs, xs[::-1]), ((None, 0), w, xs)):
        want = [(a if axes[0] is None else a[k]) @ (b if axes[1] is None else b[k]) for k in range(4)]
        close(mg.vmap(lambda x, v: x @ v, in_axes=axes)(a, b).data, want)  # a number per example
    for f in (lambda x: mg.where(w > x, x, 0.0), lambda x: mg.where(np.less_equal(w, x), x, 1.0)):
        close(mg.vmap(f)(xs).data, np.stack([f(mg.tensor(x)).data for x in xs]))  # an array left of the tensor
    close(mg.vmap(lambda x, scale=1.0: x * scale)(xs, scale=2.0).data, 2 * xs)  # keywords are not batched
    close(mg.vmap(lambda x: x + mg.zeros_like(x))(xs).data, xs)
    targets = np.array([0, 2, 1])
    nll = lambda x: F.nll_loss(mg.log_softmax(x.reshape(3, 1) * x, axis=-1), targets)  # noqa: E731
    close(mg.vmap(nll)(xs).data, [nll(mg.tensor(x)).item() for x in xs])
    _, pull = mg.vjp(lambda a, b: mg.tanh(a), mg.tensor(w), mg.tensor(np.ones(2)))
    ga, gb = mg.vmap(pull)(np.eye(3))
    close(ga.data, np.diag(1 - np.tanh(w) ** 2))
    assert gb.shape == (3, 2) and not gb.data.any()  # the unused primal: zeros, one row per cotangent
    # dropout of an operand shared by the examples still draws a mask per example; a seed draws one mask
    out = mg.vmap(lambda x, v: x * F.dropout(v, 0.5), in_axes=(0, None))(np.ones((4, 200)), np.ones(200))
    assert len({tuple(row) for row in out.data}) == 4
    seeded = mg.vmap(lambda x: F.dropout(x, 0.5, rng=0))(np.ones((4, 200)))
    close(seeded.data, np.stack([F.dropout(mg.tensor(np.ones(200)), 0.5, rng=0).data] * 4))


def test_a_jacobian_through_a_checkpointed_custom_function_keeps_the_loop():
    class ArrayCube(Cube):  # its backward reads g as an array: it cannot run batched
        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved
            return 3 * x**2 * np.asarray(g)

    x = np.linspace(-1.0, 1.0, 9)
    J = mg.jacobian(lambda t: mg.checkpoint(lambda s: ArrayCube.apply(s), t))(mg.tensor(x))
    close(J.data, np.diag(3 * x**2))
