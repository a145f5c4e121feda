"""``clip_grad_norm_``, ``clip_grad_value_``, ``parameters_to_vector`` and ``vector_to_parameters``, as
``torch.nn.utils``'s.

They work on the gradient arrays that ``backward()`` leaves in ``p.grad``, between ``backward()`` and
``optimizer.step()``; a clipped gradient is a new array (``p.grad`` may share memory with another gradient),
zero where it was zero, so a row-sparse table keeps its lazy update.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..checkpoint import checkpoint, checkpoint_sequential  # noqa: F401  (torch.utils.checkpoint's, re-exported)
from ..tensor import Tensor
from .torch_weights import from_torch_state_dict, to_torch_state_dict

__all__ = [
    "clip_grad_norm_", "clip_grad_value_", "parameters_to_vector", "vector_to_parameters", "to_torch_state_dict",
    "from_torch_state_dict",
]  # fmt: skip


def _with_grads(where: str, parameters: Any) -> list[Tensor]:
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{where}: parameter {i} is a {type(p).__name__}, not a Tensor")
        if isinstance(p.grad, Tensor):
            raise TypeError(
                f"{where}: parameter {i}'s grad is a Tensor (left by backward(create_graph=True)); "
                "clip p.grad.data, or clear it first"
            )
    return [p for p in params if p.grad is not None]


def _norm_type(where: str, norm_type: Any) -> float:
    if isinstance(norm_type, str) and norm_type == "inf":
        return math.inf
    if isinstance(norm_type, bool) or not isinstance(norm_type, numbers.Real) or not norm_type > 0:
        raise ValueError(f"{where}: norm_type must be a positive number or inf, got {norm_type!r}")
    return float(norm_type)


def clip_grad_norm_(
    parameters: Iterable[Tensor] | Tensor,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Scale all the gradients together so that their joint norm is at most ``max_norm``; return that norm.

    The total norm is the ``norm_type``-norm of all gradients as one vector (``inf``: the largest |gᵢ|); each
    gradient is multiplied by min(1, max_norm / (total + 1e-6)), PyTorch's formula. The norm comes back as a 0-d
    Tensor without grad, in the gradients' dtype, as in PyTorch (``float(norm)`` or ``norm.item()`` reads it).
    A nan or inf norm raises if ``error_if_nonfinite``, else the gradients are scaled by it (to nan), as PyTorch.
    ``foreach`` is accepted for PyTorch's signature and changes nothing.
    """
    where = "clip_grad_norm_"
    norm_type = _norm_type(where, norm_type)
    if not (isinstance(max_norm, numbers.Real) and max_norm >= 0):
        raise ValueError(f"{where}: max_norm must be a non-negative number, got {max_norm!r}")
    params = _with_grads(where, parameters)
    if not params:
        return Tensor(np.asarray(0.0))
    dtype = np.result_type(*(p.grad.dtype for p in params))
    if norm_type == math.inf:
        # (np.max, not Python's max: that skips a nan after the first element, and the check below with it)
        total = np.max([np.max(np.abs(p.grad), initial=0.0) for p in params])
    else:
        norms = np.array([np.linalg.norm(p.grad.ravel(), norm_type) for p in params], dtype=np.float64)
        total = np.linalg.norm(norms, norm_type)
    total = np.asarray(total, dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"{where}: the total norm of order {norm_type} of the gradients is {float(total)}, so they cannot be "
            "clipped; error_if_nonfinite=False scales them by it anyway"
        )
    scale = min(1.0, float(max_norm) / (float(total) + 1e-6)) if np.isfinite(total) else float(max_norm) / float(total)
    for p in params:
        p.grad = (p.grad * scale).astype(p.grad.dtype, copy=False)
    return Tensor(total)


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float) -> None:
    """Clip every gradient element into [−clip_value, clip_value]."""
    if not (isinstance(clip_value, numbers.Real) and clip_value >= 0):
        raise ValueError(f"clip_grad_value_: clip_value must be a non-negative number, got {clip_value!r}")
    for p in _with_grads("clip_grad_value_", parameters):
        p.grad = np.clip(p.grad, -clip_value, clip_value).astype(p.grad.dtype, copy=False)


def parameters_to_vector(parameters: Iterable[Tensor]) -> np.ndarray:
    """All the parameters' values, flattened and joined into one array (a copy), in the order given."""
    params = list(parameters)
    if not params:
        raise ValueError("parameters_to_vector: got no parameters")
    return np.concatenate([p.data.ravel() for p in params])


def vector_to_parameters(vec: Any, parameters: Iterable[Tensor]) -> None:
    """Write the consecutive slices of ``vec`` into the parameters (the inverse of ``parameters_to_vector``)."""
    params = list(parameters)
    vec = np.asarray(vec._data if isinstance(vec, Tensor) else vec)
    sizes = [p.data.size for p in params]
    if vec.ndim != 1 or vec.size != sum(sizes):
        raise ValueError(
            f"vector_to_parameters: a vector of shape {vec.shape} for parameters of {sum(sizes)} elements in all"
        )
    offset = 0
    for p, n in zip(params, sizes):
        p.data = vec[offset : offset + n].reshape(p.data.shape).astype(p.data.dtype)
        offset += n
