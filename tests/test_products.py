"""prod and cumprod: exact gradients at zeros (no division by an element that is 0), NumPy dispatch, methods."""

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import gradcheck, gradgradcheck

WITH_ZEROS = np.array([[1.5, 0.0, 2.0, -3.0], [0.0, 0.0, 1.0, 2.0], [2.0, 3.0, 0.5, 1.0]])


def _others(x: np.ndarray) -> np.ndarray:
    """Π over the other elements, element by element: the gradient of Πx, by its definition."""
    flat = x.reshape(-1)
    return np.array([np.prod(np.delete(flat, j)) for j in range(flat.size)]).reshape(x.shape)


def test_prod_gradient_is_the_product_of_the_others_even_at_zeros():
    for x in (WITH_ZEROS, np.array([0.5, 0.0, 4.0]), np.array([3.0, -2.0, 0.25])):
        t = mg.tensor(x, requires_grad=True)
        mg.prod(t).backward()
        np.testing.assert_allclose(t.grad, _others(x), rtol=1e-14)  # one zero: only its own entry is nonzero


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_prod_first_and_second_derivatives_against_differences(axis, keepdims):
    for x in (WITH_ZEROS, np.random.default_rng(0).standard_normal((3, 4))):
        assert gradcheck(lambda t: mg.prod(t, axis=axis, keepdims=keepdims), x)
        assert gradgradcheck(lambda t: mg.prod(t, axis=axis, keepdims=keepdims), x)
        np.testing.assert_allclose(mg.prod(x, axis=axis, keepdims=keepdims).data, np.prod(x, axis, keepdims=keepdims))


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_cumprod_first_and_second_derivatives_against_differences(axis):
    for x in (WITH_ZEROS, np.random.default_rng(1).standard_normal((3, 4)), np.array([[0.0, 2.0, 0.0, 3.0]])):
        assert gradcheck(lambda t: mg.cumprod(t, axis=axis), x)
        assert gradgradcheck(lambda t: mg.cumprod(t, axis=axis), x)
        np.testing.assert_allclose(mg.cumprod(x, axis=axis).data, np.cumprod(x, axis))


def test_cumprod_gradient_at_zeros_by_its_definition():
    x, g = np.array([2.0, 0.0, 3.0, 0.0, 5.0]), np.array([1.0, -1.0, 2.0, 0.5, 3.0])
    want = [sum(g[i] * np.prod(np.delete(x[: i + 1], j)) for i in range(j, 5)) for j in range(5)]
    t = mg.tensor(x, requires_grad=True)
    (mg.cumprod(t) * g).sum().backward()
    np.testing.assert_allclose(t.grad, want, rtol=1e-14)
    assert np.isfinite(t.grad).all()


def test_numpy_functions_and_methods_dispatch_to_them():
    t = mg.tensor(WITH_ZEROS, requires_grad=True)
    for y, ref in ((np.prod(t, axis=1), np.prod(WITH_ZEROS, 1)), (np.cumprod(t, axis=0), np.cumprod(WITH_ZEROS, 0)),
                   (t.prod(axis=0), np.prod(WITH_ZEROS, 0)), (t.cumprod(1), np.cumprod(WITH_ZEROS, 1))):  # fmt: skip
        assert isinstance(y, mg.Tensor) and y.requires_grad
        np.testing.assert_allclose(y.data, ref)


def test_float32_stays_float32():
    t = mg.tensor(WITH_ZEROS.astype(np.float32), requires_grad=True)
    (mg.prod(t, axis=1).sum() + mg.cumprod(t, axis=0).sum()).backward()
    assert t.grad.dtype == np.float32


def test_compile_replays_prod_and_cumprod():
    w = mg.tensor(np.array([1.5, 0.5, -2.0]), requires_grad=True)

    @mg.compile
    def step(x):
        loss = mg.prod(w * x) + mg.cumprod(w + x).sum()
        loss.backward()
        return loss

    for k in range(3):
        x = np.array([0.5, 1.0 + k, 2.0])
        w.grad = None
        loss = step(x)
        eager = mg.tensor(w.data, requires_grad=True)
        want = mg.prod(eager * x) + mg.cumprod(eager + x).sum()
        want.backward()
        np.testing.assert_allclose(loss.data, want.data, rtol=1e-12)
        np.testing.assert_allclose(w.grad, eager.grad, rtol=1e-12)


def test_bad_axis_names_the_operation():
    with pytest.raises(Exception, match="prod"):
        mg.prod(mg.tensor(WITH_ZEROS), axis=2)
    with pytest.raises(Exception, match="cumprod"):
        mg.cumprod(mg.tensor(WITH_ZEROS), axis=-3)


def test_cumprod_second_derivative_where_a_square_underflows():
    # found by the fuzz test: x / x² with x = 8.6e-237 is inf / nan; the division-free rule is exact there
    assert gradgradcheck(lambda t: mg.cumprod(mg.tanh(t), axis=-1), np.array([[8.58659262e-237]]))


@pytest.mark.parametrize("zero_at", [None, 5])
def test_cumprod_on_lines_longer_than_the_triangle_takes_both_paths_right(zero_at):
    x = np.random.default_rng(2).uniform(0.9, 1.1, (2, 80))  # 80 > 64: the division path when no zero
    if zero_at is not None:
        x[0, zero_at] = 0.0
    assert gradcheck(lambda t: mg.cumprod(t, axis=1), x)
    assert gradgradcheck(lambda t: mg.cumprod(t, axis=1), x)
