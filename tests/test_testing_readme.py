"""The README's example of testing a custom op runs, passes, and is under 15 lines of code."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _example() -> str:
    section = README.read_text(encoding="utf-8").split("## Testing gradients with minigrad.testing", 1)[1]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    return next(b for b in blocks if "property_test(" in b)


def test_readme_custom_op_example_runs_and_is_short():
    code = _example()
    assert len([line for line in code.splitlines() if line.strip()]) < 15
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    namespace["test_swish"]()
    namespace["test_swish_on_a_big_input"]()
