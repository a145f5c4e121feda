"""``Optimizer``: parameters in param groups whose hyperparameters are checked however they are set.

As in PyTorch, ``optimizer.param_groups`` is a list of groups, each holding its ``"params"`` and its own values
of the hyperparameters (``lr``, ...), and a scheduler moves the learning rate by writing ``group["lr"]``.
Unlike PyTorch, every write is checked as the constructor checks: at construction, by ``add_param_group``,
by ``opt.lr = x`` (which sets every group's) and by ``group["lr"] = x``, so a negative or nan learning rate
is refused wherever it comes from, and 0 is allowed everywhere (warm-up starts there, as in PyTorch).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Any

import numpy as np

from ..guard import inplace_error, saver
from ..nn import sparse
from ..tensor import Tensor
from . import state as saving

# hyperparameters of torch.optim's SGD, Adam and Adagrad: a name of another optimizer or one minigrad lacks
# is refused rather than stored unread (``adam.momentum = 0.9`` would change nothing)
TORCH_NAMES = {"lr", "momentum", "dampening", "weight_decay", "nesterov", "betas", "eps", "amsgrad", "lr_decay",
               "initial_accumulator_value", "maximize", "alpha", "centered"}  # fmt: skip


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def nonnegative(where: str, name: str, value: Any) -> Any:
    """A number ≥ 0 and finite (nan refused): lr, weight_decay, eps... 0 included, as PyTorch allows."""
    if not (_real(value) and value >= 0 and math.isfinite(value)):
        what = "the learning rate lr" if name == "lr" else name
        raise ValueError(f"{where}: {what} must be non-negative and finite, got {value!r}")
    return value


def fraction(where: str, name: str, value: Any) -> Any:
    """A number in [0, 1): momentum, each of Adam's betas (1 would never forget, and diverge)."""
    if not (_real(value) and 0 <= value < 1):
        raise ValueError(f"{where}: {name} must be in [0, 1), got {value!r}")
    return value


def betas(where: str, name: str, value: Any) -> tuple:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{where}: betas must be a pair (beta1, beta2), each in [0, 1), got {value!r}")
    return tuple(fraction(where, f"betas[{i}]", b) for i, b in enumerate(value))


def flag(where: str, name: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{where}: {name} must be True or False, got {value!r}")
    return bool(value)


Check = Callable[[str, str, Any], Any]


class ParamGroup(MutableMapping):
    """One entry of ``param_groups``: ``"params"`` and the hyperparameters, each checked when set."""

    def __init__(self, owner: type[Optimizer], index: int | None, values: dict[str, Any]) -> None:
        self._owner, self._values = owner, {}  # the class, not the optimizer: no reference cycle
        # (index None: the defaults, given to the constructor)
        self._where = owner.__name__ if index is None else f"{owner.__name__} (param group {index})"
        for key, value in values.items():
            self._values[key] = self.checked(key, value)
        owner.check_together(self._where, self._values)

    def checked(self, key: str, value: Any) -> Any:
        """``value`` as the group would store it under ``key``, or the error that says why it cannot."""
        where, checks = self._where, self._owner.checks
        if key in checks:
            return checks[key](where, key, value)
        if key in TORCH_NAMES:
            owner = self._owner.__name__
            raise ValueError(f"{where}: {owner} has no hyperparameter {key!r}; its own are {list(checks)}")
        return value  # any other key is the user's (or a scheduler's "initial_lr"), as in PyTorch

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "params":
            raise ValueError(f"{self._where}: a group's params cannot be replaced; use add_param_group for others")
        value = self.checked(key, value)
        self._owner.check_together(self._where, {**self._values, key: value})
        self._values[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __delitem__(self, key: str) -> None:
        if key == "params" or key in self._owner.checks:
            raise ValueError(f"{self._where}: {key!r} cannot be removed from a param group")
        del self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        shown = {k: (f"[{len(v)} tensors]" if k == "params" else v) for k, v in self._values.items()}
        return f"ParamGroup({shown})"


class Optimizer:
    """Base class: ``step()`` applies ``_update`` to every parameter that has a gradient, group by group.

    ``params`` is an iterable of tensors, or of dicts ``{"params": [...], "lr": ...}`` (param groups, each
    with its own hyperparameters; the keyword arguments are the defaults of those it leaves out).
    """

    checks: dict[str, Check] = {"lr": nonnegative}  # each optimizer's hyperparameters and how each is checked

    @classmethod
    def check_together(cls, where: str, values: dict[str, Any]) -> None:
        """Refuse hyperparameter values that are fine alone but not together (SGD: nesterov without momentum)."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        object.__setattr__(self, "defaults", dict(ParamGroup(type(self), None, defaults)))
        self.param_groups: list[ParamGroup] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        if isinstance(params, Tensor):
            raise TypeError(f"{name}: params must be an iterable of tensors (or of dicts), got one tensor; use [p]")
        groups = list(params)
        if not groups:
            raise ValueError(f"{name}: got an empty list of parameters")
        if not all(isinstance(g, dict) for g in groups):
            if any(isinstance(g, dict) for g in groups):
                raise TypeError(f"{name}: params mixes tensors and dicts (param groups); give one kind")
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group ``{"params": [...], hyperparameter: value...}``; what it leaves out comes from ``defaults``."""
        name, index = type(self).__name__, len(self.param_groups)
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: a param group is a dict with a 'params' entry, got {group!r:.80}")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        if not params:
            raise ValueError(f"{name}: param group {index} has an empty list of parameters")
        taken = {id(p) for p in self.params}
        for i, p in enumerate(params):
            if not isinstance(p, Tensor) or not p.requires_grad or not p.is_leaf:
                where = f"parameter {i}" if index == 0 else f"parameter {i} of param group {index}"
                raise TypeError(f"{name}: {where} is not a leaf tensor that requires grad")
            if id(p) in taken:
                raise ValueError(f"{name}: a parameter appears more than once in the list (or in two param groups)")
            taken.add(id(p))
        values = {**self.defaults, **group, "params": params}
        self.param_groups.append(ParamGroup(type(self), index, values))

    @property
    def params(self) -> list[Tensor]:
        """Every parameter, group after group."""
        return [p for group in self.param_groups for p in group["params"]]

    def __setattr__(self, name: str, value: Any) -> None:
        """``opt.lr = x`` sets every group's lr (and the default of groups added later), checked first."""
        if name in type(self).checks:
            for group in self.param_groups:  # all checked before any is set
                group.checked(name, value)
                type(self).check_together(group._where, {**group, name: value})
            for group in self.param_groups:
                group[name] = value
            self.defaults[name] = value
        elif name in TORCH_NAMES:
            own = list(type(self).checks)
            raise AttributeError(f"{type(self).__name__} has no hyperparameter {name!r}; its own are {own}")
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str) -> Any:  # (only for names not found otherwise: the hyperparameters)
        groups = self.__dict__.get("param_groups")
        if groups and name in type(self).checks:
            values = [group[name] for group in groups]
            if any(v != values[0] for v in values):
                raise AttributeError(
                    f"{type(self).__name__}: the param groups have different values of {name} ({values}); "
                    f"read opt.param_groups[i][{name!r}]"
                )
            return values[0]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``, copied: see ``state``."""
        return saving.state_dict(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take hyperparameters and state from ``state_dict`` (checked first, then copied in)."""
        saving.load_state_dict(self, state_dict, ParamGroup)

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (``p.grad = None``) and its looked-up rows."""
        for p in self.params:
            p._grad = None
            sparse.clear_rows(p)

    def _new_state(self, p: Tensor, hp: dict[str, Any]) -> dict[str, Any]:
        return {}

    def _grow_state(self, p: Tensor, state: dict[str, Any], hp: dict[str, Any]) -> None:
        """Add to ``state`` what a hyperparameter set since it was made needs (SGD: a velocity for a momentum)."""

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, Any], step: int, hp: dict[str, Any]) -> None:
        """Update ``p`` and the arrays of ``state`` in place, from gradient ``g`` and hyperparameters ``hp``."""
        raise NotImplementedError

    def step(self) -> None:
        for k, p in enumerate(self.params):  # all or nothing: check every parameter before moving any
            self._check_grad(k, p)
        for group in self.param_groups:
            hp = group._values
            for p in hp["params"]:
                if p.grad is not None:
                    self._step_one(p, hp)

    def _check_grad(self, k: int, p: Tensor) -> None:
        name, grad = type(self).__name__, p.grad
        if isinstance(grad, Tensor):
            raise TypeError(
                f"{name}: a parameter's grad is a Tensor (left by backward(create_graph=True)); "
                "clear it (p.grad = None) or step on p.grad.data"
            )
        if grad is None:
            return
        if grad.shape != p._data.shape:
            raise ValueError(f"{name}: gradient of shape {grad.shape} for a {p.data.shape} parameter")
        held_by = saver(p)
        if held_by is not None:
            raise inplace_error(f"{name}.step (parameter {k})", p, held_by)

    def _step_one(self, p: Tensor, hp: dict[str, Any]) -> None:
        data = p._data
        state = self.state.get(p)
        if state is None:
            state = self.state[p] = self._new_state(p, hp)
            state["step"] = 0
        state["step"] += 1
        self._grow_state(p, state, hp)
        picked = sparse.rows_to_update(p, p.grad)  # None: the dense update (see minigrad.nn.sparse)
        if picked is None:
            self._update(data, p.grad, state, state["step"], hp)
            return
        rows, grad = picked
        arrays = {k: v for k, v in state.items() if isinstance(v, np.ndarray)}
        sub = {k: v[rows] for k, v in arrays.items()}
        values = data[rows]
        self._update(values, grad, sub, state["step"], hp)
        data[rows] = values
        for k, v in sub.items():
            arrays[k][rows] = v
