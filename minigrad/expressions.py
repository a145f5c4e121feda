"""Rules written as expressions: ``"g * (1 - ans * ans)"`` becomes the functions that run it.

A rule given as a NumPy expression in ``g`` (the upstream gradient), ``ans`` (the primitive's output) and
the primitive's parameters is one declaration from which every consumer takes what it needs:
- ``function``: ``rule(g, ans, *params)``, for the engine, forward mode and ``create_graph`` (on Tensors
  the expression dispatches to minigrad and is recorded);
- for elementwise rules, a variant that computes into the one array it allocates when g is an array,
  so that a big activation's backward makes one temporary instead of one per operator;
- ``names_read``: which of ``ans`` and the parameters the rule reads (for the in-place guard);
- ``inline``: the expression with other names put in, which ``mg.compile`` writes into its replay.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

NAMESPACE: dict[str, Any] = {"np": np}  # what a rule expression may name besides its parameters

METADATA = frozenset({"shape", "ndim", "dtype", "size"})
_UFUNC_OF = {ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "divide", ast.Pow: "power"}


def names_read(expression: str) -> set[str]:
    """The names the expression reads as values (a name asked only for its ``.shape``, ``.dtype``... is not)."""
    tree = ast.parse(expression, mode="eval")
    asked = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr in METADATA}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in asked}


def function(name: str, expression: str, params: tuple[str, ...], elementwise: bool) -> Any:
    """``rule(g, ans, *params)`` computing ``expression``; for an elementwise rule, in place when it can."""
    signature = ", ".join(("g", "ans", *params))
    body = f"    return {expression}\n"
    steps = _in_place_steps(ast.parse(expression, mode="eval").body) if elementwise else None
    if steps is not None and len(steps) > 1:  # (a single operation has nothing to reuse)
        lines = [f"        {line}\n" for line in steps[:-1]] + [f"        return {steps[-1]}\n"]
        # (0-d arrays: NumPy makes scalars, which take no ``out``; Tensors: the expression is recorded)
        body = "    if type(g) is _ndarray and g.ndim:\n" + "".join(lines) + body
    source = f"def {name}_vjp({signature}):\n{body}"
    namespace = {**NAMESPACE, **_UFUNCS}
    exec(compile(source, f"<rule of {name}: {expression}>", "exec"), namespace)
    rule = namespace[f"{name}_vjp"]
    rule.expression = expression
    rule.__doc__ = f"Jᵀg = {expression}"
    return rule


_UFUNCS = {f"_{name}": ufunc for name, ufunc in vars(np).items() if isinstance(ufunc, np.ufunc)}
_UFUNCS["_ndarray"] = np.ndarray


def _in_place_steps(tree: ast.AST) -> list[str] | None:
    """The expression as NumPy calls that write into temporaries already made, or None if it has a form
    this does not know. g, ans and the parameters of an elementwise rule share one shape and dtype, so a
    temporary made by an arithmetic operation on them can take the result of the next one."""
    steps: list[str] = []
    count = iter(range(1 << 30))

    def value(node: ast.AST) -> tuple[str, bool]:  # (the source of the value, whether it is our temporary)
        if isinstance(node, (ast.Name, ast.Constant)) or not _has_name(node):  # (numbers alone make no array)
            return f"({ast.unparse(node)})", False
        if isinstance(node, ast.BinOp) and type(node.op) in _UFUNC_OF:
            return apply(_UFUNC_OF[type(node.op)], [node.left, node.right])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return apply("negative", [node.operand])
        if _is_ufunc_call(node):
            return apply(node.func.attr, node.args)
        if isinstance(node, ast.Compare):  # a boolean mask: a new array, of another dtype than g's
            temp = f"t{next(count)}"
            steps.append(f"{temp} = {ast.unparse(node)}")
            return temp, False
        raise _Unknown

    def apply(ufunc: str, operands: list) -> tuple[str, bool]:
        values = [value(o) for o in operands]
        into = next((v for v, ours in values if ours), None)
        refs = ", ".join(v for v, _ in values)
        if into is None:
            into = f"t{next(count)}"
            steps.append(f"{into} = _{ufunc}({refs})")
        else:
            steps.append(f"{into} = _{ufunc}({refs}, {into})")
        return into, True

    try:
        value(tree)
    except _Unknown:
        return None
    if not steps:
        return None
    steps[-1] = steps[-1].split(" = ", 1)[1]  # the last step is returned, not assigned
    return steps


class _Unknown(Exception):
    """An expression with a form the in-place writer does not know: the rule runs it as written."""


def _is_ufunc_call(node: ast.AST) -> bool:
    """Whether ``node`` is ``np.f(...)`` for a ufunc f that maps float64 operands to float64 (not to booleans:
    a mask is no temporary to write a gradient into)."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and not node.keywords):
        return False
    f = (
        getattr(np, node.func.attr, None)
        if isinstance(node.func.value, ast.Name) and node.func.value.id == "np"
        else None
    )
    return isinstance(f, np.ufunc) and f.nout == 1 and "d" * f.nin + "->d" in f.types


def _has_name(node: ast.AST) -> bool:
    """Whether the expression reads a name (an array of the rule), not numbers alone."""
    return any(isinstance(n, ast.Name) and n.id != "np" for n in ast.walk(node))


def inline(expression: str, names: dict[str, str], number: Any = None) -> str:
    """``expression`` with each name replaced by ``names[name]``, and each number by ``number(value)`` if given
    (mg.compile turns numbers into 0-d arrays of the operand's dtype)."""

    class Rename(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.AST:
            return ast.Name(id=names.get(node.id, node.id), ctx=node.ctx)

        def visit_Constant(self, node: ast.Constant) -> ast.AST:
            if number is not None and type(node.value) in (int, float):
                return ast.Name(id=number(node.value), ctx=ast.Load())
            return node

    tree = Rename().visit(ast.parse(expression, mode="eval"))
    return ast.unparse(tree)


def makes_new_array(expression: str) -> bool:
    """Whether the expression surely computes a new array: its last step is an arithmetic operator or a ufunc.
    ``g`` alone, ``g.reshape(...)``, ``g[index]`` and other calls may hand on g or a view of it."""
    top = ast.parse(expression, mode="eval").body
    return isinstance(top, (ast.BinOp, ast.UnaryOp, ast.Compare)) or _is_ufunc_call(top)
