"""Shared fixtures: an isolated project folder, so tests never write into the repository's folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from rwkv_simple_gui import paths

REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE = REPO_ROOT / "data" / "sample.jsonl"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    """A fresh project folder holding the bundled sample data; paths resolve against it."""
    root = tmp_path / "project"
    (root / "data").mkdir(parents=True)
    shutil.copyfile(SAMPLE, root / "data" / "sample.jsonl")
    monkeypatch.setattr(paths, "PROJECT_ROOT", root)
    monkeypatch.setenv("RWKV_SIMPLE_GUI_HOME", str(root))
    return root
