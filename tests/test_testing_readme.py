"""The example of docs/testing.md testing a custom op runs, passes, and is under 15 lines of code."""

from __future__ import annotations

import re
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "testing.md"


def _example() -> str:
    section = PAGE.read_text(encoding="utf-8").split("# Testing gradients with minigrad.testing", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    return next(b for b in blocks if "property_test(" in b)


def test_readme_custom_op_example_runs_and_is_short():
    code = _example()
    assert len([line for line in code.splitlines() if line.strip()]) < 15
    namespace: dict = {}
    exec(compile(code, "docs/testing.md", "exec"), namespace)
    namespace["test_swish"]()
    namespace["test_swish_on_a_big_input"]()
