"""Recurrent layers ``RNN``, ``LSTM`` and ``GRU`` over whole sequences, with PyTorch's arguments and parameters.

Layer k of direction d has ``weight_ih_l{k}`` (G·H, I), ``weight_hh_l{k}`` (G·H, H), ``bias_ih_l{k}``,
``bias_hh_l{k}`` (G·H,), the reverse direction's names ending in ``_reverse``; G is 1, 4 (gates i, f, g, o)
or 3 (r, z, n). Every parameter starts U(−1/√H, 1/√H), in the default dtype (float32) unless ``dtype``
says. The input of all time steps is projected in one matrix product per layer and direction; only the
hidden product runs step by step (``rnn_functional`` for the RNN; the GRU's and LSTM's loops are one
primitive each, ``rnn_scan`` and ``lstm_scan``).

Sequences of different lengths: ``forward(x, hx, lengths=...)`` with right-padded input, one length per
sequence in [1, L]. Padded steps leave the state unchanged and their outputs are zero; ``h_n`` is each
sequence's state at its own last step, and the reverse direction starts at each sequence's own end: what
PyTorch gives for ``pack_padded_sequence(x, lengths, enforce_sorted=False)``, without a packed type.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ..dtypes import resolve
from ..shape_ops import concatenate, reshape, stack, swapaxes
from ..tensor import Tensor, as_tensor
from . import functional as F
from . import init
from .casting import require_floating
from .lstm_scan import lstm_scan
from .module import Module, Parameter
from .rnn_functional import gru_step, lstm_step, rnn_step, scan
from .rnn_scan import gru_scan

GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _positive(layer: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
    return int(value)


def reset_uniform(module: Module, hidden_size: int, rng: Any) -> None:
    """Every parameter U(−1/√H, 1/√H), as PyTorch's recurrent layers and cells start."""
    k = 1.0 / math.sqrt(hidden_size)
    rng = np.random.default_rng(rng)
    for p in module.parameters():
        init.uniform_(p, -k, k, rng)


def check_state(layer: str, name: str, state: Any, shape: tuple, dims: str, dtype: Any) -> Tensor:
    """``state`` as a tensor of ``shape``, or a ValueError naming both shapes; zeros of ``dtype`` (the layer's
    parameters') if None. A floating state of another dtype is refused, as the module refuses such an input
    (an (h0, c0) pair, or a state passed by keyword, is not among the arguments that check sees)."""
    if state is None:
        return as_tensor(np.zeros(shape, dtype=dtype))
    state = as_tensor(state)
    if state.shape != shape:
        raise ValueError(f"{layer}: {name} has shape {state.shape}, expected {shape} ({dims})")
    if state.dtype.kind == "f" and state.dtype != dtype:
        raise TypeError(
            f"{layer}: {name} is {state.dtype} (shape {state.shape}) but the layer's parameters are {dtype}; "
            f"cast it (h.astype(np.{dtype})) or make the layer with dtype=np.{state.dtype}"
        )
    return state


class RNNBase(Module):
    """What ``RNN``, ``LSTM`` and ``GRU`` share: the parameters, the checks and the loop over layers."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        dtype: Any = None,
        rng: Any = None,
    ) -> None:
        super().__init__()
        name = {"RNN_TANH": "RNN", "RNN_RELU": "RNN"}.get(mode, mode)
        if proj_size != 0:  # PyTorch's projected LSTM (h of size proj_size): not built, so refused rather than ignored
            if mode != "LSTM":
                raise ValueError(f"{name}: proj_size is only supported for LSTM (as in PyTorch), got {proj_size!r}")
            raise ValueError(f"LSTM: proj_size={proj_size!r} is not supported (only 0, no projection)")
        self.proj_size = 0
        self.mode, self.input_size = mode, _positive(name, "input_size", input_size)
        self.hidden_size, self.num_layers = (
            _positive(name, "hidden_size", hidden_size),
            _positive(name, "num_layers", num_layers),
        )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must be in [0, 1), got {dropout}")
        self.bias, self.batch_first, self.dropout, self.bidirectional = bias, batch_first, dropout, bidirectional
        self.rng, dtype = np.random.default_rng(rng), resolve(dtype)
        gates, directions = GATES[mode] * hidden_size, 2 if bidirectional else 1
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * directions
            for suffix in ("", "_reverse")[:directions]:
                setattr(self, f"weight_ih_l{layer}{suffix}", Parameter(np.empty((gates, width), dtype=dtype)))
                setattr(self, f"weight_hh_l{layer}{suffix}", Parameter(np.empty((gates, hidden_size), dtype=dtype)))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}", Parameter(np.empty(gates, dtype=dtype)))
                    setattr(self, f"bias_hh_l{layer}{suffix}", Parameter(np.empty(gates, dtype=dtype)))
        reset_uniform(self, hidden_size, self.rng)

    @property
    def _name(self) -> str:
        return type(self).__name__

    def _weights(self, layer: int, suffix: str) -> tuple:
        get = functools.partial(getattr, self)
        biases = (get(f"bias_ih_l{layer}{suffix}"), get(f"bias_hh_l{layer}{suffix}")) if self.bias else (None, None)
        return get(f"weight_ih_l{layer}{suffix}"), get(f"weight_hh_l{layer}{suffix}"), *biases

    def _mask(self, lengths: Any, steps: int, batch: int) -> np.ndarray | None:
        """mask[t, b]: whether step t of sequence b is real, from the lengths (None: all are)."""
        if lengths is None:
            return None
        lengths = np.asarray(lengths._data if isinstance(lengths, Tensor) else lengths)
        if lengths.dtype.kind not in "iu" or lengths.shape != (batch,):
            raise ValueError(
                f"{self._name}: lengths must be {batch} integers, one per sequence, got dtype {lengths.dtype} "
                f"and shape {lengths.shape}"
            )
        if lengths.size and (lengths.min() < 1 or lengths.max() > steps):
            bad = lengths[(lengths < 1) | (lengths > steps)][0]
            raise ValueError(f"{self._name}: lengths must lie in [1, {steps}] (the sequence length), got {bad}")
        # a comparison of tensors, which mg.compile's replay computes again from the lengths it is given
        return as_tensor(lengths) > np.arange(steps)[:, None]

    def _run(self, x: Tensor, state: Any, weights: tuple, mask: Any, reverse: bool) -> tuple:
        """One direction of one layer over x (L, N, I): (outputs (L, N, H), last state)."""
        w_ih, w_hh, b_ih, b_hh = weights
        steps, batch = x.shape[0], x.shape[1]
        # every step's input share in one product, on the steps and sequences flattened into rows
        gi = reshape(x, (steps * batch, x.shape[-1])) @ w_ih.T
        if self.mode in ("GRU", "LSTM"):  # one primitive each, whose loop adds b_ih step by step (rnn_scan.py)
            fused = gru_scan if self.mode == "GRU" else lstm_scan
            return fused(reshape(gi, (steps, batch, w_ih.shape[0])), state, w_hh, b_ih, b_hh, mask, reverse)
        gi = reshape(gi if b_ih is None else gi + b_ih, (steps, batch, w_ih.shape[0]))  # (not -1: batch may be 0)
        nonlinearity = "tanh" if self.mode == "RNN_TANH" else "relu"
        step = functools.partial(rnn_step, w_hh=w_hh, b_hh=b_hh, nonlinearity=nonlinearity)
        return scan(step, gi, state, mask, reverse)

    def _initial(self, hx: Any, batch: int, batched: bool, dtype: Any) -> list:
        """The initial states, one per layer and direction: h (N, H), or (h, c) for the LSTM."""
        shape = (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)
        dims = "num_layers * num_directions, batch, hidden_size"
        if not batched:
            shape, dims = (shape[0], shape[2]), "num_layers * num_directions, hidden_size"
        if self.mode == "LSTM":
            if hx is not None and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise TypeError(f"LSTM: hx must be a pair (h0, c0), got {type(hx).__name__}")
            h0, c0 = (None, None) if hx is None else hx
            h0 = check_state(self._name, "h0", h0, shape, dims, dtype)
            c0 = check_state(self._name, "c0", c0, shape, dims, dtype)
            if not batched:
                h0, c0 = h0[:, None], c0[:, None]
            return [(h0[k], c0[k]) for k in range(shape[0])]
        h0 = check_state(self._name, "h0", hx, shape, dims, dtype)
        if not batched:
            h0 = h0[:, None]
        return [h0[k] for k in range(shape[0])]

    def forward(self, input: Any, hx: Any = None, lengths: Any = None) -> tuple:
        """(output, h_n), for the LSTM (output, (h_n, c_n)); output (L, N, D·H), or (N, L, D·H) if batch_first.

        ``input`` is (L, N, I) ((N, L, I) if batch_first) or unbatched (L, I); ``hx`` the initial state
        (num_layers·D, N, H), zeros if None; ``lengths`` the length of each right-padded sequence.
        """
        x = as_tensor(input)
        require_floating(self._name, x, self.weight_ih_l0)
        if x.ndim not in (2, 3) or x.shape[-1] != self.input_size:
            raise ValueError(
                f"{self._name}: input has shape {x.shape}, expected (seq_len, batch, input_size="
                f"{self.input_size}){' with batch first' if self.batch_first else ''} or (seq_len, input_size)"
            )
        batched = x.ndim == 3
        if x.shape[1 if batched and self.batch_first else 0] == 0:
            raise ValueError(f"{self._name}: input of shape {x.shape} has no time steps (PyTorch refuses it too)")
        if not batched:
            x = x[:, None]
            lengths = None if lengths is None else np.reshape(lengths, (1,))
        elif self.batch_first:
            x = swapaxes(x, 0, 1)
        steps, batch = x.shape[0], x.shape[1]
        mask = self._mask(lengths, steps, batch)
        states = self._initial(hx, batch, batched, self.weight_hh_l0.dtype)
        directions = 2 if self.bidirectional else 1
        last = []
        for layer in range(self.num_layers):
            outputs = []
            for d, suffix in enumerate(("", "_reverse")[:directions]):
                weights = self._weights(layer, suffix)
                out, state = self._run(x, states[layer * directions + d], weights, mask, reverse=d == 1)
                outputs.append(out)
                last.append(state)
            x = outputs[0] if directions == 1 else concatenate(outputs, axis=-1)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True, self.rng)
        if self.mode == "LSTM":
            h_n, c_n = stack([s[0] for s in last]), stack([s[1] for s in last])
            h_n, c_n = (h_n, c_n) if batched else (h_n[:, 0], c_n[:, 0])
        else:
            h_n = stack(last) if batched else stack(last)[:, 0]
        if not batched:
            x = x[:, 0]
        elif self.batch_first:
            x = swapaxes(x, 0, 1)
        return (x, (h_n, c_n)) if self.mode == "LSTM" else (x, h_n)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (("bias", True), ("batch_first", False), ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s


class RNN(RNNBase):
    """Elman RNN: hₜ = tanh(xₜ Wᵢₕᵀ + bᵢₕ + hₜ₋₁ Wₕₕᵀ + bₕₕ), or relu with ``nonlinearity='relu'``."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 *args: Any, **kwargs: Any) -> None:  # fmt: skip
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(f"RNN_{nonlinearity.upper()}", input_size, hidden_size, num_layers, *args, **kwargs)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    """Long short-term memory: gates i, f, g, o; cₜ = f·cₜ₋₁ + i·g, hₜ = o·tanh(cₜ). Returns (output, (h_n, c_n))."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *args: Any, **kwargs: Any) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, *args, **kwargs)


class GRU(RNNBase):
    """Gated recurrent unit: gates r, z, n; n = tanh(Wᵢₙx + bᵢₙ + r·(Wₕₙh + bₕₙ)), h′ = (1 − z)·n + z·h."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, *args: Any, **kwargs: Any) -> None:
        super().__init__("GRU", input_size, hidden_size, num_layers, *args, **kwargs)


__all__ = ["GRU", "LSTM", "RNN", "RNNBase", "gru_step", "lstm_step", "rnn_step"]
