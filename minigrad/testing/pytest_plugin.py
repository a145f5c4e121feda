"""A pytest plugin for gradient tests: hypothesis profiles and fixtures.

Enable it in your ``conftest.py``::

    pytest_plugins = ["minigrad.testing.pytest_plugin"]

It registers the ``quick`` and ``thorough`` hypothesis profiles (chosen by ``HYPOTHESIS_PROFILE``) and
provides the fixtures

- ``temporary_rule(name, forward, *vjps)``: registers a primitive with its rules for one test and
  returns the op (removed, or the built-in rule restored, after the test);
- ``rng``: a ``numpy.random.Generator`` seeded per test, so failures reproduce.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from .primitives import temporary_primitive


def pytest_configure(config: pytest.Config) -> None:
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        return
    from .profiles import register_profiles

    register_profiles()


def pytest_report_header(config: pytest.Config) -> str:
    import os

    return f"minigrad.testing: hypothesis profile {os.environ.get('HYPOTHESIS_PROFILE', 'quick')}"


@pytest.fixture
def temporary_rule() -> Iterator[Callable]:
    """``op = temporary_rule("cube", lambda x: x**3, lambda g, ans, x: 3 * x**2 * g)``; undone after the test."""
    with contextlib.ExitStack() as stack:
        yield lambda name, forward, *vjps: stack.enter_context(temporary_primitive(name, forward, *vjps))


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> np.random.Generator:
    """A generator seeded from the test's name: the same numbers on every run of that test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))
