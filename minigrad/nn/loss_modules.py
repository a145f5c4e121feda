"""The losses as modules, as ``torch.nn``'s: ``MSELoss()(input, target)`` is ``F.mse_loss(input, target)``.

Each keeps its constructor's arguments (``reduction`` and the loss's own, checked when made) and has no parameters;
``weight`` and ``pos_weight``, when given, are buffers (in the ``state_dict`` under those names, as PyTorch's).
"""

from __future__ import annotations

from typing import Any

from ..shape_ops import transpose
from ..tensor import Tensor, as_tensor
from . import functional as F
from . import losses
from .fused import REDUCTIONS
from .module import Module


class _Loss(Module):
    def __init__(self, reduction: str = "mean", allowed: tuple = REDUCTIONS) -> None:
        super().__init__()
        self.reduction = losses._reduction(type(self).__name__, reduction, allowed)

    def _keep(self, name: str, value: Any) -> None:
        """A weight as a buffer (in the state_dict, as PyTorch registers it), or None."""
        if value is None:
            object.__setattr__(self, name, None)
        else:
            self.register_buffer(name, value)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """(x − y)² per element: ``F.mse_loss``."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return losses.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    """|x − y| per element: ``F.l1_loss``."""

    def forward(self, input: Any, target: Any) -> Tensor:
        return losses.l1_loss(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    """½(x − y)²/β inside |x − y| < β, else |x − y| − ½β: ``F.smooth_l1_loss``."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(reduction)
        losses.smooth_l1_loss(0.0, 0.0, beta=beta)  # checks beta now, not at the first call
        self.beta = beta

    def forward(self, input: Any, target: Any) -> Tensor:
        return losses.smooth_l1_loss(input, target, self.reduction, self.beta)


class HuberLoss(_Loss):
    """½(x − y)² inside |x − y| < δ, else δ(|x − y| − ½δ): ``F.huber_loss``."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        losses.huber_loss(0.0, 0.0, delta=delta)
        self.delta = delta

    def forward(self, input: Any, target: Any) -> Tensor:
        return losses.huber_loss(input, target, self.reduction, self.delta)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities, logs clamped at −100: ``F.binary_cross_entropy``."""

    def __init__(self, weight: Any = None, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._keep("weight", weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return losses.binary_cross_entropy(input, target, self.weight, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, exact for any logit: ``F.binary_cross_entropy_with_logits``."""

    def __init__(self, weight: Any = None, reduction: str = "mean", pos_weight: Any = None) -> None:
        super().__init__(reduction)
        self._keep("weight", weight)
        self._keep("pos_weight", pos_weight)

    def forward(self, input: Any, target: Any) -> Tensor:
        return losses.binary_cross_entropy_with_logits(input, target, self.weight, self.reduction, self.pos_weight)


class NLLLoss(_Loss):
    """−w_y · x_y for log-probabilities with the classes on axis 1: ``F.nll_loss``."""

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._keep("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Tensor:
        return losses.nll_loss(input, target, self.weight, self.ignore_index, self.reduction)


class KLDivLoss(_Loss):
    """y (log y − x) for log-probabilities x: ``F.kl_div``; use ``reduction="batchmean"`` for the divergence."""

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(reduction, (*REDUCTIONS, "batchmean"))
        self.log_target = log_target

    def forward(self, input: Any, target: Any) -> Tensor:
        return losses.kl_div(input, target, self.reduction, self.log_target)


class CrossEntropyLoss(_Loss):
    """Cross-entropy of logits and integer targets, with the classes on axis 1 as in PyTorch.

    Logits (N, C) or (C,) go to ``F.cross_entropy`` as they are; (N, C, d₁, ...) are moved to (N, d₁, ..., C)
    first, since ``F.cross_entropy`` takes the classes on the last axis (minigrad's convention for its
    functional form). Targets are class indices (N, d₁, ...); no label smoothing, no probability targets.
    """

    def __init__(self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self._keep("weight", weight)
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Tensor:
        x = as_tensor(input)
        ndim = x.ndim
        if ndim > 2:
            x = transpose(x, (0, *range(2, ndim), 1))
        return F.cross_entropy(x, target, self.weight, self.ignore_index, self.reduction)


class MarginRankingLoss(_Loss):
    """max(0, −y·(x₁ − x₂) + margin): ``F.margin_ranking_loss``."""

    def __init__(self, margin: float = 0.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.margin = margin

    def forward(self, input1: Any, input2: Any, target: Any) -> Tensor:
        return F.margin_ranking_loss(input1, input2, target, self.margin, self.reduction)
