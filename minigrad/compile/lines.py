"""Passes over the lines of a replay: folded transposes, unread forward values dropped, ``del`` of the dead.

The lines are the body of ``replay`` as ``codegen.Builder`` wrote them, one statement each, in the form
``name = expression`` (or ``name += expression``, ``P3.grad = ...``, ``return ...``). Variables are
``s`` (forward), ``g`` (gradients), ``r`` (recomputed recipes), ``u``/``v`` (embedding rows), each used
after its one assignment (gradients may be reassigned when they accumulate).
"""

from __future__ import annotations

import re

_TOKEN = re.compile(r"\b([sgruv]\d+(?:_\d+)?)\b")
_NAME = re.compile(r"[A-Za-z_]\w*")


def tidy(lines: list[str]) -> list[str]:
    """All the passes, in order."""
    return _drop_dead(_unread(_fold_transposes(lines), _TOKEN))


def _fold_transposes(lines: list[str]) -> list[str]:
    """``a = E.T`` … ``b = a.T`` with ``a`` read nowhere else becomes ``b = E`` (Wᵀ's gradient: (GᵀX)ᵀᵀ)."""
    lines = list(lines)
    for i, line in enumerate(lines):
        a, eq, expr = line.partition(" = ")
        if not eq or not _NAME.fullmatch(a) or not expr.endswith(".T") or not _atom(expr[:-2]):
            continue
        uses = [j for j in range(i + 1, len(lines)) if re.search(rf"\b{a}\b", lines[j])]
        if len(uses) != 1:
            continue
        b, eq2, use = lines[uses[0]].partition(" = ")
        between = lines[i + 1 : uses[0]]
        if eq2 and use == f"{a}.T" and _NAME.fullmatch(b) and not any(re.search(rf"\b{b}\b", x) for x in between):
            lines[i] = f"{b} = {expr[:-2]}"
            lines[uses[0]] = ""
    return [line for line in lines if line]


def _atom(expr: str) -> bool:
    """Whether a ``.T`` after ``expr`` applies to all of it: a name or a call (``_dot(g, a)``), not ``K + g.T``."""
    if _NAME.fullmatch(expr):
        return True
    call = re.match(r"[A-Za-z_][\w.]*\(", expr)
    if call is None or not expr.endswith(")"):
        return False
    depth = 0
    for k in range(call.end() - 1, len(expr)):
        depth += {"(": 1, ")": -1}.get(expr[k], 0)
        if depth == 0:
            return k == len(expr) - 1  # the call's own parenthesis closes at the end
    return False


def _unread(lines: list[str], token: re.Pattern) -> list[str]:
    """Without the forward lines (``s12 = ...``, pure NumPy) whose variable no later line reads."""
    while True:
        reads: dict[str, int] = {}
        for line in lines:
            target, _, expr = line.partition(" = ")
            for name in token.findall(expr if _NAME.fullmatch(target) else line):
                reads[name] = reads.get(name, 0) + 1
        keep = [line for line in lines if not (re.fullmatch(r"s\d+", line.partition(" = ")[0]) and
                                               line.partition(" = ")[0] not in reads)]  # fmt: skip
        if len(keep) == len(lines):
            return lines
        lines = keep


def _drop_dead(lines: list[str]) -> list[str]:
    """``del`` each s/g/r variable after its last use, so that big intermediates are freed early."""
    token = _TOKEN
    last: dict[str, int] = {}
    for i, line in enumerate(lines):
        for name in token.findall(line):
            last[name] = i
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        dead = sorted(n for n, j in last.items() if j == i and not line.startswith("return"))
        if dead and i < len(lines) - 2:
            out.append("del " + ", ".join(dead))
    return out
