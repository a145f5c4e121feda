"""The subgradient conventions at non-differentiable points, checked against the implementation,
and gradcheck's kink detection: a kink is reported as a kink, a wrong subgradient as a wrong gradient.

| op                   | point        | gradient used                          |
| relu                 | x = 0        | 0                                      |
| abs                  | x = 0        | 0 (sign(0))                            |
| max / min (reduce)   | k-way tie    | 1/k to each tied element               |
| maximum / minimum    | a = b        | ½ to a and ½ to b                      |
| clip(x, lo, hi)      | x = lo or hi | 1 (the bounds are inclusive)           |
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import GradcheckError, KinkError, KinkWarning, gradcheck


def _grad(f, *arrays):
    ts = [mg.tensor(a, requires_grad=True) for a in arrays]
    f(*ts).sum().backward()
    return [t.grad for t in ts]


def test_relu_gradient_at_zero_is_zero():
    (g,) = _grad(mg.relu, np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])


def test_abs_gradient_at_zero_is_zero():
    (g,) = _grad(mg.abs, np.array([-1.0, 0.0, 2.0]))
    np.testing.assert_array_equal(g, [-1.0, 0.0, 1.0])


@pytest.mark.parametrize("reduce", [mg.max, mg.min])
def test_max_and_min_ties_split_the_gradient_evenly(reduce):
    x = np.array([[3.0, 3.0, 3.0, -3.0], [-3.0, 1.0, 1.0, -3.0]])
    if reduce is mg.min:
        x = -x
    (g,) = _grad(lambda t: reduce(t, axis=1), x)
    np.testing.assert_allclose(g, [[1 / 3, 1 / 3, 1 / 3, 0.0], [0.0, 0.5, 0.5, 0.0]])
    (g,) = _grad(reduce, np.array([2.0, 2.0, 0.0, 2.0]) * (1 if reduce is mg.max else -1))
    np.testing.assert_allclose(g, [1 / 3, 1 / 3, 0.0, 1 / 3])


@pytest.mark.parametrize("pick", [mg.maximum, mg.minimum])
def test_maximum_and_minimum_ties_give_half_to_each(pick):
    a, b = np.array([1.0, 2.0, 5.0]), np.array([1.0, 3.0, 4.0])
    ga, gb = _grad(pick, a, b)
    win = (a > b) if pick is mg.maximum else (a < b)
    np.testing.assert_array_equal(ga, np.where(a == b, 0.5, win.astype(float)))
    np.testing.assert_array_equal(gb, np.where(a == b, 0.5, (~win & (a != b)).astype(float)))


def test_clip_passes_the_gradient_at_the_bounds():
    x = np.array([-2.0, -1.0, 0.0, 1.5, 3.0])
    (g,) = _grad(lambda t: mg.clip(t, -1.0, 1.5), x)
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 1.0, 0.0])


# -- kink detection --------------------------------------------------------------------------------
KINKS = [
    ("relu at 0", mg.relu, (np.array([0.0, 1.0, -2.0]),)),
    ("clip at its bounds", lambda t: mg.clip(t, -1.0, 1.5), (np.array([-1.0, 0.3, 1.5]),)),
    ("max at a three-way tie", mg.max, (np.array([2.0, 2.0, 2.0, 0.0]),)),
]


@pytest.mark.parametrize("name, f, inputs", KINKS, ids=[k[0] for k in KINKS])
def test_kinks_are_reported_as_kinks_not_wrong_gradients(name, f, inputs):
    with pytest.raises(KinkError, match=r"sit at a kink .* not differentiable.*left slope .* right slope"):
        gradcheck(f, *inputs, kinks="raise", seed=3)
    with pytest.warns(KinkWarning, match="Not a wrong gradient"):
        assert gradcheck(f, *inputs, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(f, *inputs, kinks="ignore", seed=3)


def test_abs_at_zero_agrees_with_the_central_difference():
    # Central differences of |x| at 0 give exactly 0, the convention: nothing to report.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(mg.abs, np.array([0.0, -1.0]), kinks="raise")


def test_two_way_tie_splits_agree_with_the_central_difference():
    # At a two-way tie the central difference sees half of the slope, the ½ convention: nothing to report.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(mg.max, np.array([2.0, 2.0, 0.0]), kinks="raise")
        assert gradcheck(mg.maximum, np.array([1.0, 2.0]), np.array([1.0, -1.0]), kinks="raise")


def test_wrong_subgradient_at_a_kink_is_a_wrong_gradient(temporary_rule):
    # relu whose rule gives 2 at the kink: outside [left slope, right slope] = [0, 1], so not a subgradient.
    bad_relu = temporary_rule(
        "bad_relu", lambda x: np.maximum(x, 0), lambda g, ans, x: g * np.where(x == 0, 2.0, x > 0)
    )
    with pytest.raises(GradcheckError) as info:
        gradcheck(bad_relu, np.array([0.0, 1.0, -2.0]), kinks="ignore")
    assert not isinstance(info.value, KinkError)
    message = str(info.value)
    assert "at element (0,)" in message and "one-sided slopes differ" in message and "wrong subgradient" in message


def test_kink_near_but_not_at_the_point_passes():
    # 3e-7 from relu's kink, the first central difference straddles it; the finer step does not.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert gradcheck(mg.relu, np.array([3e-7, -3e-7, 1.0]))


def test_a_smooth_wrong_gradient_is_never_called_a_kink(temporary_rule):
    wrong_exp = temporary_rule("exp", np.exp, lambda g, ans, x: 1.01 * g * ans)
    with pytest.raises(GradcheckError) as info:
        gradcheck(wrong_exp, np.linspace(-1, 1, 5), kinks="raise")
    assert not isinstance(info.value, KinkError)
    assert "1.01 × numerical" in str(info.value)
