"""``functional_call``: a module run with some of its parameters replaced, which makes it a function of them."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..tensor import Tensor
from .module import Module


@contextlib.contextmanager
def _swapped(module: Module, params: dict[str, Tensor]) -> Iterator[None]:
    owners = {}
    for name in params:
        path, _, key = name.rpartition(".")
        owner = module
        for part in path.split(".") if path else ():
            owner = owner._modules[part]
        if key not in owner._parameters:
            raise KeyError(f"functional_call: {type(module).__name__} has no parameter '{name}'")
        owners[name] = (owner, key, owner._parameters[key])
    try:
        for name, (owner, key, _) in owners.items():
            object.__setattr__(owner, key, params[name])
        yield
    finally:
        for owner, key, old in owners.values():
            object.__setattr__(owner, key, old)


def functional_call(module: Module, params: dict[str, Tensor], *args: Any, **kwargs: Any) -> Any:
    """Call ``module(*args, **kwargs)`` with some parameters replaced by the given tensors.

    Makes a model a function of its parameters, e.g. for ``gradcheck`` or ``mg.grad``.
    """
    with _swapped(module, params):
        return module(*args, **kwargs)
