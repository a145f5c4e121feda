"""MkDocs hook: show the docstrings' doctest examples (``>>>`` lines and their output) as code blocks.

The docstrings are written for ``help()`` and doctest, with bare ``>>>`` examples; Markdown would run them into
one paragraph and read ``[a][b]`` in them as links. This hook adds a Markdown preprocessor that fences each run
of doctest lines as a ``pycon`` block, for the pages and for the docstrings that mkdocstrings renders.
"""

from __future__ import annotations

from markdown import Extension
from markdown.preprocessors import Preprocessor


class _DoctestFences(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        in_fence = in_doctest = False
        for line in lines:
            stripped = line.lstrip()
            if stripped.startswith("```"):
                in_fence = not in_fence
            if not in_fence and not in_doctest and stripped.startswith(">>>"):
                out += ["", "```pycon"]
                in_doctest = True
            elif in_doctest and not stripped:
                out += ["```", ""]
                in_doctest = False
            out.append(line.strip() if in_doctest else line)
        if in_doctest:
            out += ["```", ""]
        return out


class DoctestFences(Extension):
    def extendMarkdown(self, md) -> None:  # noqa: N802 (Markdown's name)
        md.preprocessors.register(_DoctestFences(md), "doctest_fences", 40)


def on_config(config, **kwargs):
    config.markdown_extensions.append(DoctestFences())
    return config
