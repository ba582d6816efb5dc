"""The package, tests and benchmarks stay as clean as ruff's rules in pyproject.toml say (unused imports, import
order, long lines, a function above cyclomatic complexity 15): a lint finding fails here rather than piling up."""

from __future__ import annotations

import subprocess

from tests.conftest import REPO_ROOT


def test_ruff_finds_nothing():
    done = subprocess.run(["ruff", "check", "--no-cache", "."], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
