"""Weights to and from PyTorch, without importing it: a minigrad ``state_dict`` already has PyTorch's keys,
shapes and layouts (``nn.Linear``'s weight (out, in), convolutions' (out, in/groups, *k), recurrent layers'
``weight_ih_l0``... with PyTorch's gate order, ``MultiheadAttention``'s ``in_proj_weight``, BatchNorm's buffers).

>>> import torch                                                                    # doctest: +SKIP
>>> twin.load_state_dict(to_torch_state_dict(model, torch.from_numpy))              # doctest: +SKIP
>>> from_torch_state_dict(model, twin.state_dict())                                 # doctest: +SKIP
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np


def to_torch_state_dict(module: Any, tensor: Any = None) -> OrderedDict:
    """``module.state_dict()`` as fresh C-contiguous NumPy arrays under PyTorch's keys, each passed through
    ``tensor`` when given (``torch.from_numpy``: what ``torch.nn.Module.load_state_dict`` takes)."""
    out = OrderedDict()
    for name, value in module.state_dict().items():
        array = np.array(value, order="C")  # a copy: the torch tensor shares no memory with the model
        out[name] = tensor(array) if tensor is not None else array
    return out


def _array(name: str, value: Any) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch.Tensor (on any device): its values, as NumPy
        value = value.detach()
        value = value.cpu() if hasattr(value, "cpu") else value
        return np.array(value.numpy())
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"from_torch_state_dict: '{name}' is a {type(value).__name__}, not an array or tensor")
    return array


def from_torch_state_dict(module: Any, state_dict: Any, strict: bool = True) -> Any:
    """Load a PyTorch ``state_dict`` (torch tensors, or arrays) into ``module``; values are cast to the dtype of
    the module's (a float32 PyTorch model into a float64 minigrad one). Returns ``module.load_state_dict``'s
    result; a missing or unexpected key, or a shape that differs, is its error naming the key."""
    return module.load_state_dict({k: _array(k, v) for k, v in state_dict.items()}, strict=strict)
