"""``check_function``: every property an op owes its users, checked in one call.

1. the forward pass matches a NumPy reference (values, shape and dtype);
2. the inputs are not mutated by the forward or the backward pass;
3. every gradient has the shape and dtype of its input;
4. no gradient shares memory with another gradient, an input or the output;
5. backward matches numerical derivatives (``gradcheck``), and optionally second derivatives too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..tensor import Tensor
from .gradcheck import GradcheckError, gradcheck, gradgradcheck, input_names, is_checked
from .numerical import as_array, outputs

# Forward against the reference: |out − ref| ≤ atol + rtol·|ref|, by the output dtype.
FORWARD_TOLERANCES = {np.dtype(np.float64): (1e-12, 1e-7), np.dtype(np.float32): (1e-6, 1e-4)}


def as_callable(fn: Any) -> Callable:
    """A custom op class (anything with ``apply``, as ``mg.Function``) is called through ``.apply``."""
    apply = getattr(fn, "apply", None)
    if apply is not None and callable(apply):
        return apply
    if not callable(fn):
        raise TypeError(f"check_function: expected a callable or a class with .apply, got {type(fn).__name__}")
    return fn


def op_label(fn: Any) -> str:
    """How messages name ``fn``: a Function class, or its bound ``apply``, by the class (``Cube``, not ``apply``)."""
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type) and getattr(fn, "__name__", None) == "apply":
        return owner.__name__
    return getattr(fn, "__name__", None) or repr(fn)


def _check_forward(name: str, outs: list, reference: Callable, arrays: list, check_dtype: bool) -> None:
    expected = reference(*arrays)
    expected = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    if len(expected) != len(outs):
        raise GradcheckError(f"check_function: {name} returned {len(outs)} outputs, the reference {len(expected)}")
    for j, (o, e) in enumerate(zip(outs, expected)):
        got, e = o._data, np.asarray(e)
        if got.shape != e.shape:
            raise GradcheckError(f"check_function: output {j} of {name} has shape {got.shape}, the reference {e.shape}")
        if check_dtype and got.dtype != e.dtype:
            raise GradcheckError(
                f"check_function: output {j} of {name} has dtype {got.dtype}, the reference {e.dtype} "
                "(minigrad follows NumPy's dtype promotion: float32 in, float32 out)"
            )
        atol, rtol = FORWARD_TOLERANCES.get(got.dtype, (1e-3, 1e-2))
        err = np.abs(got.astype(np.float64) - e)
        bad = ~(err <= atol + rtol * np.abs(e))
        if bad.any():
            k = np.unravel_index(int(np.argmax(np.where(bad, np.nan_to_num(err, nan=np.inf), -1))), got.shape)
            raise GradcheckError(
                f"check_function: the forward pass of {name} (output {j}) differs from the reference at element "
                f"{tuple(int(t) for t in k)}: {float(got[k])!r} vs {float(e[k])!r}; "
                f"{int(bad.sum())} of {got.size} elements differ"
            )


def _check_grads(name: str, names: list, tensors: list, outs: list) -> None:
    grads = []
    for label, t in zip(names, tensors):
        g = t.grad
        if g is None:
            continue
        if not isinstance(g, np.ndarray) or g.shape != t._data.shape or g.dtype != t._data.dtype:
            got = (
                f"has shape {g.shape} and dtype {g.dtype}" if isinstance(g, np.ndarray) else f"is a {type(g).__name__}"
            )
            raise GradcheckError(
                f"check_function: the gradient of {label} of {name} {got}, but the input has shape "
                f"{t.data.shape} and dtype {t.data.dtype}"
            )
        grads.append((label, g))
    others = [(label.replace("input", "the data of input", 1), t._data) for label, t in zip(names, tensors)]
    others += [(f"output {j}", o._data) for j, o in enumerate(outs)]
    for a, (label, g) in enumerate(grads):
        for other_label, other in [(f"the gradient of {lb}", o) for lb, o in grads[a + 1 :]] + others:
            if np.shares_memory(g, other):
                raise GradcheckError(
                    f"check_function: the gradient of {label} of {name} shares memory with {other_label}; "
                    "an in-place update of one would change the other (return a new array)"
                )


def check_function(
    fn: Any,
    *inputs: Any,
    reference: Callable | None = None,
    method: str = "central",
    second_order: bool = False,
    check_dtype: bool = True,
    seed: int = 0,
    **tolerances: Any,
) -> bool:
    """Check an op, a plain function of tensors or a custom op class with ``.apply``, at ``inputs``.

    Parameters
    ----------
    fn : callable or class with ``apply``
        ``fn(*tensors)`` (or ``fn.apply(*tensors)``) returns a Tensor or a tuple of Tensors.
    *inputs
        Float arrays and Tensors that require grad are differentiated; anything else is passed as is.
    reference : callable, optional
        The same function on NumPy arrays; the forward pass must match it in value, shape and dtype.
    method, seed, **tolerances
        Passed to ``gradcheck`` (``eps``, ``atol``, ``rtol``, ``kinks``).
    second_order : bool
        Also run ``gradgradcheck``.

    Returns True or raises ``GradcheckError`` saying which property failed, where.
    """
    op = as_callable(fn)
    name = op_label(fn)
    names = input_names(op, len(inputs))
    checked = [i for i, x in enumerate(inputs) if is_checked(x)]
    arrays = {i: np.array(as_array(x)) for i, x in enumerate(inputs) if isinstance(x, (np.ndarray, Tensor))}
    arrays.update({i: np.array(as_array(inputs[i])) for i in checked})
    tensors = [Tensor(arrays[i], requires_grad=True) for i in checked]
    args = list(inputs)
    for i, t in zip(checked, tensors):
        args[i] = t
    outs = outputs(op(*args), "check_function")
    if reference is not None:
        ref_args = [arrays[i].copy() if i in arrays else x for i, x in enumerate(inputs)]
        _check_forward(name, outs, reference, ref_args, check_dtype)
    rng = np.random.default_rng(seed)
    for o in outs:
        if o.requires_grad:
            o.backward(rng.standard_normal(o._data.shape).astype(o._data.dtype), retain_graph=True)
    for i, before in arrays.items():
        now = [as_array(inputs[i])] + [t._data for j, t in zip(checked, tensors) if j == i]
        if any(not np.array_equal(a, before, equal_nan=True) for a in now):
            raise GradcheckError(f"check_function: {names[i]} of {name} was modified in place by forward or backward")
    _check_grads(name, [names[i] for i in checked], tensors, outs)
    gradcheck(op, *inputs, method=method, seed=seed, **tolerances)
    if second_order:
        gradgradcheck(op, *inputs, method=method, seed=seed, **tolerances)
    return True
