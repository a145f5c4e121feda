"""The NumPy arithmetic of convolution (im2col, a matrix product, col2im), on plain arrays; no graph.

Shapes, for ``nd`` spatial axes: x (N, C, *I), w (O, C/G, *K), y (N, O, *P) with G groups. The geometry of
one convolution is the tuple ``(stride, pads, dilation, groups)``: ``stride`` and ``dilation`` one int per
axis, ``pads`` one (before, after) pair per axis. Output size per axis: P = ⌊(I + before + after − d(K−1) − 1)/s⌋ + 1.

Columns are laid out channel-major with the batch innermost, (G, C/G·K₁·K₂…, P₁·P₂…·N): then each of the
three products is a matrix product per group (BLAS), with the batch folded into the columns:

- y = conv(x, w):            Y_g = W_g · cols(x)_g              (G, O/G, P·N), one product per pixel at batch ≥ 16
- Jₓᵀg = conv_input(g, w):   cols = W_gᵀ · G_g, added back into the windows (col2im: one add per kernel offset)
- J_wᵀg = conv_weight(x, g): W_g = G_g · cols(x)_gᵀ, summed over blocks of the columns

x's columns are never whole: ``column_blocks`` copies those of a few output rows at a time (about 256 KiB)
from a strided view of x, and each block's product is written into the result before the next is made.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

Geometry = tuple  # (stride, pads, dilation, groups)


def output_size(inner: tuple, kernel: tuple, geometry: Geometry) -> tuple:
    """The spatial output shape P for input spatial shape ``inner`` and kernel shape ``kernel``."""
    stride, pads, dilation, _ = geometry
    return tuple(
        (i + lo + hi - d * (k - 1) - 1) // s + 1
        for i, k, s, (lo, hi), d in zip(inner, kernel, stride, pads, dilation, strict=True)
    )


def padded(x: np.ndarray, pads: tuple, fill: float = 0.0) -> np.ndarray:
    """x with ``pads`` (before, after) added to each spatial axis, filled with ``fill`` (x itself if none)."""
    if not any(lo or hi for lo, hi in pads):
        return x
    shape = x.shape[:2] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads, strict=True))
    out = np.full(shape, fill, dtype=x.dtype)
    out[(slice(None), slice(None), *(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[2:], pads, strict=True)))] = x
    return out


def windows(x: np.ndarray, kernel: tuple, geometry: Geometry) -> np.ndarray:
    """x's windows as a strided view (C, *K, *P, N) of x made (C, *I, N) first (a small copy): a window's run
    of pixels along the last axis is then P·N contiguous numbers rather than P, and im2col's copy is two to
    five times faster at LeNet's batch 64."""
    stride, pads, dilation, _ = geometry
    c, n = x.shape[1], x.shape[0]
    out = output_size(x.shape[2:], kernel, geometry)
    xt = samples_last(padded(x, pads))
    spatial = xt.strides[1:-1]
    taps = tuple(a * d for a, d in zip(spatial, dilation, strict=True))
    steps = tuple(a * s for a, s in zip(spatial, stride, strict=True))
    return as_strided(xt, (c, *kernel, *out, n), (xt.strides[0], *taps, *steps, xt.strides[-1]), writeable=False)


def column_blocks(view: np.ndarray, groups: int, least: int = 1) -> Any:
    """im2col a block of output rows at a time: (rows, the columns (G, C/G·K, R·P₂…·N) of the windows whose
    first output index is in the slice ``rows``), each block a copy of about ``_BLOCK`` bytes, or of at least
    ``least`` columns. Only one block of columns exists at a time: LeNet's first layer at batch 64 has 3.7 MB
    of them, 20 times its input."""
    nd = (view.ndim - 2) // 2
    kernel, out, n = view.shape[1 : 1 + nd], view.shape[1 + nd : -1], view.shape[-1]
    depth, row = view.shape[0] // groups * math.prod(kernel), math.prod(out[1:]) * n  # (columns in a row)
    step = max(1, _BLOCK // (groups * depth * row * view.itemsize), -(-least // row))
    lead = (slice(None),) * (1 + nd)
    for start in range(0, out[0], step):
        rows = slice(start, min(start + step, out[0]))
        yield rows, view[(*lead, rows)].reshape(groups, depth, -1)


_BLOCK = 1 << 18
_PER_PIXEL = 16


def conv(x: np.ndarray, w: np.ndarray, geometry: Geometry) -> np.ndarray:
    """y = conv(x, w) (cross-correlation, as PyTorch's): (N, O, *P), made a block of output rows at a time."""
    groups = geometry[3]
    n, o, nd = x.shape[0], w.shape[0], w.ndim - 2
    view = windows(x, w.shape[2:], geometry)
    wg = w.reshape(groups, o // groups, -1)
    y = np.empty((n, o, *view.shape[1 + nd : -1]), dtype=np.result_type(x, w))
    for rows, cols in column_blocks(view, groups):
        block = y[:, :, rows]  # (N, O, R, P₂…)
        if n < _PER_PIXEL:  # one product W_g · cols_g (G, O/G, R·P₂…·N)
            part = np.matmul(wg, cols).reshape(o, *block.shape[2:], n)
            block[...] = np.moveaxis(part, -1, 0)
        else:  # one per pixel, (G, O/G, N) each: twice as fast from OpenBLAS as a few rows by 36864 columns
            part = np.empty((cols.shape[-1] // n, groups, o // groups, n), dtype=y.dtype)
            np.matmul(wg, cols.reshape(*cols.shape[:2], -1, n).transpose(2, 0, 1, 3), out=part)
            part = part.reshape(*block.shape[2:], o, n)
            block[...] = part.transpose(nd + 1, nd, *range(nd))
        del cols, part  # (before the next block is made, not after)
    return y


def samples_last(g: np.ndarray) -> np.ndarray:
    """g (N, …) as (…, N) in C order (a batch of one needs no copy). When one sample's bytes are a multiple
    of 4 KiB (LeNet's (16, 8, 8) floats), reading the N samples at that stride maps them to the same cache
    sets and the copy is five times slower: it then goes through a copy whose rows are a little longer."""
    rows = g.reshape(g.shape[0], -1)
    if g.shape[0] > 1 and rows.shape[1] * g.itemsize % 4096 == 0:
        wider = np.empty((rows.shape[0], rows.shape[1] + 16), dtype=g.dtype)
        wider[:, : rows.shape[1]] = rows
        rows = wider[:, : rows.shape[1]]
    return np.ascontiguousarray(rows.T).reshape(*g.shape[1:], g.shape[0])


def samples_first(y: np.ndarray) -> np.ndarray:
    """y (…, N) as (N, …) in C order, the inverse of ``samples_last``: a transpose of the (…, N) rows made
    32 KiB of them at a time (so they stay in cache while read N times), 1.5 times faster at LeNet's."""
    n = y.shape[-1]
    rows = y.reshape(-1, n)
    out = np.empty((n, rows.shape[0]), dtype=y.dtype)
    step = max(1, 32768 // (n * y.itemsize))
    for start in range(0, rows.shape[0], step):
        out[:, start : start + step] = rows[start : start + step].T
    return out.reshape(n, *y.shape[:-1])


def conv_weight(x: np.ndarray, g: np.ndarray, w_shape: tuple, geometry: Geometry) -> np.ndarray:
    """J_wᵀg of y = conv(x, w): ∂yₙₒₚ/∂w_ock = x's window p at tap ck, so Jᵀg = Σₙₚ gₙₒₚ cols_ck,pn.

    The sum over P·N is made a block of columns at a time (``column_blocks``), added: OpenBLAS is also 2.5
    times slower for one product over LeNet's first 36864 columns than for blocks of a few thousand, and
    a quarter slower for blocks of 512 (a row of LeNet's second layer at batch 64) than of ``_LEAST`` = 1024.
    """
    groups, o = geometry[3], g.shape[1]
    batch_last = samples_last(g)  # (O, *P, N)
    dw = np.zeros((groups, math.prod(w_shape[1:]), o // groups), dtype=np.result_type(x, g))
    blocks = column_blocks(windows(x, w_shape[2:], geometry), groups, _LEAST)  # cols (G, C/G·K, R·P₂…·N)
    for rows, cols in blocks:
        part = batch_last[:, rows].reshape(groups, o // groups, -1).swapaxes(1, 2)  # (G, R·P₂…·N, O/G)
        # (cols · gᵀ)ᵀ rather than g · colsᵀ: the same numbers, twice as fast from OpenBLAS for these long thin shapes
        dw += np.matmul(cols, part)
        del cols  # (before the next block is made, not after)
    return dw.swapaxes(1, 2).reshape(w_shape)


_LEAST = 1024


def conv_input(g: np.ndarray, w: np.ndarray, x_shape: tuple, geometry: Geometry) -> np.ndarray:
    """Jₓᵀg of y = conv(x, w), the transposed convolution: cols = Wᵀg, each column added back where its window
    read x (col2im). One whole-array add per kernel offset; pixels the windows never read get 0.

    Here the batch is the last axis (g as (O, *P, N), x's gradient built as (C, *I, N)): each add then runs
    over rows of N·P contiguous numbers instead of P, three times faster at batch 64. From ``_PER_OFFSET``
    columns on, the product is made one kernel offset at a time into a buffer that stays in cache (25% faster
    for LeNet's second convolution at batch 64, slower at batch 1).
    """
    stride, pads, dilation, groups = geometry
    n, c, kernel = x_shape[0], x_shape[1], w.shape[2:]
    o, out, k = w.shape[0], g.shape[2:], math.prod(kernel)
    batch_last = samples_last(g).reshape(groups, o // groups, -1)  # (O, *P, N)
    full = tuple(i + lo + hi for i, (lo, hi) in zip(x_shape[2:], pads, strict=True))
    dx = np.zeros((c, *full, n), dtype=np.result_type(g, w))
    at = taps(kernel, stride, dilation, out)  # (each: the batch and channel axes, then the spatial ones)
    if batch_last.shape[-1] >= _PER_OFFSET:
        wt = np.ascontiguousarray(w.reshape(groups, o // groups, c // groups, k).transpose(3, 0, 2, 1))
        part = np.empty((groups, c // groups, batch_last.shape[-1]), dtype=dx.dtype)  # (K, G, C/G, O/G) above
        for tap, index in enumerate(at):
            np.matmul(wt[tap], batch_last, out=part)
            dx[index[1:]] += part.reshape(c, *out, n)
    else:
        wt = w.reshape(groups, o // groups, -1).swapaxes(1, 2)  # (G, C/G·K, O/G)
        cols = np.matmul(wt, batch_last).reshape(c, k, *out, n)
        for tap, index in enumerate(at):
            dx[index[1:]] += cols[:, tap]
    if any(lo or hi for lo, hi in pads):
        dx = dx[(slice(None), *(slice(lo, lo + i) for i, (lo, _) in zip(x_shape[2:], pads)))]
    return samples_first(dx)


_PER_OFFSET = 1024


@functools.lru_cache(maxsize=256)
def taps(kernel: tuple, stride: tuple, dilation: tuple, out: tuple) -> tuple:
    """For each kernel offset (row-major), the index of the (padded) input elements it reads in every window:
    one strided slice per spatial axis, after the batch and channel axes."""
    return tuple(
        (slice(None), slice(None))
        + tuple(slice(t * d, t * d + s * (p - 1) + 1, s) for t, d, s, p in zip(tap, dilation, stride, out, strict=True))
        for tap in itertools.product(*(range(k) for k in kernel))
    )


def max_pool(x: np.ndarray, shape: tuple, keep: list | None = None) -> np.ndarray:
    """The maximum of each window (N, C, *P): the elementwise maximum of the windows' elements at each kernel
    offset (``offsets``; NumPy's reductions over a few short strided axes are ten times slower). Padding is
    −inf. ``keep``, a list, receives where each maximum is (``max_taps``) for the rule."""
    if keep is not None:
        best, which = max_taps(x, *shape)
        keep[:] = [which]
        return best
    at = offsets(x, *shape)
    best = at[0].copy()
    for v in at[1:]:
        np.maximum(best, v, out=best)
    return best


def tiles(kernel: tuple, stride: tuple, pads: tuple, dilation: tuple) -> bool:
    """Whether the windows tile the input: side by side, unpadded, undilated (LeNet's 2×2 of stride 2)."""
    return stride == kernel and all(d == 1 for d in dilation) and not any(lo or hi for lo, hi in pads)


def _tiled_axes(nd: int) -> tuple:
    """(N, C, P₁, K₁, P₂, K₂, …) -> (K₁, K₂, …, N, C, P₁, P₂, …)."""
    return (*range(3, 2 + 2 * nd, 2), 0, 1, *range(2, 2 + 2 * nd, 2))


def offsets(x: np.ndarray, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple) -> Any:
    """The windows' elements at each kernel offset (row-major), each (N, C, *P): strided slices of the padded
    x, or, when the windows tile x, the slices of one copy of x with the offsets first (K, N, C, *P). Every
    operation on a slice of stride 2 is six times slower than on contiguous numbers: the copy is cheaper."""
    out = output_size(x.shape[2:], kernel, (stride, pads, dilation, 1))
    if not tiles(kernel, stride, pads, dilation):
        xp = padded(x, pads, -np.inf)
        return [xp[index] for index in taps(kernel, stride, dilation, out)]
    inner = x[(slice(None), slice(None), *(slice(0, p * k) for p, k in zip(out, kernel, strict=True)))]
    split = inner.reshape(*x.shape[:2], *itertools.chain(*zip(out, kernel, strict=True)))
    return np.ascontiguousarray(split.transpose(_tiled_axes(len(kernel)))).reshape(-1, *x.shape[:2], *out)


def max_taps(x: np.ndarray, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple) -> tuple:
    """(the maximum of each window (N, C, *P), the kernel offset (row-major number) of each maximum).

    Offsets are scanned in order and a later one wins only if strictly larger, or nan: at a tie the first
    maximum of the window, and the last nan, as PyTorch's scan. Padding is −inf, so it is never the maximum.
    """
    at = offsets(x, kernel, stride, pads, dilation)
    best = at[0].copy()
    which = np.zeros(best.shape, dtype=np.int8 if len(at) < 128 else np.int64)
    for k, v in enumerate(at[1:], 1):
        # which = k where v > best: k exceeds every earlier offset, so a maximum does it (int8 arithmetic is
        # ten times faster than np.where with a scalar or a masked np.copyto)
        np.maximum(which, (v > best).view(np.int8) * which.dtype.type(k), out=which)
        np.maximum(best, v, out=best)
    if np.isnan(best).any():  # (a window holding a nan ends with a nan maximum): the scan again, nan-aware
        best = at[0].copy()
        which[...] = 0
        for k, v in enumerate(at[1:], 1):
            better = (v > best) | np.isnan(v)
            which = np.where(better, k, which)
            best = np.where(better, v, best)
    return best, which


def max_pool_input(g: np.ndarray, which: np.ndarray, x_shape: tuple, shape: tuple) -> np.ndarray:
    """Jₓᵀg of max pooling: each g added at the maximum of its window (``which``, from ``max_taps``)."""
    kernel, stride, pads, dilation = shape
    full = x_shape[:2] + tuple(i + lo + hi for i, (lo, hi) in zip(x_shape[2:], pads, strict=True))
    dx = np.zeros(full, dtype=g.dtype)
    apart = all(s >= d * (k - 1) + 1 for k, s, d in zip(kernel, stride, dilation, strict=True))
    finite = bool(np.isfinite(g).all())  # then g · mask, four times faster than np.where(mask, g, 0)
    for k, index in enumerate(taps(kernel, stride, dilation, g.shape[2:])):
        hit = which == k
        if apart and finite:  # windows that do not overlap: each element of x is read by one offset of one window
            np.multiply(g, hit, out=dx[index])
        else:
            dx[index] += g * hit if finite else np.where(hit, g, 0)
    if any(lo or hi for lo, hi in pads):
        dx = dx[(slice(None), slice(None), *(slice(lo, lo + i) for i, (lo, _) in zip(x_shape[2:], pads)))]
    return dx


def max_flat_index(which: np.ndarray, x_shape: tuple, shape: tuple) -> np.ndarray:
    """The flat index in x of each window's maximum (``which`` from ``max_taps``)."""
    kernel, stride, pads, dilation = shape
    offsets = np.unravel_index(which, kernel)  # the offset of each maximum, per axis
    grid = np.indices(which.shape, sparse=True)
    where = [grid[2 + a] * stride[a] + offsets[a] * dilation[a] - pads[a][0] for a in range(len(kernel))]
    return np.ravel_multi_index((grid[0], grid[1], *where), x_shape)
