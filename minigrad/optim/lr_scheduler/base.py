"""The closed-form schedulers, as ``torch.optim.lr_scheduler``'s: ``LambdaLR``, ``StepLR``, ``MultiStepLR``,
``ExponentialLR``, ``LinearLR`` and ``CosineAnnealingLR``.

Each sets ``group["lr"]`` of every param group from the group's ``initial_lr`` (its lr when the scheduler was
made) at construction (epoch 0) and at every ``step()``, by PyTorch's closed forms. The group checks what is
written, as any write: a schedule that reaches a negative or nan rate is refused at that step, naming the
scheduler and the epoch; 0 is allowed (a warm-up from 0, a decay to 0). A rate written by someone else
(a second scheduler on the optimizer, ``ReduceLROnPlateau``) is scaled by each step instead, as PyTorch's
chainable schedulers do (all but ``LambdaLR`` and ``OneCycleLR``).

>>> import minigrad as mg
>>> p = mg.tensor([1.0], requires_grad=True)
>>> opt = mg.optim.SGD([p], lr=0.1)
>>> warm_up = LambdaLR(opt, lambda epoch: min(1.0, epoch / 3))
>>> [round(g["lr"], 4) for g in opt.param_groups], warm_up.get_last_lr()
([0.0], [0.0])
"""

from __future__ import annotations

import bisect
import copy
import math
import numbers
from collections.abc import Callable
from typing import Any

from ..optimizer import Optimizer, nonnegative


class LRScheduler:
    """Base class: ``factor(base_lr, epoch)`` gives a group's rate at ``epoch``; ``step()`` moves to the next."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{name}: expected a minigrad optimizer, got {type(optimizer).__name__}")
        if not isinstance(last_epoch, numbers.Integral) or last_epoch < -1:
            raise ValueError(f"{name}: last_epoch must be an integer ≥ -1 (-1: a new schedule), got {last_epoch!r}")
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(f"{name}: resuming at epoch {last_epoch} needs param_groups[{i}]['initial_lr']")
        self.optimizer = optimizer
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = int(last_epoch)
        # the rates this scheduler wrote last (before its first step: those its closed form starts from)
        self._last_lr = self.base_lrs if last_epoch == -1 else [group["lr"] for group in optimizer.param_groups]
        self._chained = False
        self.step()

    # whether a rate written by someone else since this scheduler's last step is kept and scaled, as PyTorch's
    # chainable schedulers do (False: the closed form overwrites it, as PyTorch's LambdaLR and OneCycleLR)
    chainable = True

    def rate(self, i: int, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def chained(self, i: int, lr: float, base_lr: float, epoch: int) -> float:
        """The rate at ``epoch`` when the group's rate is ``lr``, not this scheduler's previous write: another
        scheduler on the optimizer (or ReduceLROnPlateau, or the user) changed it. As PyTorch's chainable
        schedulers, this one's own step, the ratio of its closed form's values at ``epoch`` and before, scales
        ``lr``."""
        now = self.rate(i, base_lr, epoch)
        before = base_lr if epoch == 0 else self.rate(i, base_lr, epoch - 1)
        return lr * (now / before) if before else now

    def _next_rate(self, i: int, base_lr: float, epoch: int) -> float:
        lr = self.optimizer.param_groups[i]["lr"]
        if self.chainable and lr != self._last_lr[i]:
            self._chained = True  # (for good: a step of the other scheduler may leave the rate as this one left it)
        if not self._chained:
            return self.rate(i, base_lr, epoch)
        return self.chained(i, lr, base_lr, epoch)

    def step(self) -> None:
        """Move to the next epoch and write each group's rate; nothing is written unless every rate is valid.

        Two schedulers on one optimizer (each stepped every epoch) compose as in PyTorch: each scales the rate
        the other wrote by its own step (see ``chained``)."""
        epoch = self.last_epoch + 1
        groups = self.optimizer.param_groups
        check_groups(type(self).__name__, len(self.base_lrs), groups)
        rates = [self._next_rate(i, base, epoch) for i, base in enumerate(self.base_lrs)]
        for group, lr in zip(groups, rates):
            try:
                group.checked("lr", lr)
            except ValueError as e:
                raise ValueError(f"{type(self).__name__}.step (epoch {epoch}): {e}") from None
        for group, lr in zip(groups, rates):
            group["lr"] = lr
        self.last_epoch = epoch
        self._last_lr = rates

    def get_last_lr(self) -> list[float]:
        """The rates the last ``step()`` (or the constructor) wrote, one per param group."""
        return list(self._last_lr)

    _not_saved = ("optimizer",)

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's attributes but its optimizer (and functions: LambdaLR's lambdas), copied, as PyTorch."""
        return {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k not in self._not_saved}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Resume the schedule saved by ``state_dict`` (the optimizer's rates come with its own state_dict)."""
        self.__dict__.update(copy.deepcopy(state_dict))


def check_groups(name: str, known: int, groups: list) -> None:
    """Refuse a step once param groups were added after the scheduler was made: it would leave them unscheduled."""
    if len(groups) != known:
        raise ValueError(
            f"{name}.step: the optimizer has {len(groups)} param groups, but the scheduler was made with {known} "
            "(add_param_group after it); make the scheduler once every group is added"
        )


def _positive_int(where: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive integer, got {value!r}")
    return int(value)


class LambdaLR(LRScheduler):
    """lr = initial_lr · lr_lambda(epoch): one function, or a list of one per param group."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable | list[Callable], last_epoch: int = -1) -> None:
        n = len(getattr(optimizer, "param_groups", ()))
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(lambdas) != n or not all(callable(f) for f in lambdas):
            raise TypeError(f"LambdaLR: lr_lambda must be a function or a list of {n} (one per param group)")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    _not_saved = ("optimizer", "lr_lambdas")
    chainable = False  # (as PyTorch's: lr = initial_lr · lr_lambda(epoch), whatever else wrote the rate)

    def rate(self, i: int, base_lr: float, epoch: int) -> float:
        return base_lr * self.lr_lambdas[i](epoch)


class StepLR(LRScheduler):
    """lr = initial_lr · gamma^⌊epoch / step_size⌋."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> None:
        self.step_size = _positive_int("StepLR", "step_size", step_size)
        self.gamma = nonnegative("StepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def rate(self, i: int, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)


class MultiStepLR(LRScheduler):
    """lr = initial_lr · gamma^(number of milestones ≤ epoch); a milestone listed twice counts twice."""

    def __init__(self, optimizer: Optimizer, milestones: list[int], gamma: float = 0.1, last_epoch: int = -1) -> None:
        marks = list(milestones)
        for m in marks:
            _positive_int("MultiStepLR", "each milestone", m)
        self.milestones = sorted(int(m) for m in marks)
        self.gamma = nonnegative("MultiStepLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def rate(self, i: int, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, epoch)


class ExponentialLR(LRScheduler):
    """lr = initial_lr · gamma^epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1) -> None:
        self.gamma = nonnegative("ExponentialLR", "gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def rate(self, i: int, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma**epoch


class LinearLR(LRScheduler):
    """lr = initial_lr · (start_factor + (end_factor − start_factor) · min(epoch, total_iters) / total_iters)."""

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1.0 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ) -> None:
        if not (isinstance(start_factor, numbers.Real) and 0 < start_factor <= 1):
            raise ValueError(f"LinearLR: start_factor must be in (0, 1], as in PyTorch, got {start_factor!r}")
        if not (isinstance(end_factor, numbers.Real) and 0 <= end_factor <= 1):
            raise ValueError(f"LinearLR: end_factor must be in [0, 1], got {end_factor!r}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = _positive_int("LinearLR", "total_iters", total_iters)
        super().__init__(optimizer, last_epoch)

    def rate(self, i: int, base_lr: float, epoch: int) -> float:
        done = min(epoch, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * done)


class CosineAnnealingLR(LRScheduler):
    """lr = eta_min + (initial_lr − eta_min) · (1 + cos(π · epoch / T_max)) / 2."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1) -> None:
        self.T_max = _positive_int("CosineAnnealingLR", "T_max", T_max)
        self.eta_min = nonnegative("CosineAnnealingLR", "eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def rate(self, i: int, base_lr: float, epoch: int) -> float:
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * epoch / self.T_max)) / 2

    def chained(self, i: int, lr: float, base_lr: float, epoch: int) -> float:
        """PyTorch's recursive form: the distance of ``lr`` to eta_min scaled as the cosine's."""
        if epoch == 0:
            return lr
        now, before = (1 + math.cos(math.pi * e / self.T_max) for e in (epoch, epoch - 1))
        if (epoch - 1 - self.T_max) % (2 * self.T_max) == 0:  # from the bottom of the cosine (before = 0)
            return lr + (base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
        return self.eta_min + (lr - self.eta_min) * now / before
