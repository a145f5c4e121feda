"""docs/export.md's examples run as written and print what their comments say."""

import contextlib
import io
import pathlib
import re

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("torch")

PAGE = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "export.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", PAGE, re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_the_example_runs_and_prints_what_its_comment_says(index):
    block = BLOCKS[index]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block, f"docs/export.md example {index}", "exec"), {})
    promised = [line.split("# ", 1)[1].split(":")[0] for line in block.splitlines() if line.startswith("print(")]
    assert promised and out.getvalue().splitlines()[-1] == promised[-1]


def test_there_are_three_examples():
    assert len(BLOCKS) == 3
