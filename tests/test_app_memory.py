"""What app.py does about the memory a long-running app keeps (issue 22's soak): glibc's arenas shared by all
threads, checked in a real child process, as the app runs."""

from __future__ import annotations

import subprocess
import sys

from rwkv_simple_gui import paths
from tests.conftest import REPO_ROOT

THREADS = """
import ctypes, threading
{setup}
together = threading.Barrier(8)
def allocate():  # all alive at once, as Gradio's workers are: an exited thread's arena would be reused
    keep = [bytearray(4096) for _ in range(50)]  # glibc's malloc, not Python's small-object allocator
    together.wait()
threads = [threading.Thread(target=allocate) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL("libc.so.6").malloc_stats()  # one "Arena N:" block per arena, on stderr
"""


def arenas(setup: str, **env) -> int:
    done = subprocess.run([sys.executable, "-c", THREADS.format(setup=setup)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, env=paths.child_env(**env))
    assert done.returncode == 0, done.stderr
    return done.stderr.count("Arena ")


def test_the_app_shares_two_malloc_arenas_among_its_threads():
    assert arenas("") > 2, "without the limit, each new thread gets an arena of its own"
    assert arenas("import app") == 2
    assert arenas("import app", MALLOC_ARENA_MAX="4") > 2, "an admin's own setting wins"
