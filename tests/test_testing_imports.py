"""``import minigrad`` and ``import minigrad.testing`` need NumPy alone; strategies name the extra to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Run in a fresh interpreter where importing hypothesis (or pytest) fails, as on a NumPy-only install.
BLOCK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('hypothesis', 'pytest'):
            raise ImportError(f'No module named {name!r} (blocked by the test)')
sys.meta_path.insert(0, Block())
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_minigrad_and_minigrad_testing_import_without_hypothesis():
    done = _run(
        "import numpy as np, minigrad as mg, minigrad.testing as mt\n"
        "assert mt.gradcheck(mg.tanh, np.array([0.5, -1.0]))\n"
        "assert mt.check_function(mg.exp, np.array([0.5]), reference=np.exp)\n"
        "assert 'hypothesis' not in sys.modules\n"
        "print('ok')"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_strategies_without_hypothesis_name_the_extra():
    done = _run("import minigrad.testing.strategies")
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert 'pip install "minigrad[test]"' in done.stderr
