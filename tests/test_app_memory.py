"""What app.py does about the memory a long-running app keeps (issue 22's soak): glibc's arenas shared by all
threads, and their free pages handed back; each checked in a real child process, as the app runs."""

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


TRIM = """
import ctypes, threading, time
import app
def rss():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("RssAnon:"))
done = threading.Event()
def fragment():  # in a second arena: freed blocks between kept ones are never at the arena's top
    blocks = [bytearray(64 << 10) for _ in range(600)]
    for i in range(0, 598, 2):
        blocks[i] = None
    done.wait()
t = threading.Thread(target=fragment); t.start()
time.sleep(1)
before = rss()
{trim}
time.sleep(1.5)
print(before, rss())
done.set(); t.join()
"""


def freed_kib(trim: str) -> int:
    done = subprocess.run([sys.executable, "-c", TRIM.format(trim=trim)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=120, env=paths.child_env())
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    return before - after


def test_free_pages_inside_the_arenas_go_back_to_the_system():
    assert freed_kib("") < 4 << 10, "glibc alone keeps them"
    assert freed_kib("app.trim_heap_every(0.5)") > 12 << 10  # ~19 MiB of 64 KiB blocks freed in the middle
