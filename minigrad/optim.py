"""Optimizers: ``SGD`` (momentum, weight decay), ``Adagrad`` and ``Adam``.

Each holds a list of parameters and updates ``p.data`` in place from ``p.grad`` on ``step()``.
For a row-sparse parameter (an ``nn.Embedding`` table) used only through lookups, only the rows looked up
since the last ``zero_grad`` are updated, together with their rows of the optimizer state; every other row
and its state stay exactly as they were (the "lazy" sparse update). Everything else, a table whose gradient
also reached other rows (tied weights) included, gets the dense update.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from .guard import inplace_error, saver
from .nn import sparse
from .tensor import Tensor


class Optimizer:
    """Base class: ``step()`` applies ``_update`` to every parameter that has a gradient."""

    def __init__(self, params: Iterable[Tensor], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty list of parameters")
        for i, p in enumerate(self.params):
            if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
                raise TypeError(f"{type(self).__name__}: parameter {i} is not a leaf tensor that requires grad")
        if len({id(p) for p in self.params}) != len(self.params):
            raise ValueError(f"{type(self).__name__}: a parameter appears more than once in the list")
        if not (lr > 0 and math.isfinite(lr)):  # also refuses nan
            raise ValueError(f"{type(self).__name__}: the learning rate must be positive and finite, got {lr}")
        self.lr = lr
        self.state: dict[Tensor, dict[str, Any]] = {}

    def _nonnegative(self, name: str, value: float) -> float:
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"{type(self).__name__}: {name} must be non-negative and finite, got {value}")
        return value

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (``p.grad = None``) and its looked-up rows."""
        for p in self.params:
            p._grad = None
            sparse.clear_rows(p)

    def _new_state(self, p: Tensor) -> dict[str, Any]:
        return {}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], step: int) -> None:
        """Update ``p`` and the arrays of ``state`` in place, from gradient ``g``."""
        raise NotImplementedError

    def step(self) -> None:
        for k, p in enumerate(self.params):  # all or nothing: check every parameter before moving any
            held_by = saver(p) if isinstance(p.grad, np.ndarray) else None  # (a Tensor grad: TypeError below)
            if held_by is not None:
                raise inplace_error(f"{type(self).__name__}.step (parameter {k})", p, held_by)
        for p in self.params:
            if p.grad is None:
                continue
            if isinstance(p.grad, Tensor):
                raise TypeError(
                    f"{type(self).__name__}: a parameter's grad is a Tensor (left by backward(create_graph=True)); "
                    "clear it (p.grad = None) or step on p.grad.data"
                )
            if p.grad.shape != p._data.shape:
                raise ValueError(
                    f"{type(self).__name__}: gradient of shape {p.grad.shape} for a {p.data.shape} parameter"
                )
            data = p._data
            state = self.state.get(p)
            if state is None:
                state = self.state[p] = self._new_state(p)
                state["step"] = 0
            state["step"] += 1
            picked = sparse.rows_to_update(p, p.grad)  # None: the dense update (see minigrad.nn.sparse)
            if picked is None:
                self._update(data, p.grad, state, state["step"])
                continue
            rows, grad = picked
            arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
            sub = {k: v[rows] for k, v in arrays.items()}
            values = data[rows]
            self._update(values, grad, sub, state["step"])
            data[rows] = values
            for k, v in sub.items():
                arrays[k][rows] = v


class SGD(Optimizer):
    """v ← μ v + (g + λ p);  p ← p − η v  (plain SGD when μ = 0; ``nesterov``: p ← p − η (g + μ v))."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 0.01,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0:
            raise ValueError("SGD: nesterov needs a momentum")
        self.momentum, self.nesterov = momentum, nesterov
        self.weight_decay = self._nonnegative("weight_decay", weight_decay)

    def _new_state(self, p: Tensor) -> dict[str, Any]:
        return {"velocity": np.zeros_like(p.data)} if self.momentum else {}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], step: int) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        if self.momentum:
            v = state["velocity"]
            v *= self.momentum
            v += g
            g = g + self.momentum * v if self.nesterov else v
        p -= self.lr * g


class Adagrad(Optimizer):
    """G ← G + g²;  p ← p − η g / (√G + ε): each coordinate's step shrinks with its gradient history."""

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 0.01,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.eps, self.initial = eps, initial_accumulator_value
        self.weight_decay = self._nonnegative("weight_decay", weight_decay)

    def _new_state(self, p: Tensor) -> dict[str, Any]:
        return {"sum": np.full_like(p.data, self.initial)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], step: int) -> None:
        if self.weight_decay:
            g = g + self.weight_decay * p
        total = state["sum"]
        total += g * g
        scratch = np.sqrt(total)
        scratch += self.eps
        np.divide(g, scratch, out=scratch)
        scratch *= self.lr
        p -= scratch


class Adam(Optimizer):
    """m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  p ← p − η m̂ / (√v̂ + ε), m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).

    ``weight_decay`` adds λp to the gradient (L2, as ``torch.optim.Adam``). The step count t is per
    parameter, so a sparse row's bias correction uses the table's step count.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        self.betas, self.eps = betas, eps
        self.weight_decay = self._nonnegative("weight_decay", weight_decay)

    def _new_state(self, p: Tensor) -> dict[str, Any]:
        return {"m": np.zeros_like(p.data), "v": np.zeros_like(p.data)}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], step: int) -> None:
        b1, b2 = self.betas
        if self.weight_decay:
            g = g + self.weight_decay * p
        m, v = state["m"], state["v"]
        # in place, through one scratch array: this loop runs over every weight at every step
        scratch = np.multiply(g, 1 - b1)
        m *= b1
        m += scratch
        np.multiply(g, g, out=scratch)
        scratch *= 1 - b2
        v *= b2
        v += scratch
        correction = np.sqrt(1 - b2**step)
        np.sqrt(v, out=scratch)
        scratch += self.eps * correction
        np.divide(m, scratch, out=scratch)
        scratch *= self.lr * correction / (1 - b1**step)
        p -= scratch
