"""An optimizer's ``state_dict`` and ``load_state_dict``, in ``torch.optim``'s layout.

``{"state": {index: {"step": t, name: array, ...}}, "param_groups": [{hyperparameter: value, ...,
"params": [index, ...]}]}``: each parameter is named by its position in ``optimizer.params`` (group after
group), so a state_dict fits any optimizer of the same class built on parameters of the same shapes, in the same
order. Arrays are copied both ways: saving and loading never share memory with the running optimizer, and
training that continues after a load follows the same trajectory as the one that was saved. The names of the
state entries are minigrad's (Adam's ``m`` and ``v``, not PyTorch's ``exp_avg`` and ``exp_avg_sq``).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np


def _copied(value: Any) -> Any:
    return value.copy() if isinstance(value, np.ndarray) else copy.deepcopy(value)


def state_dict(opt: Any) -> dict[str, Any]:
    index = {id(p): i for i, p in enumerate(opt.params)}
    state = {index[id(p)]: {k: _copied(v) for k, v in s.items()} for p, s in opt.state.items() if id(p) in index}
    groups, start = [], 0
    for group in opt.param_groups:
        n = len(group["params"])
        values = {k: _copied(v) for k, v in group.items() if k != "params"}
        groups.append({**values, "params": list(range(start, start + n))})
        start += n
    return {"state": dict(sorted(state.items())), "param_groups": groups}


def load_state_dict(opt: Any, saved: Any, group_class: Any) -> None:
    """Check everything in ``saved`` against ``opt``, then replace its groups' hyperparameters and its state."""
    name = f"{type(opt).__name__}.load_state_dict"
    if not isinstance(saved, dict) or set(saved) != {"state", "param_groups"}:
        raise ValueError(f"{name}: expected a dict with the keys 'state' and 'param_groups'")
    groups = saved["param_groups"]
    if len(groups) != len(opt.param_groups):
        raise ValueError(
            f"{name}: the state_dict has {len(groups)} param groups, this optimizer {len(opt.param_groups)}"
        )
    for i, (mine, theirs) in enumerate(zip(opt.param_groups, groups)):
        if len(theirs.get("params", ())) != len(mine["params"]):
            raise ValueError(
                f"{name}: param group {i} has {len(theirs.get('params', ()))} parameters in the state_dict, "
                f"{len(mine['params'])} in this optimizer"
            )
    params = opt.params
    saved_order = [k for group in groups for k in group["params"]]  # the saved indices, in this optimizer's order
    where = dict(zip(saved_order, params))
    new_groups = [  # the saved values over this group's (a value the state_dict lacks stays as it is)
        group_class(type(opt), i, {**mine, **{k: _copied(v) for k, v in theirs.items()}, "params": mine["params"]})
        for i, (mine, theirs) in enumerate(zip(opt.param_groups, groups))
    ]  # (each checked as the constructor checks, before anything is replaced)
    state = {}
    for k, entries in saved["state"].items():
        if k not in where:
            raise ValueError(f"{name}: the state_dict has state for parameter {k!r}, which none of its groups lists")
        p = where[k]
        values = {}
        for key, value in entries.items():
            if isinstance(value, np.ndarray):
                if value.shape != p.data.shape:
                    raise ValueError(
                        f"{name}: state {key!r} of parameter {k} has shape {value.shape}, the parameter {p.data.shape}"
                    )
                value = value.astype(p.data.dtype) if value.dtype.kind == "f" else value.copy()
            else:
                value = copy.deepcopy(value)
            values[key] = value
        state[p] = values
    opt.param_groups[:] = new_groups
    opt.state.clear()
    opt.state.update(state)
