"""Gradio keeps a copy of every component's config and last value per page session (~0.6 MiB); with its default of
10000 sessions every page load or refresh grew the app for days. The app keeps ui.app.SESSIONS_KEPT, the least
recently used dropped first."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rwkv_simple_gui import paths
from rwkv_simple_gui.ui import app as ui_app
from tests.conftest import REPO_ROOT, free_port


@pytest.fixture
def served(project, monkeypatch):
    monkeypatch.setattr(ui_app, "SESSIONS_KEPT", 4)
    paths.confine()
    demo = ui_app.build_app()
    demo.launch(**ui_app.launch_kwargs(lang=None, auth=None, share=False, host="127.0.0.1", port=free_port(),
                                       open_browser=False), prevent_thread_lock=True)
    yield demo
    demo.close()
    paths.unconfine()


def test_page_sessions_past_the_limit_are_dropped_oldest_first(served):
    from gradio_client import Client

    client = Client(served.local_url, verbose=False)
    for page in range(10):
        client.session_hash = f"page-{page}"  # each page load is a session of its own
        rows, shown, _ = client.predict("data/sample.jsonl", 1, api_name="/preview_page")
        assert shown == 1 and rows["data"]
    client.session_hash = "page-7"  # a page still open polls: it stays among the most recent
    client.predict("data/sample.jsonl", 2, api_name="/preview_page")
    client.session_hash = "page-10"
    client.predict("data/sample.jsonl", 1, api_name="/preview_page")
    assert list(served.state_holder.session_data) == ["page-8", "page-9", "page-7", "page-10"]


def test_the_app_process_uses_glibc_for_arrow_memory():
    """app.py picks Arrow's system allocator before pandas loads: Arrow's own (mimalloc) kept what polls freed."""
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    code = "import app, pandas, pyarrow; print(pyarrow.default_memory_pool().backend_name)"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "system", done.stdout + done.stderr
