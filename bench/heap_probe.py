"""``python bench/heap_probe.py APP_ARGS...``: runs app.py with the same arguments, and every
``$SOAK_PROBE_EVERY`` seconds (default 30) appends one JSON line to ``$SOAK_PROBE_FILE`` saying where the
process's memory is: RSS, the blocks Python's allocator holds (objects kept alive), what glibc's malloc has
handed out and what it holds free (memory freed but not given back to the system), the threads, Gradio's
per-session state. With ``$SOAK_TRACE_DIR`` it also runs tracemalloc from the first line after the app's launch
(``$SOAK_TRACE_FRAMES`` frames, default 6) and dumps a snapshot there at each line, for ``bench/soak.py --trace``
to diff.

Used by bench/soak.py only: the app itself carries no probe.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent


class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                 "keepcost")]


def malloc_figures() -> dict:
    """glibc's view: bytes in use by malloc's callers, bytes it holds free in its arenas, bytes mmapped."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
    except (OSError, AttributeError):
        return {}
    m = libc.mallinfo2()
    return {"malloc_used_mib": m.uordblks / 2**20, "malloc_free_mib": m.fordblks / 2**20,
            "malloc_mmap_mib": m.hblkhd / 2**20}


RUNNING: list = []  # the Blocks app.py launched (Blocks.launch records it)


def record_launch() -> None:
    import gradio as gr

    launch = gr.Blocks.launch

    def recorded(self, *args, **kwargs):
        RUNNING.append(self)
        return launch(self, *args, **kwargs)

    gr.Blocks.launch = recorded


def gradio_state() -> dict:
    """What Gradio keeps per session and per event (gc.get_objects() is no way to find it: another thread's tuple
    under construction seen by it fails with SystemError)."""
    if not RUNNING:
        return {}
    blocks = RUNNING[0]
    out = {"sessions": len(blocks.state_holder.session_data)}
    queue = getattr(blocks, "_queue", None)
    if queue is not None:
        out["queue_events"] = len(queue.event_ids_to_events)
        out["queue_analytics"] = len(queue.event_analytics)
    app = getattr(blocks, "server_app", None)
    if app is not None:
        out["iterators"] = len(getattr(app, "iterators", {}))
    return out


def pymalloc_figures() -> dict:
    """Python's own allocator: the arenas it holds (256 KiB to 1 MiB each, given back only when wholly empty) and the
    bytes in live blocks. sys._debugmallocstats() writes them to fd 2, which is lent to a file for the call."""
    with tempfile.TemporaryFile(mode="w+") as out:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(out.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read()
    figures = {}
    for key, name in (("# arenas allocated current", "pymalloc_arenas"),
                      ("# bytes in allocated blocks", "pymalloc_used"), ("Total", "pymalloc_total")):
        m = re.search(rf"^{re.escape(key)}\s*=\s*([\d,]+)", text, re.M)
        if m:
            figures[name] = int(m.group(1).replace(",", ""))
    return figures


def process_figures() -> dict:
    """Anonymous RSS (the heap) apart from file pages (code and data mapped from files, bounded by their size), and
    what pyarrow's own allocator (mimalloc, no part of glibc's figures) holds for pandas' string columns."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon:", "RssFile:")):
                out[line.split(":")[0].lower() + "_mib"] = int(line.split()[1]) / 1024
    if "pyarrow" in sys.modules:
        out["arrow_mib"] = sys.modules["pyarrow"].default_memory_pool().bytes_allocated() / 2**20
    return out


def probe(path: Path, every: float, trace_dir: Path | None) -> None:
    me = psutil.Process()
    began, n = time.time(), 0
    while True:
        time.sleep(every)
        n += 1
        line = {"minute": (time.time() - began) / 60, "rss_mib": me.memory_info().rss / 2**20,
                "py_blocks": sys.getallocatedblocks(), "threads": threading.active_count(),
                **process_figures(), **pymalloc_figures(), **malloc_figures(), **gradio_state()}
        if trace_dir is not None and RUNNING and not tracemalloc.is_tracing():
            # from the first line after launch: tracing the imports too made the start take minutes on a busy box
            tracemalloc.start(int(os.environ.get("SOAK_TRACE_FRAMES", "6")))
        if tracemalloc.is_tracing():
            line["traced_mib"] = tracemalloc.get_traced_memory()[0] / 2**20
            tracemalloc.take_snapshot().dump(str(trace_dir / f"{n:04d}.snap"))
        with open(path, "a") as f:
            f.write(json.dumps(line) + "\n")


def main() -> None:
    trace = os.environ.get("SOAK_TRACE_DIR")
    trace_dir = Path(trace) if trace else None
    if trace_dir is not None:
        trace_dir.mkdir(parents=True, exist_ok=True)
    threading.Thread(target=probe, args=(Path(os.environ["SOAK_PROBE_FILE"]),
                                         float(os.environ.get("SOAK_PROBE_EVERY", "30")), trace_dir),
                     daemon=True, name="heap-probe").start()
    sys.argv = [str(REPO / "app.py"), *sys.argv[1:]]
    sys.path.insert(0, str(REPO))
    import app  # its first lines before gradio's import (which imports pandas and pyarrow): as `python app.py`

    record_launch()
    sys.exit(app.main())


if __name__ == "__main__":
    main()
