"""The NumPy arithmetic of convolution (im2col, a matrix product, col2im), on plain arrays; no graph.

Shapes, for ``nd`` spatial axes: x (N, C, *I), w (O, C/G, *K), y (N, O, *P) with G groups. The geometry of
one convolution is the tuple ``(stride, pads, dilation, groups)``: ``stride`` and ``dilation`` one int per
axis, ``pads`` one (before, after) pair per axis. Output size per axis: P = ⌊(I + before + after − d(K−1) − 1)/s⌋ + 1.

Columns are laid out channel-major, (G, C/G·K₁·K₂…, N·P₁·P₂…): then each of the three products is one
matrix product per group (BLAS), with the batch folded into the columns:

- y = conv(x, w):            Y_g = W_g · cols(x)_g              (G, O/G, N·P)
- Jₓᵀg = conv_input(g, w):   cols = W_gᵀ · G_g, added back into the windows (col2im: one add per kernel offset)
- J_wᵀg = conv_weight(x, g): W_g = G_g · cols(x)_gᵀ
"""

from __future__ import annotations

import functools
import itertools
import math

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


def windows(xp: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple, out: tuple) -> np.ndarray:
    """The read-only view (N, C, *P, *K) of the windows of the (padded) input ``xp``: no copy.

    (The same view as ``sliding_window_view(xp, dilated kernel, axis)[..., ::s, ::d]``, built directly.)
    """
    lead, spatial = xp.strides[:2], xp.strides[2:]
    steps = tuple(a * s for a, s in zip(spatial, stride, strict=True))
    taps = tuple(a * d for a, d in zip(spatial, dilation, strict=True))
    return as_strided(xp, xp.shape[:2] + out + kernel, lead + steps + taps, writeable=False)


def columns(x: np.ndarray, kernel: tuple, geometry: Geometry) -> np.ndarray:
    """im2col: the windows of x copied into the columns (G, C/G·K, N·P), channel-major (one copy)."""
    stride, pads, dilation, groups = geometry
    n, c, nd = x.shape[0], x.shape[1], len(kernel)
    out = output_size(x.shape[2:], kernel, geometry)
    view = windows(padded(x, pads), kernel, stride, dilation, out)
    # (N, C, *P, *K) -> (C, *K, N, *P): the kernel taps beside their channel, the batch beside the pixels
    order = (1, *range(2 + nd, 2 + 2 * nd), 0, *range(2, 2 + nd))
    return view.transpose(order).reshape(groups, c // groups * math.prod(kernel), n * math.prod(out))


def conv(x: np.ndarray, w: np.ndarray, geometry: Geometry) -> np.ndarray:
    """y = conv(x, w) (cross-correlation, as PyTorch's): (N, O, *P)."""
    groups = geometry[3]
    n, o, kernel = x.shape[0], w.shape[0], w.shape[2:]
    out = output_size(x.shape[2:], kernel, geometry)
    y = np.matmul(w.reshape(groups, o // groups, -1), columns(x, kernel, geometry))  # (G, O/G, N·P)
    return _batch_first(y.reshape(o, n, *out))


def _batch_first(y: np.ndarray) -> np.ndarray:
    """(O, N, *P) -> (N, O, *P) in C order (a batch of one needs no copy)."""
    if y.shape[1] == 1:
        return y.reshape(1, y.shape[0], *y.shape[2:])
    return np.ascontiguousarray(y.swapaxes(0, 1))


def _channel_major(g: np.ndarray, groups: int) -> np.ndarray:
    """g (N, O, *P) as (G, O/G, N·P), the layout of the columns."""
    n, o = g.shape[:2]
    rows = g.reshape(1, o, -1) if n == 1 else g.swapaxes(0, 1)
    return rows.reshape(groups, o // groups, -1)


def conv_weight(x: np.ndarray, g: np.ndarray, w_shape: tuple, geometry: Geometry) -> np.ndarray:
    """J_wᵀg of y = conv(x, w): ∂yₙₒₚ/∂w_ock = x's window p at tap ck, so Jᵀg = Σₙₚ gₙₒₚ cols_ck,np."""
    groups = geometry[3]
    cols = columns(x, w_shape[2:], geometry)
    # (cols · gᵀ)ᵀ rather than g · colsᵀ: the same numbers, twice as fast from OpenBLAS for these long thin shapes
    return np.matmul(cols, _channel_major(g, groups).swapaxes(1, 2)).swapaxes(1, 2).reshape(w_shape)


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
    batch_last = np.moveaxis(g, 0, -1).reshape(groups, o // groups, -1)  # (a copy; a view for a batch of one)
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
    return np.ascontiguousarray(np.moveaxis(dx, -1, 0))


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
    """The maximum of each window (N, C, *P): the elementwise maximum of one strided slice per kernel offset
    (NumPy's reductions over a few short strided axes are ten times slower). Padding is −inf. ``keep``, a
    list, receives where each maximum is (``max_taps``) for the rule."""
    kernel, stride, pads, dilation = shape
    if keep is not None:
        best, which = max_taps(x, *shape)
        keep[:] = [which]
        return best
    out = output_size(x.shape[2:], kernel, (stride, pads, dilation, 1))
    xp = padded(x, pads, -np.inf)
    at = taps(kernel, stride, dilation, out)
    best = xp[at[0]].copy()
    for index in at[1:]:
        np.maximum(best, xp[index], out=best)
    return best


def max_taps(x: np.ndarray, kernel: tuple, stride: tuple, pads: tuple, dilation: tuple) -> tuple:
    """(the maximum of each window (N, C, *P), the kernel offset (row-major number) of each maximum).

    Offsets are scanned in order and a later one wins only if strictly larger, or nan: at a tie the first
    maximum of the window, and the last nan, as PyTorch's scan. Padding is −inf, so it is never the maximum.
    """
    out = output_size(x.shape[2:], kernel, (stride, pads, dilation, 1))
    xp = padded(x, pads, -np.inf)
    at = taps(kernel, stride, dilation, out)
    best = xp[at[0]].copy()
    which = np.zeros(best.shape, dtype=np.int8 if len(at) < 128 else np.int64)
    for k, index in enumerate(at[1:], 1):
        v = xp[index]
        # which = k where v > best: k exceeds every earlier offset, so a maximum does it (int8 arithmetic is
        # ten times faster than np.where with a scalar or a masked np.copyto)
        np.maximum(which, (v > best).view(np.int8) * which.dtype.type(k), out=which)
        np.maximum(best, v, out=best)
    if np.isnan(best).any():  # (a window holding a nan ends with a nan maximum): the scan again, nan-aware
        best = xp[at[0]].copy()
        which[...] = 0
        for k, index in enumerate(at[1:], 1):
            v = xp[index]
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
