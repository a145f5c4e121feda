"""The batching rules of convolution and pooling (see ``minigrad.vmap_dispatch``).

These primitives already run N samples side by side: a batch of B examples runs as one call over B·N
samples. A convolution whose weights are batched too (the per-example gradients of a convolutional layer,
where each example has its own copy of the weights) runs as one grouped convolution: the examples' channels
side by side, B·G groups, so that each example's channels meet only its own weights.
"""

from __future__ import annotations

from typing import Any

from .shape_ops import broadcast_to, reshape, transpose
from .vmap_dispatch import loop_rule, rule_of


def _samples_folded(forward: Any, size: int, values: list, batched: list, shape_arg: Any = None) -> Any:
    """``forward`` on B·N samples: operand 0 (N, …) of every example side by side; the other operands shared."""
    x = values[0] if batched[0] else broadcast_to(values[0], (size, *values[0].shape))
    call = [reshape(x, (-1, *x.shape[2:])), *values[1:]]
    if shape_arg is not None:  # the primitive is told an input shape: its N grows too
        s = call[shape_arg]
        call[shape_arg] = (size * s[0], *s[1:])
    out = forward(*call)
    return reshape(out, (size, -1, *out.shape[1:]))


def _folded(name: str, shape_arg: Any = None) -> None:
    """The rule of a primitive whose operand 0 has a leading axis of samples (N), when only it is batched."""

    @rule_of(name)
    def rule(forward: Any, size: int, values: list, batched: list) -> Any:
        if any(batched[1:]) or not batched[0]:
            return loop_rule(forward, size, values, batched)
        return _samples_folded(forward, size, values, batched, shape_arg)


_folded("conv_input", 2)
_folded("max_pool")


@rule_of("conv")
def _conv(forward: Any, size: int, values: list, batched: list) -> Any:
    x, w, geometry = values
    if not batched[1]:
        return _samples_folded(forward, size, values, batched)
    # per-example weights: x (B, N, C, *I) as (N, B·C, *I), w (B, O, C/G, *K) as (B·O, C/G, *K), B·G groups
    x = x if batched[0] else broadcast_to(x, (size, *x.shape))
    spatial = tuple(range(3, x.ndim))
    x = reshape(transpose(x, (1, 0, 2, *spatial)), (x.shape[1], size * x.shape[2], *x.shape[3:]))
    w = reshape(w, (size * w.shape[1], *w.shape[2:]))
    stride, pads, dilation, groups = geometry
    y = forward(x, w, (stride, pads, dilation, groups * size))  # (N, B·O, *P)
    y = reshape(y, (y.shape[0], size, -1, *y.shape[2:]))
    return transpose(y, (1, 0, 2, *range(3, y.ndim)))
