"""Hypothesis strategies for property tests of gradients, and ``property_test`` that writes the test.

Strategies: ``shapes``, ``broadcastable_shapes``, ``arrays``/``tensors`` (dtype, shape, bounds, away
from kinks), ``broadcastable_arrays``, ``axes``, ``indices``.

>>> import numpy as np, minigrad as mg
>>> from minigrad.testing import strategies as mst
>>> test_tanh = mst.property_test(mg.tanh, np.tanh, mst.arrays(mst.shapes(), dtype=None))
>>> test_tanh()  # hypothesis draws the inputs; pytest collects it by its name
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..tensor import Tensor
from .checks import check_function

try:
    from hypothesis import given
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'minigrad.testing.strategies needs hypothesis, an optional extra: pip install "minigrad[test]" '
        "(or pip install hypothesis); gradcheck and check_function in minigrad.testing work without it"
    ) from e


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    """Array shapes, including 0-d and size-1 axes."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shapes(
    num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, max_side: int = 4
) -> st.SearchStrategy:
    """Tuples of ``num_shapes`` shapes that broadcast together (size-1 and missing axes included)."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda b: b.input_shapes)


def _dtype_strategy(dtype: Any) -> st.SearchStrategy:
    if isinstance(dtype, st.SearchStrategy):
        return dtype
    if dtype is None:
        return st.sampled_from([np.float64, np.float32])
    return st.just(dtype)


def arrays(
    shape: Any,
    dtype: Any = np.float64,
    low: float = -3.0,
    high: float = 3.0,
    away_from: Any = (),
    margin: float = 1e-2,
) -> st.SearchStrategy:
    """Float arrays with elements in [low, high], at least ``margin`` from each value in ``away_from``.

    ``shape`` is a tuple or a strategy of shapes; ``dtype`` a dtype, a strategy of dtypes, or None for
    float64 or float32. Elements are drawn in float64 and then cast. ``away_from`` keeps elements off the
    kinks of non-smooth functions (0 for abs and relu), where a numerical derivative is meaningless.
    """
    shape_st = shape if isinstance(shape, st.SearchStrategy) else st.just(tuple(shape))
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    for point in away_from:
        elements = elements.filter(lambda v, p=point: abs(v - p) >= margin)
    drawn = shape_st.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements))
    return st.tuples(drawn, _dtype_strategy(dtype)).map(lambda ad: ad[0].astype(ad[1]))


def tensors(
    shape: Any = None,
    dtype: Any = np.float64,
    low: float = -3.0,
    high: float = 3.0,
    away_from: Any = (),
    margin: float = 1e-2,
    requires_grad: bool = True,
) -> st.SearchStrategy:
    """minigrad Tensors: ``arrays(...)`` wrapped as Tensors that require grad (shape defaults to ``shapes()``).

    >>> from minigrad.testing import strategies as mst
    >>> mst.tensors(dtype=None, low=0.1, high=2.0)  # float32 or float64, elements in [0.1, 2]
    ... # doctest: +SKIP
    """
    shape = shapes() if shape is None else shape
    return arrays(shape, dtype, low, high, away_from, margin).map(lambda a: Tensor(a, requires_grad=requires_grad))


def broadcastable_arrays(
    num_shapes: int = 2,
    dtype: Any = np.float64,
    low: float = -3.0,
    high: float = 3.0,
    away_from: Any = (),
    max_dims: int = 3,
) -> st.SearchStrategy:
    """Tuples of ``num_shapes`` arrays of one dtype whose shapes broadcast together: the inputs of a binary op."""

    def draw_all(shapes_and_dtype: tuple) -> st.SearchStrategy:
        shape_tuple, dt = shapes_and_dtype
        return st.tuples(*(arrays(s, dt, low, high, away_from) for s in shape_tuple))

    return st.tuples(broadcastable_shapes(num_shapes, max_dims=max_dims), _dtype_strategy(dtype)).flatmap(draw_all)


def axes(ndim: int, allow_none: bool = True, allow_tuple: bool = True) -> st.SearchStrategy:
    """A valid ``axis`` argument for an array with ``ndim`` dimensions: None, an int (maybe negative), a tuple."""
    options = []
    if allow_none:
        options.append(st.none())
    if ndim > 0:
        options.append(st.integers(-ndim, ndim - 1))
        if allow_tuple:
            options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple))
    return st.one_of(*options) if options else st.none()


def indices(shape: tuple, max_picks: int = 6) -> st.SearchStrategy:
    """Integer index arrays into the first axis of ``shape`` (repeats and negative indices included)."""
    n = shape[0]
    return hnp.arrays(np.intp, st.integers(1, max_picks), elements=st.integers(-n, n - 1))


def property_test(
    op: Any,
    reference: Callable | None,
    *inputs: st.SearchStrategy,
    second_order: bool = False,
    **check_kwargs: Any,
) -> Callable[[], None]:
    """A complete hypothesis property test of ``op`` against a NumPy ``reference``, ready for pytest.

    Each strategy in ``inputs`` draws one input; a single strategy that draws a tuple (as
    ``broadcastable_arrays``) draws them all. For every draw, ``check_function`` checks that the forward
    pass matches the reference, backward matches numerical derivatives, inputs are not mutated,
    gradients have their input's shape and dtype, and no gradient aliases another.

    >>> test_softplus = property_test(softplus, lambda x: np.logaddexp(0, x), arrays(shapes(), dtype=None))
    ... # doctest: +SKIP
    """
    if not inputs:
        raise ValueError("property_test: give one strategy per input, or one strategy that draws a tuple")

    @given(drawn=st.tuples(*inputs))
    def test(drawn: tuple) -> None:
        args = drawn[0] if len(drawn) == 1 and isinstance(drawn[0], tuple) else drawn
        check_function(op, *args, reference=reference, second_order=second_order, **check_kwargs)

    name = getattr(op, "__name__", "op").strip("<>")
    test.__name__ = test.__qualname__ = f"test_{name}_properties"
    return test
