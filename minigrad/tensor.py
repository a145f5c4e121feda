"""The Tensor: a NumPy array that remembers which primitive made it, from which parents.

A tensor made by a recorded primitive holds
- ``_op``: the primitive's name, the key of its entry in ``minigrad.registry.PRIMITIVES``;
- ``_args``: the primitive's arguments as the rules take them (arrays in place of tensors, then parameters);
- ``_parents``: aligned with ``_args``: the tensor at each position that requires grad, else None.
A leaf has ``_op = None``. After backward frees the graph, ``_parents`` is ``None``.
Nodes are made in one place, ``minigrad.recording``.
Nothing points from a parent to its child, so a step's graph is a DAG of plain references that
reference counting frees without the garbage collector.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from .dtypes import get_default_dtype
from .forget import Forgotten
from .guard import SELF_ONLY, Hold, inplace_error, saver, share
from .guarded_array import guarded

creation_ids = itertools.count()  # creation order; a child always has a larger id than its parents
_FLOATS = (np.float16, np.float32, np.float64)


def is_float(dtype: np.dtype) -> bool:
    return dtype.type in _FLOATS


class Tensor:
    """An n-dimensional array with automatic differentiation.

    >>> import minigrad as mg
    >>> x = mg.tensor([1.0, 2.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    array([2., 4.])
    """

    __slots__ = (
        "_data", "_grad", "_links", "_rg", "_op", "_args", "_parents", "_id", "_saved", "_held", "_saver", "__weakref__"
    )  # fmt: skip

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self._saved: Any = None
        self._held = 0
        self._links = None
        if isinstance(data, Tensor):
            data = data._data
        array = np.array(data, dtype=dtype)  # a copy, as torch.tensor and np.array make
        if array.dtype.kind == "c":
            raise TypeError(f"tensor: {not_real(array)}")
        if array.dtype == object or not (
            is_float(array.dtype) or np.issubdtype(array.dtype, np.integer) or array.dtype == bool
        ):
            raise TypeError(f"tensor: unsupported data of dtype {array.dtype}; give numbers or a numeric array")
        self._data = array
        self._grad: Any = None
        self._rg = False
        self._op: str | None = None
        self._args: tuple | None = None
        self._parents: tuple | None = ()
        self._id = next(creation_ids)
        if requires_grad:
            self.requires_grad = True

    # -- attributes ------------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """The array. While a graph holds it for backward it is read-only, and a write names the culprit."""
        d = self._data
        if type(d) is Forgotten:
            raise RuntimeError(
                f"data: the value of this '{self._op}' result ({d}) was dropped during the forward pass: no rule "
                "reads it and nothing but the graph referred to it (reached through a weak reference?)"
            )
        if self._held or d.base is not None or self._links is not None:
            op = saver(self)
            if op is not None:
                return guarded(d, self, op)
        return d

    @data.setter
    def data(self, value: Any) -> None:
        saved = self._saved
        if saved is SELF_ONLY or type(saved) is Hold and saved.self_too:  # the node's rules read its own value
            raise inplace_error("t.data = value", self, self._op)
        if isinstance(value, np.ndarray) and type(value) is not np.ndarray and value.base is self._data:
            return  # ``t.data += v`` hands back the view it wrote through: the array is already t's
        array = value if type(value) is np.ndarray else np.asarray(value)
        old = self._data
        if array.shape != old.shape or array.dtype != old.dtype:
            # a new shape or dtype would reach the graph's next backward (a gradient summed or cast into the wrong
            # shape) and mg.compile's replays, which read parameters' arrays as traced
            raise ValueError(
                f"data: this tensor holds shape {old.shape} and dtype {old.dtype}, the new value has shape "
                f"{array.shape} and dtype {array.dtype}; assign an array of the same shape and dtype (.astype("
                f"{old.dtype})), or make a new tensor for another shape or dtype"
            )
        self._data = array

    @property
    def grad(self) -> Any:
        """The accumulated gradient: None, or an array (a Tensor after ``backward(create_graph=True)``) of this
        tensor's shape and dtype."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is not None:
            d = value._data if isinstance(value, Tensor) else value
            if not isinstance(d, (np.ndarray, np.generic)):  # (0-d results of NumPy are scalars)
                raise TypeError(f"grad: assign an array or a Tensor (or None), got {type(value).__name__}")
            if d.shape != self._data.shape or d.dtype != self._data.dtype:
                raise ValueError(
                    f"grad: this tensor has shape {self._data.shape} and dtype {self._data.dtype}, the assigned "
                    f"gradient shape {d.shape} and dtype {d.dtype}; they must be the same"
                )
        self._grad = value

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value and not is_float(self._data.dtype):
            raise TypeError(
                f"requires_grad: only floating-point tensors can require grad, this one is {self._data.dtype}"
            )
        if not value and self._op is not None:
            raise RuntimeError("requires_grad: cannot turn off on a tensor made by an operation; use detach()")
        self._rg = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self) -> bool:
        return self._op is None

    @property
    def grad_fn(self) -> str | None:
        """The name of the primitive that made this tensor, or None for a leaf."""
        return self._op

    shape = property(lambda self: self._data.shape)
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: self._data.size)
    dtype = property(lambda self: self._data.dtype)

    def __len__(self) -> int:
        return len(self._data)

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied), as ``torch.Tensor.numpy`` does (read-only while saved)."""
        return self.data

    def item(self) -> Any:
        return self._data.item()

    def detach(self) -> Tensor:
        """A new leaf that shares this tensor's data and records nothing (a write through either is refused
        while a graph holds the other: see ``minigrad.guard.share``)."""
        t = constant(self._data)
        share(self, t)
        return t

    def __repr__(self) -> str:
        """``tensor(value, [shape=...,] [dtype=...,] grad_fn=<op> | requires_grad=True)``, NumPy-style.

        The value is printed by ``np.array2string`` under NumPy's print options, so a big array is
        summarised with ``...`` (and its shape is then given); the dtype is named unless it is a default
        (the default float dtype, float32 unless ``mg.set_default_dtype`` changed it; int64; bool), as
        PyTorch's ``repr`` does.
        """
        data = self._data
        if type(data) is Forgotten:
            return f"tensor(<dropped: {data}>, grad_fn=<{self._op}>)"
        body = np.array2string(data, separator=", ", prefix="tensor(")
        extra = ""
        if data.size > np.get_printoptions()["threshold"] or (data.size == 0 and data.ndim > 1):
            extra += f", shape={data.shape}"  # summarised or empty: the value does not show the shape
        if data.dtype != get_default_dtype() and data.dtype.type not in (np.int_, np.bool_):
            extra += f", dtype={data.dtype}"
        if self._op is not None:
            extra += f", grad_fn=<{self._op}>"
        elif self._rg:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if self._rg:
            raise TypeError(
                "numpy: this tensor requires grad, so converting it to an array would drop its graph; "
                "use t.detach().numpy() or t.data"
            )
        if copy:  # np.array(t): a copy, as NumPy 2 asks
            return self._data.astype(dtype) if dtype is not None else self._data.copy()
        return self.data if dtype is None else self._data.astype(dtype)

    __hash__ = object.__hash__  # identity: == compares values elementwise, as in NumPy

    def __bool__(self) -> bool:
        return bool(self._data)

    def __float__(self) -> float:
        return float(self._data)

    def __int__(self) -> int:
        return int(self._data)

    # The operations as methods and operators (``t.sum()``, ``t @ w``, ``t.T``, ``-t``, ``t[i]``), ``backward``
    # and NumPy's protocols are attached by ``minigrad.methods``, above the operations they call.

    def __setitem__(self, index: Any, value: Any) -> None:
        raise TypeError(
            "setitem: tensors are immutable in minigrad; build the new value with mg.where or mg.concatenate, "
            "or write to t.data outside the graph"
        )

    # Comparisons give plain boolean arrays and carry no gradient.
    def __lt__(self, other: Any) -> np.ndarray:
        return self._data < _value(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self._data <= _value(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self._data > _value(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self._data >= _value(other)

    def __eq__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self._data == _value(other)

    def __ne__(self, other: Any) -> np.ndarray:  # type: ignore[override]
        return self._data != _value(other)


def _value(x: Any) -> Any:
    return x._data if isinstance(x, Tensor) else x


new_tensor = Tensor.__new__  # a Tensor with no slot set, for the code that fills them all itself (recording.node)


def constant(data: np.ndarray) -> Tensor:
    """A leaf that records nothing, made without the checks of ``Tensor.__init__``."""
    t = new_tensor(Tensor)
    t._data = data
    t._grad = None
    t._rg = False
    t._op = None
    t._args = None
    t._parents = ()
    t._id = next(creation_ids)
    t._saved = None
    t._held = 0
    t._links = None
    return t


def as_tensor(x: Any, op: str = "as_tensor") -> Tensor:
    """``x`` itself if it is a Tensor (or a subclass), else a constant tensor over ``np.asarray(x)`` (no copy).

    Real numbers only (floats, integers, booleans): ``op`` names the operation in the error for anything else.
    """
    if type(x) is Tensor or isinstance(x, Tensor):
        return x
    a = np.asarray(x)
    if a.dtype.kind not in REAL_KINDS:
        raise TypeError(f"{op}: {not_real(a)}")
    return constant(a)


REAL_KINDS = "fiub"  # the dtype kinds minigrad computes with: floats, integers, booleans


def not_real(a: np.ndarray) -> str:
    """Why an operand of ``a``'s dtype is refused (minigrad is real-valued)."""
    if a.dtype.kind == "c":
        return (
            f"unsupported complex data (dtype {a.dtype}); minigrad is real-valued, and dropping the imaginary part "
            "would be silently wrong: pass the real and imaginary parts as two real tensors"
        )
    return f"unsupported operand of dtype {a.dtype} (give numbers or a numeric array)"
