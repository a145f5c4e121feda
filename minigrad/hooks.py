"""Gradient hooks: ``t.register_hook(fn)`` calls ``fn(grad)`` when t's gradient is complete in a backward pass.

As in PyTorch, the hook may return a replacement for the gradient (or None to keep it), and it runs before the
gradient goes on to t's parents, or, for a leaf, into ``.grad``. ``t.retain_grad()`` is a hook that keeps a
non-leaf tensor's gradient in its ``.grad``. Hooks are held weakly by their tensor: they go with it.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

# id(tensor) -> {key: hook}; an entry is removed when its tensor dies (a weakref.finalize), so an id is never
# mistaken for a later tensor's. (Not a WeakKeyDictionary: it compares keys with ==, which is elementwise here.)
_hooks: dict[int, dict] = {}
active = [0]  # how many tensors have hooks: the engine asks only then (a dict lookup per node otherwise)
_keys = iter(range(1 << 62))


class RemovableHandle:
    """What ``register_hook`` returns: ``handle.remove()`` takes the hook off again."""

    def __init__(self, tensor: Any, key: int) -> None:
        self._tensor, self._key = weakref.ref(tensor), key

    def remove(self) -> None:
        tensor = self._tensor()
        table = _hooks.get(id(tensor)) if tensor is not None else None
        if table is not None:
            table.pop(self._key, None)


def register_hook(tensor: Any, hook: Callable[[Any], Any]) -> RemovableHandle:
    """Call ``hook(grad)`` with ``tensor``'s gradient during backward; a non-None result replaces it."""
    if not callable(hook):
        raise TypeError(f"register_hook: the hook must be callable, got {type(hook).__name__}")
    if not tensor.requires_grad:
        raise RuntimeError("register_hook: this tensor does not require grad, so it gets no gradient to hook")
    table = _hooks.get(id(tensor))
    if table is None:
        table = _hooks[id(tensor)] = {}
        active[0] += 1
        weakref.finalize(tensor, _forget, id(tensor))
    key = next(_keys)
    table[key] = hook
    return RemovableHandle(tensor, key)


def _forget(key: int) -> None:
    del _hooks[key]  # a hooked tensor died
    active[0] -= 1


def has_hooks(tensor: Any) -> bool:
    return id(tensor) in _hooks


def run(tensor: Any, grad: Any) -> Any:
    """``grad`` passed through the hooks of ``tensor``, in the order they were registered."""
    for hook in list(_hooks.get(id(tensor), {}).values()):
        out = hook(grad)
        if out is not None:
            if getattr(out, "shape", None) != getattr(grad, "shape", None):
                raise ValueError(
                    f"register_hook: a hook returned a gradient of shape {getattr(out, 'shape', None)} for a "
                    f"tensor of shape {grad.shape}; return one of the same shape, or None to keep the gradient"
                )
            grad = out
    return grad


def retain_grad(tensor: Any) -> None:
    """Keep ``tensor``'s gradient in its ``.grad`` after backward (leaves do already), accumulating as leaves do."""
    if tensor._op is None:
        return  # a leaf's .grad is kept anyway
    ref = weakref.ref(tensor)

    def keep(grad: Any) -> None:
        t = ref()
        if t is not None:
            value = grad.copy() if hasattr(grad, "copy") and not hasattr(grad, "_data") else grad
            t._grad = value if t._grad is None else t._grad + value

    register_hook(tensor, keep)
