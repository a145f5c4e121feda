"""Functional transforms: ``grad``, ``value_and_grad``, ``vjp``, ``jacobian``, ``hessian`` (and ``jvp``).

Each transform takes a function of Tensors and returns a function (or values), as in JAX. They
compose: ``grad(grad(f))``, ``jacobian(grad(f))``, ``grad`` of a ``jvp``. Higher derivatives come
from the one rule table: a nested transform records its backward pass (``create_graph``) and the
outer one differentiates that recording (see ``minigrad.tracing`` for when a transform is nested).

Results are Tensors: constants at the top level, Tensors carrying a graph inside another transform.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from . import vmap_transforms
from .engine import backward_pass
from .forward_mode import Linearized
from .forward_mode import jvp as _jvp
from .grad_mode import enable_grad
from .jacobian_rows import batched_rows
from .registry import batching
from .shape_ops import reshape, stack
from .tensor import Tensor, constant
from .tracing import argnums_tuple, finish, name_of, nested, output, source
from .trees import BRANCHES, flatten_at

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "jacobian", "hessian"]


def _trace(transform: str, f: Callable, args: tuple, nums: tuple) -> tuple:
    """Run f with fresh tensors at positions ``nums``: (output, sources, nested)."""
    nest = nested([args[i] for i in nums])
    with enable_grad():
        call = list(args)
        sources = []
        for i in nums:
            call[i] = source(transform, args[i], i, nest)
            sources.append(call[i])
        out = output(transform, f, f(*call))
    return out, sources, nest


def _pull(out: Tensor, cotangent: Any, sources: list, nest: bool) -> list:
    """vᵀJ for each source: one backward pass from ``out``, the graph kept for the next one."""
    found = backward_pass(out, cotangent, True, nest, sources) if out._rg else {}
    grads = []
    for s in sources:
        g = found.get(s)
        if g is None:  # out does not depend on s
            g = np.zeros_like(s._data)
        grads.append(g if isinstance(g, Tensor) else constant(g))
    return grads


def _cotangent(v: Any, out: Tensor, nest: bool) -> Any:
    """The cotangent as the engine takes it: a Tensor for a recorded pass, else a fresh array (never aliased)."""
    if nest:
        if isinstance(v, Tensor):  # (in the output's dtype, as every gradient is)
            return v if v.dtype == out.dtype else v.astype(out.dtype)
        return constant(np.asarray(v, dtype=out._data.dtype))
    return np.array(v._data if isinstance(v, Tensor) else v, dtype=out._data.dtype)


def value_and_grad(f: Callable, argnums: Any = 0) -> Callable:
    """``f`` and its gradient: (f(*args), ∂f/∂args[argnums]) in one forward and one backward pass.

    ``f`` must return a single element (shape () or any shape of size 1). ``argnums`` is an int (one
    gradient) or a tuple of ints (a tuple of gradients); the arguments there may be Tensors, arrays or
    floats, and each gradient has the shape and dtype of its argument. An argument that is a tuple, list or
    dict of them (``dict(model.named_parameters())``) gets a gradient of the same structure.

    >>> import minigrad as mg
    >>> v, g = mg.value_and_grad(lambda x: (x * x).sum())(mg.tensor([1.0, 2.0]))
    >>> g
    tensor([2., 4.])
    """
    name = name_of(f)

    def value_and_grad_f(*args: Any) -> tuple:
        nums = argnums_tuple("grad", argnums, len(args))
        if any(isinstance(args[i], BRANCHES) for i in nums):  # a tuple/list/dict of tensors: a tree of gradients
            flat, positions, rebuild, regroup = flatten_at(args, nums)
            leaf_f = functools.wraps(f)(lambda *xs: f(*rebuild(xs)))
            value, grads = value_and_grad(leaf_f, positions)(*flat)
            grads = regroup(grads)
            return value, grads[0] if isinstance(argnums, (int, np.integer)) else tuple(grads)
        if batching:  # inside mg.vmap: each example's gradient (see minigrad.vmap_transforms)
            value, grads = vmap_transforms.value_and_grad(f, args, nums)
            return value, grads[0] if isinstance(argnums, (int, np.integer)) else tuple(grads)
        out, sources, nest = _trace("grad", f, args, nums)
        if out._data.size != 1:
            raise TypeError(
                f"grad: {name} returned shape {out.data.shape}, but grad needs a scalar output (size 1); "
                "reduce it (e.g. .sum()) or use mg.jacobian or mg.vjp for a non-scalar output"
            )
        grads = _pull(out, _cotangent(np.ones(out._data.shape), out, nest), sources, nest)
        grads = [finish(g, nest) for g in grads]
        return finish(out, nest), grads[0] if isinstance(argnums, (int, np.integer)) else tuple(grads)

    value_and_grad_f.__name__ = f"value_and_grad({name})"
    return value_and_grad_f


def grad(f: Callable, argnums: Any = 0) -> Callable:
    """The gradient of a scalar function: ``grad(f)(x)`` is ∂f/∂x, a Tensor shaped like x.

    See ``value_and_grad`` for ``argnums`` and the arguments. ``grad(grad(f))`` and
    ``grad(f)(x)`` for an ``x`` that requires grad give Tensors that carry a graph (differentiable).

    >>> import minigrad as mg
    >>> mg.grad(mg.grad(lambda x: x ** 3))(2.0)   # d²(x³)/dx² = 6x
    tensor(12.)
    """
    value_and_grad_f = value_and_grad(f, argnums)

    def grad_f(*args: Any) -> Any:
        return value_and_grad_f(*args)[1]

    grad_f.__name__ = f"grad({name_of(f)})"
    return grad_f


def vjp(f: Callable, *primals: Any) -> tuple:
    """Reverse mode: ``out, vjp_fn = vjp(f, *primals)``; ``vjp_fn(u)`` is the tuple (uᵀ ∂f/∂xⱼ)ⱼ.

    ``f`` runs once; ``vjp_fn`` can be called many times (the graph is kept). The cotangent ``u``
    has the shape of ``out``.

    >>> import minigrad as mg
    >>> y, vjp_fn = mg.vjp(lambda x: x * 2.0, mg.tensor([1.0, 2.0]))
    >>> vjp_fn(mg.tensor([1.0, 10.0]))
    (tensor([ 2., 20.]),)
    """
    if not primals:
        raise TypeError("vjp: give at least one primal, vjp(f, x, ...)")
    if batching:  # inside mg.vmap
        return vmap_transforms.vjp(f, primals)
    out, sources, nest = _trace("vjp", f, primals, tuple(range(len(primals))))

    def vjp_fn(cotangent: Any) -> tuple:
        shape = tuple(cotangent.shape) if isinstance(cotangent, Tensor) else np.shape(cotangent)
        if shape != out.shape:
            raise ValueError(f"vjp: the cotangent has shape {shape} but {name_of(f)} returned shape {out.shape}")
        deep = nest or nested([cotangent])  # a cotangent that requires grad makes the result differentiable
        if batching and hasattr(cotangent, "_level"):  # vmap over cotangents: the backward's rules run batched
            return vmap_transforms.pull_batched(out, _cotangent(cotangent, out, True), sources, deep)
        with enable_grad():
            grads = _pull(out, _cotangent(cotangent, out, deep), sources, deep)
        return tuple(finish(g, deep) for g in grads)

    return finish(out, nest), vjp_fn


def _basis(k: int, shape: tuple, dtype: Any) -> np.ndarray:
    e = np.zeros(int(np.prod(shape)), dtype=dtype)
    e[k] = 1
    return e.reshape(shape)


def _assemble(pieces: list, lead: tuple, tail: tuple, nest: bool, dtype: Any) -> Tensor:
    """Stack n pieces of shape ``tail`` into one Tensor of shape ``lead + tail`` (n = prod(lead))."""
    if not pieces:
        return constant(np.zeros(lead + tail, dtype=dtype))
    if nest:
        return reshape(stack(pieces), lead + tail)
    return constant(np.stack([p._data if isinstance(p, Tensor) else p for p in pieces]).reshape(lead + tail))


def _jacobian_rev(out: Tensor, sources: list, nest: bool) -> list:
    """Row by row: uᵀJ for u = e₀, e₁, … (one backward pass batched over them, else one per output element)."""
    batched = batched_rows(out, sources, nest)
    if batched is not None:
        return batched
    rows: list = [[] for _ in sources]
    for k in range(out._data.size):
        e = _cotangent(_basis(k, out._data.shape, out._data.dtype), out, nest)
        for row, g in zip(rows, _pull(out, e, sources, nest)):
            row.append(g)
    return [_assemble(r, out._data.shape, s._data.shape, nest, out._data.dtype) for r, s in zip(rows, sources)]


def _jacobian_fwd(out: Tensor, sources: list, nest: bool) -> list:
    """Column by column: J v for v = e₀, e₁, … of each input (one push per input element, one linearization)."""
    lin = Linearized(out, sources, nest)
    jacs = []
    for j, s in enumerate(sources):
        columns = []
        for k in range(s._data.size):
            tangents = [None] * len(sources)
            tangents[j] = _basis(k, s._data.shape, s._data.dtype)
            columns.append(lin.push(tangents))
        jt = _assemble(columns, s._data.shape, out._data.shape, nest, out._data.dtype)  # shape x.shape + out.shape
        n, m = s._data.ndim, out._data.ndim
        jacs.append(jt.transpose(tuple(range(n, n + m)) + tuple(range(n))))
    return jacs


def _jacobian_batched(f: Callable, args: tuple, nums: tuple) -> list:
    """The Jacobians inside mg.vmap: one batched vjp per element of an example's output (``mode`` is not used)."""

    def of_differentiated(*xs: Any) -> Any:
        call = list(args)
        for i, x in zip(nums, xs):
            call[i] = x
        return f(*call)

    out, vjp_fn = vmap_transforms.vjp(of_differentiated, tuple(args[i] for i in nums))
    shape = tuple(out.shape)
    rows = [vjp_fn(_basis(k, shape, out.dtype)) for k in range(int(np.prod(shape, dtype=np.int64)))]
    return [
        reshape(
            stack([row[j] for row in rows]),
            shape + tuple(np.shape(args[i]) if not isinstance(args[i], Tensor) else args[i].shape),
        )  # fmt: skip
        for j, i in enumerate(nums)
    ]


def jvp(f: Callable, primals: Any, tangents: Any) -> tuple:
    if batching and isinstance(primals, (tuple, list)) and isinstance(tangents, (tuple, list)):  # inside mg.vmap
        if len(primals) != len(tangents):
            raise ValueError(
                f"jvp: {len(primals)} primal(s) but {len(tangents)} tangent(s); give one tangent per primal"
            )
        return vmap_transforms.jvp(f, tuple(primals), tuple(tangents))
    return _jvp(f, primals, tangents)


jvp.__doc__ = _jvp.__doc__


def jacobian(f: Callable, argnums: Any = 0, mode: str = "auto") -> Callable:
    """The full Jacobian: ``jacobian(f)(x)`` has shape ``out.shape + x.shape``, J[i..., j...] = ∂outᵢ/∂xⱼ.

    Parameters
    ----------
    f : callable
        Takes Tensors, returns one Tensor.
    argnums : int or tuple of int
        Which arguments; a tuple gives a tuple of Jacobians.
    mode : {"auto", "rev", "fwd"}
        ``"rev"``: one backward pass per output element (the rows uᵀJ, u = eᵢ; the forward graph is
        kept and reused). ``"fwd"``: one forward-mode push per input element (the columns J v,
        v = eⱼ, on one linearization). ``"auto"`` takes whichever needs fewer passes, ``"rev"`` on a tie.

    >>> import minigrad as mg
    >>> mg.jacobian(lambda x: x * x)(mg.tensor([1.0, 2.0]))   # diag(2x)
    tensor([[2., 0.],
            [0., 4.]])
    """
    if mode not in ("auto", "rev", "fwd"):
        raise ValueError(f"jacobian: mode must be 'auto', 'rev' or 'fwd', got {mode!r}")
    name = name_of(f)

    def jacobian_f(*args: Any) -> Any:
        nums = argnums_tuple("jacobian", argnums, len(args))
        if batching:  # inside mg.vmap: row by row, through vjp
            jacs = _jacobian_batched(f, args, nums)
            return jacs[0] if isinstance(argnums, (int, np.integer)) else tuple(jacs)
        out, sources, nest = _trace("jacobian", f, args, nums)
        n_in = sum(s._data.size for s in sources)
        chosen = mode if mode != "auto" else ("rev" if out._data.size <= n_in else "fwd")
        with enable_grad():
            jacs = (_jacobian_rev if chosen == "rev" else _jacobian_fwd)(out, sources, nest)
        jacs = [finish(J, nest) for J in jacs]
        return jacs[0] if isinstance(argnums, (int, np.integer)) else tuple(jacs)

    jacobian_f.__name__ = f"jacobian({name})"
    return jacobian_f


def hessian(f: Callable, argnums: Any = 0, mode: str = "auto") -> Callable:
    """The Hessian of a scalar function, the Jacobian of its gradient: shape ``x.shape + x.shape``.

    H[i..., j...] = ∂²f/∂xᵢ∂xⱼ. With a tuple ``argnums`` the result is the nested tuple of blocks
    ``H[a][b]`` = ∂²f/∂x_a∂x_b. ``mode`` is passed to ``jacobian`` (reverse-over-reverse by default;
    ``"fwd"`` gives forward-over-reverse).

    >>> import minigrad as mg
    >>> mg.hessian(lambda x: (x ** 3).sum())(mg.tensor([1.0, 2.0]))   # diag(6x)
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    if isinstance(argnums, (int, np.integer)):
        hessian_f = jacobian(grad(f, argnums), argnums, mode)
    else:
        blocks = [jacobian(grad(f, a), tuple(argnums), mode) for a in argnums]

        def hessian_f(*args: Any) -> tuple:
            return tuple(block(*args) for block in blocks)

    hessian_f.__name__ = f"hessian({name_of(f)})"
    return hessian_f
