"""``Module``: a tree of layers that owns named parameters, and ``Parameter``.

A module registers, under their attribute names, every leaf tensor that requires grad (its parameters),
every sub-module, and the arrays it declares with ``register_buffer`` (state that is saved but not trained).
Modules or parameters in a plain list, tuple or dict would not be registered: such an attribute is refused,
with the fix (``nn.ModuleList``, ``nn.ModuleDict``, ``nn.ParameterList``, ``nn.ParameterDict``).
``state_dict()`` maps dotted names (``hidden.weight``) to arrays; ``mg.save`` writes it as ``.npz``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..guard import InplaceError, saver
from ..tensor import Tensor
from .casting import cast_problem


class Parameter(Tensor):
    """A trainable leaf: a floating-point tensor (a copy of ``data``) with ``requires_grad=True``.

    A module registers every leaf tensor attribute that requires grad as a parameter, so
    ``mg.tensor(x, requires_grad=True)`` serves too; ``Parameter`` says it outright, turns integer data
    into float32, and lets ``isinstance(p, nn.Parameter)`` tell parameters apart, as in PyTorch.
    """

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None, requires_grad: bool = True) -> None:
        array = np.asarray(data._data if isinstance(data, Tensor) else data, dtype=dtype)
        if array.dtype.kind != "f":
            array = array.astype(np.float32)
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: subclasses set attributes in ``__init__`` and write ``forward``.

    >>> import minigrad as mg
    >>> from minigrad import nn
    >>> class Scorer(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = nn.Linear(4, 3)
    ...         self.u = nn.Parameter(np.ones(3))
    ...     def forward(self, x):
    ...         return mg.tanh(self.hidden(x)) @ self.u
    >>> [name for name, _ in Scorer().named_parameters()]
    ['u', 'hidden.weight', 'hidden.bias']
    """

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", {})
        object.__setattr__(self, "_modules", {})
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_plain", {})  # name -> (id, length) of the plain containers set as attributes

    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before setting attributes")
        plain = isinstance(value, _PLAIN)
        if plain:  # refused before anything changes
            _refuse_hidden(self, name, value)
        for table in (self._parameters, self._modules, self._buffers, self._plain):
            table.pop(name, None)
        if isinstance(value, Module):
            self._modules[name] = value
        elif _is_parameter(value):
            self._parameters[name] = value
        elif plain:  # looked at again by named_modules(): layers appended to it later are not registered either
            self._plain[name] = (id(value), len(value))
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for table in (self._parameters, self._modules, self._buffers, self._plain):
            table.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, value: Any) -> None:
        """Keep ``value`` (an array) in the state dict without training it."""
        array = np.asarray(value._data if isinstance(value, Tensor) else value)
        object.__setattr__(self, name, array)
        self._buffers[name] = array

    # -- the call ------------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__}: define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._parameters:
            _check_dtypes(self, args, kwargs)
        return self.forward(*args, **kwargs)

    # -- traversal -----------------------------------------------------------------------------------
    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and all below it, depth first, each once, with dotted names."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            if module._plain:
                _check_plain(module)
            yield name, module
            children = [(f"{name}.{k}" if name else k, m) for k, m in module._modules.items()]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def children(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """(dotted name, parameter) pairs; a parameter shared by two modules is listed once."""
        seen: set[int] = set()
        for name, module in self.named_modules(prefix):
            for key, p in module._parameters.items():
                if id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{name}.{key}" if name else key), p

    def parameters(self) -> Iterator[Tensor]:
        return (p for _, p in self.named_parameters())

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        for name, module in self.named_modules():
            for key, b in module._buffers.items():
                yield (f"{name}.{key}" if name else key), b

    def zero_grad(self) -> None:
        """Drop the gradients of all parameters (``p.grad = None``), and their looked-up rows."""
        from .sparse import clear_rows

        for p in self.parameters():
            p._grad = None
            clear_rows(p)

    def train(self, mode: bool = True) -> Module:
        """Training mode (dropout active) for this module and all below it; ``eval()`` turns it off."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    # -- state ---------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer as arrays, by dotted name."""
        state = {name: p._data.copy() for name, p in self.named_parameters()}
        state.update({name: b.copy() for name, b in self.named_buffers()})
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Copy arrays into the parameters and buffers in place (optimizers keep their references).

        Every entry is checked before anything is written, so a refusal leaves the model exactly as it was:
        with ``strict`` every name must match both ways (``KeyError``); each value must have the shape of its
        target and a dtype that casts to the target's without losing its meaning (a float or integer array into
        a float parameter, in range; never complex, bool, strings or objects into numbers: ``ValueError``); and
        no parameter may be saved by a recorded graph that has not run backward (``InplaceError``, as for any
        write to it). Values are cast to the target's dtype.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict: expected a dict of arrays (a state dict), got {type(state).__name__}")
        own = dict(self.named_parameters())
        own_buffers = dict(self.named_buffers())
        missing = [k for k in list(own) + list(own_buffers) if k not in state]
        unexpected = [k for k in state if k not in own and k not in own_buffers]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        pairs = []  # every entry is checked before anything is written: an error leaves the model as it was
        for name, value in state.items():
            if name in own:
                p = own[name]
                op = saver(p)
                if op is not None:  # the graph's backward would read the new values in place of those it saw
                    raise InplaceError(
                        f"load_state_dict: the parameter '{name}' (shape {p._data.shape}) is saved by '{op}' for a "
                        "backward pass that has not run, and loading new values into it would make that gradient "
                        "silently wrong; call backward() first (or drop the graph), then load"
                    )
                target, what = p._data, "parameter"
            elif name in own_buffers:
                target, what = own_buffers[name], "buffer"
            else:
                continue
            try:
                value = np.asarray(value._data if isinstance(value, Tensor) else value)
            except (TypeError, ValueError) as e:  # a ragged list, say
                raise ValueError(f"load_state_dict: '{name}' is not an array: {e}") from None
            if value.shape != target.shape:
                raise ValueError(
                    f"load_state_dict: '{name}' has shape {value.shape} in the state but {target.shape} in the model"
                )
            if not target.flags.writeable:  # a buffer registered from a broadcast view, say: found now, not midway
                raise ValueError(f"load_state_dict: the {what} '{name}' is a read-only array; it cannot be loaded")
            problem = cast_problem(value, target.dtype)
            if problem:
                raise ValueError(
                    f"load_state_dict: '{name}' has dtype {value.dtype} in the state, which cannot be loaded into "
                    f"the {what}'s dtype {target.dtype}: {problem}"
                )
            pairs.append((target, value))
        for target, value in pairs:
            target[...] = value

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"  ({k}): " + repr(m).replace("\n", "\n  ") for k, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")


_PLAIN = (list, tuple, dict)
_RESCAN_UP_TO = 64  # a plain container this short is looked through at every traversal; a longer one's new entries


def _check_dtypes(module: Module, args: tuple, kwargs: dict) -> None:
    """A floating input of another dtype than the module's own floating parameters is refused, as PyTorch
    refuses it: NumPy would promote the result, and from it the rest of the model, to the wider dtype."""
    own = next((p.dtype for p in module._parameters.values() if p is not None and p.dtype.kind == "f"), None)
    if own is None:
        return
    for where, value in [*enumerate(args), *kwargs.items()]:
        data = value if isinstance(value, Tensor) else np.asarray(value) if isinstance(value, np.ndarray) else None
        if data is not None and data.dtype.kind == "f" and data.dtype != own:
            name = f"input {where}" if isinstance(where, int) else f"argument {where!r}"
            raise TypeError(
                f"{type(module).__name__}: {name} is {data.dtype} (shape {tuple(data.shape)}) but the layer's "
                f"parameters are {own}; cast the input (x.astype(np.{own})) or make the layer with "
                f"dtype=np.{data.dtype}"
            )


def _is_parameter(value: Any) -> bool:
    return isinstance(value, Tensor) and value.requires_grad and value.is_leaf


def _hidden(value: Any, depth: int = 0, start: int = 0) -> tuple[str, Any] | None:
    """The place (``[1]``, ``['enc'][0]``) and value of the first module or parameter in a plain list, tuple or
    dict, from its entry ``start`` on, looking three levels deep, or None."""
    if isinstance(value, dict):
        entries = itertools.islice(value.items(), start, None)
    else:
        entries = enumerate(value[start:] if start else value, start)
    for key, item in entries:
        if isinstance(item, Module) or _is_parameter(item):
            return f"[{key!r}]", item
        if depth < 2 and isinstance(item, _PLAIN):
            found = _hidden(item, depth + 1)
            if found is not None:
                return f"[{key!r}]{found[0]}", found[1]
    return None


def _refuse_hidden(module: Module, name: str, value: Any, start: int = 0) -> None:
    found = _hidden(value, 0, start)
    if found is None:
        return
    where, item = found
    kind = "dict" if isinstance(value, dict) else "list"
    if isinstance(item, Module):
        what, fix = f"a {type(item).__name__} module", f"nn.Module{kind.capitalize()}"
    else:
        what, fix = f"a parameter of shape {item.shape}", f"nn.Parameter{kind.capitalize()}"
    raise TypeError(
        f"{type(module).__name__}: the attribute '{name}' is a plain {type(value).__name__} holding {what} at "
        f"{name}{where}, and a module does not register what a plain {type(value).__name__} holds: it would not be "
        f"trained, saved by state_dict() or switched by eval(). Use self.{name} = {fix}(...) instead (or, to keep "
        f"it unregistered on purpose, object.__setattr__(self, '{name}', value))"
    )


def _check_plain(module: Module) -> None:
    """Refuse a plain container attribute that came to hold a module or parameter after it was set
    (``self.layers = []`` then ``self.layers.append(nn.Linear(...))``)."""
    for name, (key, length) in list(module._plain.items()):
        value = module.__dict__.get(name)
        if not isinstance(value, _PLAIN) or id(value) != key:  # replaced behind __setattr__'s back
            del module._plain[name]
        elif len(value) <= _RESCAN_UP_TO or len(value) != length:
            # a long one grown by appending: only the new entries (a loss history kept this way stays cheap)
            start = length if _RESCAN_UP_TO < length < len(value) else 0
            _refuse_hidden(module, name, value, start)
            module._plain[name] = (key, len(value))
