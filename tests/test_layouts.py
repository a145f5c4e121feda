"""Every rule on every memory layout: C order, Fortran order, a transposed view and a strided view (``[::2]``).

NumPy gives each of these the same values and a different ``strides``; a rule or a replay that assumes C order
(``a.ravel()`` written into, ``.T`` for any 2-D permutation, a view taken for its base) gives wrong numbers
without an error, on one layout only. ``test_rules.CASES`` draws a function reaching each primitive and its
inputs; here each input is laid out anew, and

- eagerly, the value must equal the one of C-ordered inputs and the gradient central differences (float64 and
  float32, and with every droppable value dropped, ``forget_at = 0``);
- the Hessian-vector product must equal differences of the gradient, on any layout, values dropped or not;
- under ``mg.compile``, the second and third calls (new values, same layout) must give eager's values and
  gradients, for inputs passed as arguments and for tensors the step reads from its closure.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_rules import CASES, SECOND_ORDER_CASES

import minigrad as mg
from minigrad.forget import forget_at
from minigrad.grad_mode import no_grad
from minigrad.tensor import constant

LAYOUTS = ("C", "F", "transposed", "strided")
NOT_COMPILED = {"function"}  # custom mg.Function operations run eagerly: mg.compile refuses them (tested there)


def laid_out(a: np.ndarray, layout: str) -> np.ndarray:
    """``a``'s values in the given layout (for fewer than 2 axes, F and transposed are C order)."""
    if layout in ("C", "F"):
        return np.array(a, order=layout)
    if layout == "transposed":
        return np.array(a.T, order="C").T
    every_other = (slice(None, None, 2),) * a.ndim
    big = np.zeros(tuple(2 * n for n in a.shape), dtype=a.dtype)
    big[every_other] = a
    return big[every_other]


def leaf(a: np.ndarray, layout: str) -> mg.Tensor:
    t = mg.tensor(a, requires_grad=True)
    t.data = laid_out(a, layout)
    assert t.data.strides == laid_out(a, layout).strides
    return t


def _checked(inputs):
    return [i for i, x in enumerate(inputs) if isinstance(x, np.ndarray) and x.dtype.kind == "f"]


def _loss(f, args, cotangents):
    out = f(*args)
    return sum((o * c).sum() for o, c in zip(out if isinstance(out, tuple) else (out,), cotangents))


def _cotangents(f, inputs, rng):
    with no_grad():
        out = f(*(constant(x) for x in inputs))
    return [rng.standard_normal(o.shape).astype(o.dtype) for o in (out if isinstance(out, tuple) else (out,))]


def numerical_gradients(f, inputs, cotangents, eps=1e-6):
    """Central differences of Σ ⟨cotangent, f(inputs)⟩ in float64, element by element, C-ordered inputs."""
    base = [np.array(x, dtype=np.float64) if i in _checked(inputs) else x for i, x in enumerate(inputs)]
    vs = [c.astype(np.float64) for c in cotangents]

    def value(args):
        with no_grad():
            return float(_loss(f, [constant(a) if isinstance(a, np.ndarray) else a for a in args], vs).data)

    grads = []
    for i in _checked(inputs):
        g = np.zeros_like(base[i])
        for k in np.ndindex(base[i].shape):
            old = base[i][k]
            base[i][k] = old + eps
            up = value(base)
            base[i][k] = old - eps
            down = value(base)
            base[i][k] = old
            g[k] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


def eager(f, inputs, layouts, cotangents):
    """The value and the gradients of f with each checked input in its layout."""
    args = list(inputs)
    for i, layout in zip(_checked(inputs), layouts):
        args[i] = leaf(inputs[i], layout)
    out = f(*args)
    _loss(lambda *a: out, args, cotangents).backward()
    return out, [args[i].grad for i in _checked(inputs)]


def _values(out):
    return [o.data for o in (out if isinstance(out, tuple) else (out,))]


@settings(max_examples=max(settings.default.max_examples // 2, 4))
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", sorted(CASES))
@given(data=st.data())
def test_each_layout_gives_the_values_of_c_order_and_numerical_gradients(op, layout, data):
    f, inputs = data.draw(CASES[op], label="case")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    cotangents = _cotangents(f, inputs, rng)
    n = len(_checked(inputs))
    out, grads = eager(f, inputs, [layout] * n, cotangents)
    reference, _ = eager(f, inputs, ["C"] * n, cotangents)
    for a, b in zip(_values(out), _values(reference)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    for g, x, expected in zip(grads, [inputs[i] for i in _checked(inputs)], numerical_gradients(f, inputs, cotangents)):
        assert g.shape == x.shape and g.dtype == x.dtype
        np.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-6)


@contextlib.contextmanager
def values_dropped(on: bool = True):
    """Every value the graph does not need dropped, however small (as ``MINIGRAD_FORGET_ALL=1`` does)."""
    saved = forget_at[0]
    forget_at[0] = 0 if on else saved
    try:
        yield
    finally:
        forget_at[0] = saved


def _through_nodes(f):
    """f of intermediate values (x · 1, a node in x's layout for C, F and transposed), followed by a sine: with
    every value dropped, each rule then works on inputs of dropped or kept values."""

    def g(*args):
        out = f(*(a * 1.0 if isinstance(a, mg.Tensor) else a for a in args))
        return tuple(mg.sin(o) for o in out) if isinstance(out, tuple) else mg.sin(out)

    return g


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("op", sorted(CASES))
@given(data=st.data())
def test_mixed_layouts_with_values_dropped_match_numerical_gradients(op, dtype, data):
    f, inputs = data.draw(CASES[op], label="case")
    f = _through_nodes(f)
    inputs = tuple(x.astype(dtype) if isinstance(x, np.ndarray) and x.dtype.kind == "f" else x for x in inputs)
    layouts = [data.draw(st.sampled_from(LAYOUTS), label="layout") for _ in _checked(inputs)]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    cotangents = _cotangents(f, inputs, rng)
    with values_dropped():
        _, grads = eager(f, inputs, layouts, cotangents)
    tol = 1e-6 if dtype == np.float64 else 2e-3
    for g, expected in zip(grads, numerical_gradients(f, inputs, cotangents)):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("dropped", [False, True])
@pytest.mark.parametrize("op", sorted(SECOND_ORDER_CASES))
@given(data=st.data())
def test_hessian_vector_products_on_any_layout_match_differences_of_the_gradient(op, dropped, data):
    f, inputs = data.draw(SECOND_ORDER_CASES[op], label="case")
    layouts = [data.draw(st.sampled_from(LAYOUTS), label="layout") for _ in _checked(inputs)]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    cotangents = _cotangents(f, inputs, rng)
    directions = [rng.standard_normal(inputs[i].shape) for i in _checked(inputs)]

    def gradient(values, create_graph):
        args = list(inputs)
        for i, value, layout in zip(_checked(inputs), values, layouts):
            args[i] = leaf(value, layout)
        leaves = [args[i] for i in _checked(inputs)]
        _loss(f, args, cotangents).backward(create_graph=create_graph)
        return leaves

    with values_dropped(dropped):
        leaves = gradient([inputs[i] for i in _checked(inputs)], True)
        grads = [t.grad for t in leaves]
        for t in leaves:
            t.grad = None
        product = sum((g * u).sum() for g, u in zip(grads, directions))
        if product.requires_grad:  # (a gradient that does not depend on the inputs: a Hessian of 0)
            product.backward()
        hvp = [t.grad if t.grad is not None else np.zeros(t.shape) for t in leaves]
        eps = 1e-6
        up = gradient([inputs[i] + eps * u for i, u in zip(_checked(inputs), directions)], False)
        down = gradient([inputs[i] - eps * u for i, u in zip(_checked(inputs), directions)], False)
    for h, a, b in zip(hvp, up, down):
        zero = np.zeros(a.shape)
        ga, gb = (zero if a.grad is None else a.grad), (zero if b.grad is None else b.grad)
        np.testing.assert_allclose(h, (ga - gb) / (2 * eps), rtol=1e-5, atol=1e-5)


def _perturbed(inputs, rng):
    """New values of the same shapes, signs and dtypes (domains such as log's are kept): the next call's data."""
    return [x * rng.uniform(0.9, 1.1, x.shape).astype(x.dtype) if i in _checked(inputs) else x
            for i, x in enumerate(inputs)]  # fmt: skip


@settings(max_examples=max(settings.default.max_examples // 2, 4), deadline=None)
@pytest.mark.parametrize("where", ["arguments", "closure"])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", sorted(set(CASES) - NOT_COMPILED))
@given(data=st.data())
def test_compiled_replays_on_each_layout_equal_eager(op, layout, where, data):
    f, inputs = data.draw(CASES[op], label="case")
    dtype = data.draw(st.sampled_from([np.float64, np.float32]), label="dtype")
    inputs = [x.astype(dtype) if i in _checked(inputs) else x for i, x in enumerate(inputs)]
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    cotangents = _cotangents(f, inputs, rng)
    checked = _checked(inputs)
    params = {i: leaf(inputs[i], layout) for i in checked}

    def arguments(tensors):
        args = list(inputs)
        for i, t in zip(checked, tensors):
            args[i] = t
        return args

    def step(*tensors):
        loss = _loss(f, arguments(tensors if where == "arguments" else [params[i] for i in checked]), cotangents)
        loss.backward()
        return loss

    compiled = mg.compile(step, check=False)  # compared with eager here, at every call
    tol = 1e-10 if dtype == np.float64 else 1e-4
    for call in range(3):
        values = inputs if call == 0 else _perturbed(inputs, rng)
        for i in checked:
            params[i].data, params[i].grad = laid_out(values[i], layout), None
        got = compiled(*(params[i] for i in checked)) if where == "arguments" else compiled()
        got_grads = [params[i].grad for i in checked]
        for i in checked:
            params[i].grad = None
        want = step(*(params[i] for i in checked))
        np.testing.assert_allclose(got.data, want.data, rtol=tol, atol=tol)
        for g, i in zip(got_grads, checked):
            assert g.shape == params[i].grad.shape and g.dtype == params[i].grad.dtype
            np.testing.assert_allclose(g, params[i].grad, rtol=tol, atol=tol)
    assert compiled.traces == 1
