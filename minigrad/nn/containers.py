"""Containers that register what they hold, as PyTorch's: ``Sequential``, ``ModuleList``, ``ModuleDict``,
``ParameterList`` and ``ParameterDict``.

A plain list or dict of layers is not registered (and ``Module`` refuses one as an attribute); these are. They
name their entries by position or key, so a ``ModuleList`` kept as ``layers`` gives ``layers.0.weight`` in
``named_parameters()`` and ``state_dict()``, as ``torch.nn`` does.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..tensor import Tensor
from .module import Module, Parameter, _is_parameter


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(Linear(4, 8), Tanh(), Linear(8, 2))``."""

    def __init__(self, *layers: Module) -> None:
        super().__init__()
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} is a {type(layer).__name__}, not a Module")
            setattr(self, str(i), layer)

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return list(self._modules.values())[i]

    def forward(self, x: Any) -> Any:
        for layer in self._modules.values():
            x = layer(x)
        return x


class _Listed(Module):
    """Entries registered under their positions "0", "1"...; subclasses say what an entry is (``_entry``)."""

    _table = "_modules"

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.extend(values)

    def _entry(self, value: Any, where: str) -> Any:
        raise NotImplementedError

    def _items(self) -> list[Any]:
        return list(getattr(self, self._table).values())

    def _index(self, i: Any) -> int:
        n = len(self)
        i = operator.index(i)
        if not -n <= i < n:
            raise IndexError(f"{type(self).__name__}: index {i} is out of range for {n} entries")
        return i % n

    def _renumber(self, items: list[Any]) -> None:
        for key in list(getattr(self, self._table)):
            delattr(self, key)
        for i, item in enumerate(items):
            setattr(self, str(i), item)

    def __len__(self) -> int:
        return len(getattr(self, self._table))

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items())

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return type(self)(self._items()[i])
        return self._items()[self._index(i)]

    def __setitem__(self, i: Any, value: Any) -> None:
        setattr(self, str(self._index(i)), self._entry(value, "__setitem__"))

    def __delitem__(self, i: Any) -> None:
        items = self._items()
        del items[i if isinstance(i, slice) else self._index(i)]
        self._renumber(items)

    def append(self, value: Any) -> _Listed:
        setattr(self, str(len(self)), self._entry(value, "append"))
        return self

    def extend(self, values: Iterable[Any]) -> _Listed:
        if not isinstance(values, Iterable) or isinstance(values, (Module, Tensor)):
            name = type(self).__name__
            raise TypeError(f"{name}.extend: expected an iterable of entries, got {type(values).__name__}")
        for value in values:
            self.append(value)
        return self

    def insert(self, index: int, value: Any) -> None:
        items = self._items()
        items.insert(index, self._entry(value, "insert"))
        self._renumber(items)

    def pop(self, i: int = -1) -> Any:
        item = self[i]
        del self[i]
        return item

    def __iadd__(self, values: Iterable[Any]) -> _Listed:
        return self.extend(values)

    def __add__(self, other: Iterable[Any]) -> _Listed:
        return type(self)([*self, *other])

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} is a container and has no forward(); call its entries "
            "(for layer in self.layers: x = layer(x)), or use nn.Sequential for a chain of layers"
        )


class _Keyed(Module):
    """Entries registered under string keys; subclasses say what an entry is (``_entry``)."""

    _table = "_modules"

    def __init__(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None) -> None:
        super().__init__()
        if values is not None:
            self.update(values)

    def _entry(self, value: Any, where: str) -> Any:
        raise NotImplementedError

    def _key(self, key: Any) -> str:
        name = type(self).__name__
        if not isinstance(key, str):
            raise TypeError(f"{name}: keys must be strings, got {key!r} ({type(key).__name__})")
        if not key or "." in key:
            raise KeyError(f"{name}: the key {key!r} must be non-empty and hold no '.' (dots join names in state_dict)")
        if key not in getattr(self, self._table) and (key in self.__dict__ or hasattr(type(self), key)):
            raise KeyError(f"{name}: the key {key!r} is the name of an attribute or method of {name}; choose another")
        return key

    def __getitem__(self, key: str) -> Any:
        table = getattr(self, self._table)
        if key not in table:
            raise KeyError(f"{type(self).__name__}: no entry {key!r}; the keys are {list(table)}")
        return table[key]

    def __setitem__(self, key: str, value: Any) -> None:
        setattr(self, self._key(key), self._entry(value, "__setitem__"))

    def __delitem__(self, key: str) -> None:
        if key not in self:
            self[key]  # noqa: B018  (raises the KeyError that names the keys)
        delattr(self, key)

    def __len__(self) -> int:
        return len(getattr(self, self._table))

    def __iter__(self) -> Iterator[str]:
        return iter(list(getattr(self, self._table)))

    def __contains__(self, key: object) -> bool:
        return key in getattr(self, self._table)

    def keys(self) -> list[str]:
        return list(getattr(self, self._table))

    def values(self) -> list[Any]:
        return list(getattr(self, self._table).values())

    def items(self) -> list[tuple[str, Any]]:
        return list(getattr(self, self._table).items())

    def pop(self, key: str) -> Any:
        value = self[key]
        del self[key]
        return value

    def clear(self) -> None:
        for key in self.keys():
            del self[key]

    def update(self, values: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        pairs = values.items() if isinstance(values, Mapping) else values
        for i, pair in enumerate(pairs):
            if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
                raise TypeError(f"{type(self).__name__}.update: entry {i} is not a (key, value) pair: {pair!r}")
            self[pair[0]] = pair[1]


def _module(owner: Module, value: Any, where: str) -> Module:
    if not isinstance(value, Module):
        raise TypeError(f"{type(owner).__name__}.{where}: expected a Module, got {type(value).__name__} {value!r:.60}")
    return value


def _parameter(owner: Module, value: Any, where: str) -> Tensor:
    """A leaf that requires grad as it is, anything else array-like as a new ``Parameter`` (as torch does)."""
    if isinstance(value, Module):
        raise TypeError(
            f"{type(owner).__name__}.{where}: got a {type(value).__name__} module, not a parameter; "
            "keep modules in nn.ModuleList or nn.ModuleDict"
        )
    return value if _is_parameter(value) else Parameter(value)


def _shapes(entries: Iterable[tuple[str, Tensor]]) -> str:
    return ", ".join(f"{k}: {p._data.dtype}{tuple(p._data.shape)}" for k, p in entries)


class ModuleList(_Listed):
    """A list of modules, registered under their positions (``layers.0.weight``), as ``torch.nn.ModuleList``."""

    def _entry(self, value: Any, where: str) -> Module:
        return _module(self, value, where)


class ModuleDict(_Keyed):
    """A dict of modules, registered under their keys (``heads.ner.weight``), as ``torch.nn.ModuleDict``."""

    def _entry(self, value: Any, where: str) -> Module:
        return _module(self, value, where)


class ParameterList(_Listed):
    """A list of parameters, registered under their positions (``weights.0``), as ``torch.nn.ParameterList``."""

    _table = "_parameters"

    def _entry(self, value: Any, where: str) -> Tensor:
        return _parameter(self, value, where)

    def extra_repr(self) -> str:
        return _shapes(self._parameters.items())


class ParameterDict(_Keyed):
    """A dict of parameters, registered under their keys (``scales.word``), as ``torch.nn.ParameterDict``."""

    _table = "_parameters"

    def _entry(self, value: Any, where: str) -> Tensor:
        return _parameter(self, value, where)

    def extra_repr(self) -> str:
        return _shapes(self._parameters.items())
