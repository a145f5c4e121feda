"""The pytest plugin, used as a user would: ``pytest_plugins`` in a conftest of a fresh project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

USER_TEST = """
import numpy as np
from hypothesis import settings
from minigrad.testing import GradcheckError, gradcheck
import pytest

def test_profile_comes_from_the_environment():
    assert settings.default.max_examples == 400 and settings.default.deadline is None

def test_temporary_rule_and_rng(temporary_rule, rng):
    x = rng.standard_normal(5)
    cube = temporary_rule("cube", lambda x: x**3, lambda g, ans, x: 3 * x**2 * g)
    assert gradcheck(cube, x)
    bad = temporary_rule("bad_cube", lambda x: x**3, lambda g, ans, x: 2 * x**2 * g)
    with pytest.raises(GradcheckError, match="bad_cube"):
        gradcheck(bad, x)

def test_rules_are_gone_after_the_test():
    from minigrad.registry import PRIMITIVES
    assert "cube" not in PRIMITIVES and "bad_cube" not in PRIMITIVES

def test_rng_is_seeded_by_the_test_name(rng):
    assert rng.standard_normal() == np.random.default_rng(__import__("zlib").crc32(
        b"test_user.py::test_rng_is_seeded_by_the_test_name")).standard_normal()
"""


def test_plugin_gives_profiles_and_fixtures(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["minigrad.testing.pytest_plugin"]\n')
    (tmp_path / "test_user.py").write_text(USER_TEST)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HYPOTHESIS_PROFILE": "thorough"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 passed" in done.stdout
    assert "hypothesis profile thorough" in done.stdout


def test_unknown_profile_is_refused(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["minigrad.testing.pytest_plugin"]\n')
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HYPOTHESIS_PROFILE": "thourough"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "HYPOTHESIS_PROFILE='thourough': unknown profile" in done.stdout + done.stderr
