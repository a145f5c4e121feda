"""minigrad.testing.strategies: what the strategies draw, and property_test on real and broken ops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.testing import GradcheckError
from minigrad.testing import strategies as mst


@given(x=mst.arrays(mst.shapes(), dtype=None, low=-2.0, high=5.0, away_from=(0.0, 1.0), margin=0.1))
def test_arrays_respect_bounds_dtype_and_kinks(x):
    assert x.dtype in (np.float64, np.float32) and x.ndim <= 3
    assert np.all((x >= -2.0) & (x <= 5.0))
    assert np.all(np.abs(x) >= 0.1 - 1e-6) and np.all(np.abs(x - 1.0) >= 0.1 - 1e-6)


@given(t=mst.tensors(dtype=np.float32, low=0.5, high=1.0))
def test_tensors_are_float_tensors_that_require_grad(t):
    assert isinstance(t, mg.Tensor) and t.requires_grad and t.dtype == np.float32
    assert np.all((t.data >= 0.5) & (t.data <= 1.0))


@given(shapes=mst.broadcastable_shapes(3))
def test_broadcastable_shapes_broadcast(shapes):
    assert len(shapes) == 3
    np.broadcast_shapes(*shapes)


@given(ab=mst.broadcastable_arrays(2, dtype=None))
def test_broadcastable_arrays_share_a_dtype_and_broadcast(ab):
    a, b = ab
    assert a.dtype == b.dtype
    np.broadcast_shapes(a.shape, b.shape)


@given(data=st.data())
def test_axes_are_valid_for_numpy(data):
    x = data.draw(mst.arrays(mst.shapes()))
    axis = data.draw(mst.axes(x.ndim))
    assert np.sum(x, axis=axis).ndim <= x.ndim  # NumPy accepts it


@given(data=st.data())
def test_indices_are_in_range_and_may_repeat(data):
    shape = data.draw(mst.shapes(min_dims=1))
    index = data.draw(mst.indices(shape))
    assert index.dtype == np.intp and np.all((index >= -shape[0]) & (index < shape[0]))


# -- property_test: a full property test in one line --------------------------------------------
def softplus(x):
    return mg.log1p(mg.exp(x))


test_softplus = mst.property_test(softplus, lambda x: np.log1p(np.exp(x)), mst.arrays(mst.shapes(), dtype=None))


def _apart(ab):  # maximum has a kink where a = b: keep the draws 1e-3 apart, as for abs away_from=(0,)
    a, b = np.broadcast_arrays(*ab)
    return bool(np.all(np.abs(a - b) > 1e-3))


test_maximum = mst.property_test(mg.maximum, np.maximum, mst.broadcastable_arrays(2, dtype=None).filter(_apart))
test_logsumexp = mst.property_test(
    lambda x: mg.logsumexp(x, axis=-1),
    lambda x: np.log(np.sum(np.exp(x), axis=-1)),
    mst.arrays(mst.shapes(min_dims=1)),
    second_order=True,
)
test_matmul = mst.property_test(mg.matmul, np.matmul, mst.arrays((2, 3)), mst.arrays((3, 4)), method="auto")


def test_property_test_fails_a_wrong_rule_with_the_kit_message(temporary_rule):
    wrong = temporary_rule("softsign", lambda x: x / (1 + np.abs(x)), lambda g, ans, x: g / (1 + np.abs(x)))
    test = mst.property_test(wrong, lambda x: x / (1 + np.abs(x)), mst.arrays(mst.shapes(), away_from=(0.0,)))
    assert test.__name__ == "test_softsign_properties"
    with pytest.raises(GradcheckError, match=r"wrong gradient for input 0 .* made by 'softsign'"):
        test()


def test_property_test_fails_a_wrong_forward():
    test = mst.property_test(mg.tanh, np.sin, mst.arrays(mst.shapes()))
    with pytest.raises(GradcheckError, match="differs from the reference"):
        test()


def test_property_test_needs_a_strategy():
    with pytest.raises(ValueError, match="one strategy per input"):
        mst.property_test(mg.tanh, np.tanh)
