"""The rows of a reverse-mode Jacobian from one backward pass: the pass seeded, under ``mg.vmap``, with the
batch of every basis cotangent e₀, e₁, … at once, instead of one pass per output element.

Each rule of the backward pass then runs once on the whole batch of cotangents (see
``minigrad.vmap_dispatch``), which is 1.4 to 4.4 times faster than the loop of passes from 8 rows up
(``FEWEST_ROWS``). A graph with a custom ``mg.Function`` (or an ``mg.checkpoint``, which may hide one) keeps
the loop: its backward is the user's, written for one cotangent.
"""

from __future__ import annotations

import numpy as np

from .engine import backward_pass
from .shape_ops import reshape
from .tensor import Tensor, constant
from .vmap import vmap

# Below this many rows the loop of passes is faster: the batched pass pays a vmap dispatch per primitive. On
# tanh(x)·Σx the loop took 0.37, 0.54 and 1.24 times the batched pass's time at 2, 4 and 8 rows; on the
# 40-layer chain of benchmarks/transforms.py (64 rows) 4.4 times.
FEWEST_ROWS = 8


def _has_custom_function(root: Tensor) -> bool:
    seen, stack = set(), [root]
    while stack:
        t = stack.pop()
        if id(t) in seen or not t._parents:
            continue
        seen.add(id(t))
        if t._op in ("function", "checkpoint"):  # (a checkpoint's function may hold a custom Function)
            return True
        stack.extend(p for p in t._parents if p is not None)
    return False


def batched_rows(out: Tensor, sources: list, nest: bool) -> list | None:
    """∂out/∂s for each source s, shaped ``out.shape + s.shape``, from one batched backward pass; None where
    the loop of passes is used instead (fewer than ``FEWEST_ROWS`` output elements, or a custom Function in the
    graph)."""
    m = out._data.size
    if m < FEWEST_ROWS or _has_custom_function(out):
        return None
    basis = np.eye(m, dtype=out._data.dtype).reshape(m, *out._data.shape)

    def pull(u: Tensor) -> dict:
        found = backward_pass(out, u, True, True, sources)
        return {k: found[s] for k, s in enumerate(sources) if found.get(s) is not None}

    rows = vmap(pull)(basis)
    jacs = []
    for k, s in enumerate(sources):
        shape = out._data.shape + s._data.shape
        if k not in rows:  # out does not depend on s
            jacs.append(constant(np.zeros(shape, dtype=out._data.dtype)))
        else:
            jacs.append(reshape(rows[k], shape) if nest else constant(rows[k]._data.reshape(shape)))
    return jacs
