"""The network examples of docs/networks.md run as written, and print what their comments say."""

import contextlib
import io
import pathlib

import pytest

PAGE = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "networks.md").read_text(encoding="utf-8")


def _first_example(heading: str) -> str:
    section = PAGE.split(f"\n{heading}\n", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.parametrize(
    "heading, printed",
    [
        ("## Convolution and pooling", "(6, 1, 5, 5)"),
        ("## Normalization, attention and transformers", "(2, 5, 16) (48, 16)"),
    ],
)
def test_the_example_runs_and_prints_what_its_comment_says(heading, printed):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(_first_example(heading), f"docs/networks.md {heading}", "exec"), {})
    assert out.getvalue().strip() == printed
