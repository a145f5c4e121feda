"""Hypothesis strategies for property tests of gradients: shapes, broadcastable shapes, axes, arrays.

>>> from minigrad.testing import strategies as mst
>>> from hypothesis import given
>>> @given(x=mst.arrays(shape=mst.shapes()))
... def test_tanh(x): ...
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "minigrad.testing.strategies needs hypothesis: pip install 'minigrad[test]' (or pip install hypothesis)"
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


def arrays(
    shape: Any,
    dtype: Any = np.float64,
    low: float = -3.0,
    high: float = 3.0,
    away_from: Any = (),
    margin: float = 1e-2,
) -> st.SearchStrategy:
    """Float arrays with elements in [low, high], at least ``margin`` from each value in ``away_from``.

    ``away_from`` keeps elements off the kinks of non-smooth functions (0 for abs and relu), where a
    numerical derivative is meaningless.
    """
    shape_st = shape if isinstance(shape, st.SearchStrategy) else st.just(tuple(shape))
    elements = st.floats(low, high, allow_nan=False, allow_infinity=False, width=64)
    for point in away_from:
        elements = elements.filter(lambda v, p=point: abs(v - p) >= margin)
    return shape_st.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements)).map(lambda a: a.astype(dtype))


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
