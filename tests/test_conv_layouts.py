"""The convolution kernels' layouts against a direct formula: the batch-innermost columns, one product per
pixel from batch 16 on, both made over blocks of output rows (never the whole columns), and the copy that avoids
4 KiB strides (one sample of 16·8·8 float32 is 4096 bytes), for strides, padding, dilation and groups."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from minigrad import conv_kernels
from minigrad.conv import geometry

rng = np.random.default_rng(5)

CASES = [  # (x shape, weight shape, stride, padding, dilation, groups)
    ((20, 1, 28, 28), (6, 1, 5, 5), 1, 0, 1, 1),  # LeNet's first: 11520 columns, five blocks of rows
    ((20, 6, 12, 12), (16, 6, 5, 5), 1, 0, 1, 1),  # LeNet's second: its gradient is 4096 bytes a sample
    ((17, 4, 24, 20), (4, 2, 3, 2), (2, 1), (1, 2), (1, 2), 2),
    ((3, 3, 20, 20), (3, 1, 3, 3), 2, 1, 1, 3),  # below 16 samples: one product over all columns
    ((18, 2, 70), (4, 1, 3), 3, 2, 2, 2),
]


def _windows(x, w_shape, geom):
    """(N, G, C/G, *P, *K) windows of the padded x, by NumPy's sliding_window_view (not the kernels' view)."""
    stride, pads, dilation, groups = geom
    kernel, nd = w_shape[2:], len(w_shape) - 2
    xp = np.pad(x, ((0, 0), (0, 0), *pads))
    reach = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True))
    view = sliding_window_view(xp, reach, axis=tuple(range(2, 2 + nd)))
    view = view[(..., *(slice(None, None, s) for s in stride), *(slice(None, None, d) for d in dilation))]
    out = conv_kernels.output_size(x.shape[2:], kernel, geom)
    view = view[(slice(None), slice(None), *(slice(0, p) for p in out))]
    return view.reshape(x.shape[0], groups, x.shape[1] // groups, *view.shape[2:])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_conv_and_its_weight_rule_match_the_direct_sums(case, dtype):
    x_shape, w_shape, stride, padding, dilation, groups = case
    geom = geometry("conv", x_shape, w_shape, stride, padding, dilation, groups)
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    n, o, nd = x_shape[0], w_shape[0], len(w_shape) - 2
    win = _windows(x.astype(np.float64), w_shape, geom)  # (N, G, C/G, *P, *K)
    wg = w.astype(np.float64).reshape(groups, o // groups, *w_shape[1:])
    spatial, taps = "pq"[:nd], "kl"[:nd]
    expected_y = np.einsum(f"ngc{spatial}{taps},goc{taps}->ngo{spatial}", win, wg).reshape(n, o, *win.shape[3 : 3 + nd])
    y = conv_kernels.conv(x, w, geom)
    assert y.dtype == dtype and y.flags.c_contiguous
    tol = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(y, expected_y, rtol=tol, atol=tol * np.abs(expected_y).max())

    g = rng.standard_normal(y.shape).astype(dtype)
    gg = g.astype(np.float64).reshape(n, groups, o // groups, *y.shape[2:])
    expected_w = np.einsum(f"ngo{spatial},ngc{spatial}{taps}->goc{taps}", gg, win).reshape(w_shape)
    dw = conv_kernels.conv_weight(x, g, w_shape, geom)
    assert dw.dtype == dtype
    np.testing.assert_allclose(dw, expected_w, rtol=tol, atol=tol * np.abs(expected_w).max())


@pytest.mark.parametrize("shape", [(7, 16, 8, 8), (5, 8, 8, 8), (1, 16, 8, 8), (4, 3, 5)])
def test_samples_last_and_first_move_the_batch_axis(shape):
    g = rng.standard_normal(shape).astype(np.float32)
    moved = conv_kernels.samples_last(g)
    np.testing.assert_array_equal(moved, np.moveaxis(g, 0, -1))
    assert moved.flags.c_contiguous
    np.testing.assert_array_equal(conv_kernels.samples_first(moved), g)


@pytest.mark.parametrize(
    "x_shape, kernel",
    [((3, 2, 24, 24), (2, 2)), ((2, 3, 25, 11), (2, 3)), ((4, 2, 13), (3,)), ((2, 1, 8, 9), (1, 2))],
    ids=str,
)
def test_tiled_max_pool_matches_the_strided_scan_and_the_first_maximum(x_shape, kernel, monkeypatch):
    # windows that tile x go through one copy with the offsets first; the same answers as the strided slices
    shape = (kernel, kernel, ((0, 0),) * len(kernel), (1,) * len(kernel))
    x = rng.integers(-2, 3, x_shape).astype(np.float32)  # many ties: the first maximum of a window must win
    x.flat[::7] = np.nan
    assert conv_kernels.tiles(*shape)
    best, which = conv_kernels.max_taps(x, *shape)
    pooled = conv_kernels.max_pool(x, shape)
    monkeypatch.setattr(conv_kernels, "tiles", lambda *shape: False)
    strided_best, strided_which = conv_kernels.max_taps(x, *shape)
    np.testing.assert_array_equal(best, strided_best)
    np.testing.assert_array_equal(which, strided_which)
    np.testing.assert_array_equal(pooled, conv_kernels.max_pool(x, shape))
    # and without nans, against NumPy's argmax (the first maximum) over each window, cropped as PyTorch
    x = np.nan_to_num(x, nan=3.0)
    out = tuple(i // k for i, k in zip(x_shape[2:], kernel, strict=True))
    win = sliding_window_view(x, kernel, axis=tuple(range(2, x.ndim)))
    win = win[(slice(None), slice(None), *(slice(0, o * k, k) for o, k in zip(out, kernel, strict=True)))]
    flat = win.reshape(*win.shape[: 2 + len(kernel)], -1)
    monkeypatch.undo()
    best, which = conv_kernels.max_taps(x, *shape)
    np.testing.assert_array_equal(best, flat.max(axis=-1))
    np.testing.assert_array_equal(which, flat.argmax(axis=-1))


def test_the_columns_are_made_a_block_at_a_time():
    # LeNet's first convolution at batch 64: 25 × 36864 float32 columns are 3.7 MB, the result 0.9 MB. Made
    # whole, the columns would dominate the peak; a block at a time, the peak stays near the result's size
    import tracemalloc

    x, w = rng.standard_normal((64, 1, 28, 28)).astype(np.float32), np.ones((6, 1, 5, 5), np.float32)
    geom = geometry("conv", x.shape, w.shape, 1, 0, 1, 1)
    g = rng.standard_normal((64, 6, 24, 24)).astype(np.float32)
    columns = 25 * 24 * 24 * 64 * 4
    for run in (lambda: conv_kernels.conv(x, w, geom), lambda: conv_kernels.conv_weight(x, g, w.shape, geom)):
        tracemalloc.start()
        try:
            run()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < columns / 2
