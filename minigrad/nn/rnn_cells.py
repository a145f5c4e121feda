"""One step of a recurrent network as a layer: ``RNNCell``, ``LSTMCell``, ``GRUCell`` (PyTorch's cells).

Each has ``weight_ih`` (G·H, I), ``weight_hh`` (G·H, H), ``bias_ih`` and ``bias_hh`` (G·H,), all U(−1/√H, 1/√H),
and takes an input (N, I) or unbatched (I,) with a state (N, H) (zeros if None); ``LSTMCell`` takes and
returns (h, c).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..dtypes import resolve
from ..tensor import Tensor, as_tensor
from .casting import require_floating
from .module import Module, Parameter
from .rnn import _positive, check_state, reset_uniform
from .rnn_functional import gru_step, lstm_step, rnn_step


class RNNCellBase(Module):
    """The parameters and the checks the three cells share; ``gates`` is G."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, gates: int, dtype: Any, rng: Any) -> None:
        super().__init__()
        name = type(self).__name__
        self.input_size = _positive(name, "input_size", input_size)
        self.hidden_size = _positive(name, "hidden_size", hidden_size)
        self.bias, dtype = bias, resolve(dtype)
        self.weight_ih = Parameter(np.empty((gates * hidden_size, input_size), dtype=dtype))
        self.weight_hh = Parameter(np.empty((gates * hidden_size, hidden_size), dtype=dtype))
        if bias:
            self.bias_ih = Parameter(np.empty(gates * hidden_size, dtype=dtype))
            self.bias_hh = Parameter(np.empty(gates * hidden_size, dtype=dtype))
        else:
            self.bias_ih = self.bias_hh = None
        reset_uniform(self, hidden_size, rng)

    def _input(self, input: Any) -> tuple[Tensor, bool]:
        """(input as (N, I), whether it came batched) and the input's share of the gates."""
        x = as_tensor(input)
        require_floating(type(self).__name__, x, self.weight_ih)
        if x.ndim not in (1, 2) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{type(self).__name__}: input has shape {x.shape}, expected (batch, input_size={self.input_size})"
                f" or (input_size={self.input_size},)"
            )
        return (x, True) if x.ndim == 2 else (x[None], False)

    def _state(self, name: str, state: Any, x: Tensor, batched: bool) -> Tensor:
        shape = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        dims = "batch, hidden_size" if batched else "hidden_size"
        state = check_state(type(self).__name__, name, state, shape, dims, self.weight_hh.dtype)
        return state if batched else state[None]

    def _gi(self, x: Tensor) -> Tensor:
        gi = x @ self.weight_ih.T
        return gi if self.bias_ih is None else gi + self.bias_ih

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class RNNCell(RNNCellBase):
    """h′ = tanh(x Wᵢₕᵀ + bᵢₕ + h Wₕₕᵀ + bₕₕ), or relu with ``nonlinearity='relu'``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype: Any = None, rng: Any = None) -> None:  # fmt: skip
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, 1, dtype, rng)
        self.nonlinearity = nonlinearity

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        x, batched = self._input(input)
        h = rnn_step(self._gi(x), self._state("hx", hx, x, batched), self.weight_hh, self.bias_hh, self.nonlinearity)
        return h if batched else h[0]


class LSTMCell(RNNCellBase):
    """(h′, c′) with gates i, f, g, o: c′ = σ(f)·c + σ(i)·tanh(g), h′ = σ(o)·tanh(c′)."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None,
                 rng: Any = None) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, bias, 4, dtype, rng)

    def forward(self, input: Any, hx: Any = None) -> tuple[Tensor, Tensor]:
        x, batched = self._input(input)
        if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise TypeError(f"LSTMCell: hx must be a pair (h, c), got {type(hx).__name__}")
        h, c = (None, None) if hx is None else hx
        state = (self._state("h", h, x, batched), self._state("c", c, x, batched))
        h, c = lstm_step(self._gi(x), state, self.weight_hh, self.bias_hh)
        return (h, c) if batched else (h[0], c[0])


class GRUCell(RNNCellBase):
    """h′ = (1 − z)·n + z·h with r, z = σ(·) and n = tanh(Wᵢₙx + bᵢₙ + r·(Wₕₙh + bₕₙ))."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype: Any = None,
                 rng: Any = None) -> None:  # fmt: skip
        super().__init__(input_size, hidden_size, bias, 3, dtype, rng)

    def forward(self, input: Any, hx: Any = None) -> Tensor:
        x, batched = self._input(input)
        h = gru_step(self._gi(x), self._state("hx", hx, x, batched), self.weight_hh, self.bias_hh)
        return h if batched else h[0]
