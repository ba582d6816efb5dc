"""Soak: the app under many clients for a long time; does its memory stay flat?

    python bench/soak.py [--minutes 60] [--clients 20] [--every 30] [--warmup 5] [--run live|finished]

Starts ``python app.py`` on a fresh project in a temporary folder and drives it through gradio_client
with ``--clients`` clients at once, each in a loop: preview a page of the Data tab, poll the Train tab
(``/poll_training``, as every open page's timer does), and every few rounds tokenize the sample. The run
polled is live (``--run live``: its lock held, its train.log and metrics.jsonl growing by a line a second,
so what a poll reads grows with it) or finished (the same files, no longer growing: what is left in memory
then is not the data's). Every ``--every`` seconds it prints the app's RSS,
the calls made and failed, and the size of Gradio's temporary folder; at the end, the RSS slope after the
first ``--warmup`` minutes (a least-squares line, MiB per minute) and the growth from the end of the
warm-up to the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def start_app(project: Path, temp: Path, probe: dict) -> tuple[subprocess.Popen, int]:
    """app.py under bench/heap_probe.py, which writes its memory figures where ``probe`` says."""
    port = free_port()
    env = {**os.environ, "RWKV_SIMPLE_GUI_HOME": str(project), "GRADIO_TEMP_DIR": str(temp),
           "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False", **probe}
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "heap_probe.py"), "--no-browser",
                             "--port", str(port)],
                            stdout=open(project / "app.log", "wb"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"app.py exited:\n{(project / 'app.log').read_text()}")
        try:  # its API, not only its port: a busy machine opens the port minutes before the routes answer
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/gradio_api/info", timeout=30) as reply:
                if reply.status == 200:
                    return proc, port
        except OSError:
            time.sleep(1)
    os.killpg(proc.pid, signal.SIGKILL)
    sys.exit("app.py did not answer /gradio_api/info in 600 s")


def make_run_folder(run: Path, live: bool):
    """A run folder as a live trainer keeps it (its lock held: returned, held while the soak runs) or as a finished
    one left it; made before the clients start, so a soak never polls a run that is not there."""
    from rwkv_simple_gui.train.rundir import claim

    lock = claim(run, {}) if live else None
    run.mkdir(parents=True, exist_ok=True)
    (run / "status.json").write_text(json.dumps({"state": "running" if live else "finished", "step": 0,
                                                 "total_steps": 10**6}))
    return lock


def run_folder(run: Path, live: bool, stop: threading.Event) -> None:
    """The run's lines: a log line and a metrics line every second while live, an hour of them when finished."""
    def more(step: int) -> bool:
        return not stop.wait(1.0) if live else step < 3600

    step = 0
    with open(run / "train.log", "a") as log, open(run / "metrics.jsonl", "a") as metrics:
        while more(step):
            step += 1
            log.write(f"[soak] step {step} loss {1 / step:.4f} " + "x" * 80 + "\n")
            log.flush()
            metrics.write(json.dumps({"step": step, "loss": 1 / step, "lr": 1e-4, "tokens": step * 100,
                                      "tokens_per_s": 100.0, "elapsed_s": step, "eta_s": 0}) + "\n")
            metrics.flush()


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.calls = self.failed = 0
        self.errors: dict[str, int] = {}

    def add(self, ok: bool, error: str = "") -> None:
        with self.lock:
            self.calls += 1
            if not ok:
                self.failed += 1
                self.errors[error[:160]] = self.errors.get(error[:160], 0) + 1


def client_loop(port: int, n: int, counts: Counts, stop: threading.Event, kinds: set[str]) -> None:
    from gradio_client import Client

    while True:  # on a busy machine the app may answer its port minutes before its API
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            break
        except Exception as err:  # noqa: BLE001
            counts.add(False, f"connect: {type(err).__name__}: {err}")
            if stop.wait(5):
                return
    rng = random.Random(n)
    rounds = 0
    while not stop.is_set():
        rounds += 1
        calls = []
        if "preview" in kinds:
            calls.append(lambda: client.predict("data/sample.jsonl", rng.randint(1, 3), api_name="/preview_page"))
        if "poll" in kinds:
            calls.append(lambda: client.predict("output/soak-run", False, api_name="/poll_training"))
        if "tokenize" in kinds and rounds % 5 == n % 5:
            calls.append(lambda: client.predict("data/sample.jsonl", 1, 0, True, 42, "world", False,
                                                f"data/soak-{n}", 1024, True, api_name="/tokenize"))
        for call in calls:
            if stop.is_set():
                break
            try:
                call()
                counts.add(True)
            except Exception as err:  # noqa: BLE001 - counted and shown, the soak goes on
                counts.add(False, f"{type(err).__name__}: {err}")
        stop.wait(rng.uniform(0.5, 1.5))


def slope_mib_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minutes, MiB)."""
    if len(samples) < 2:
        return 0.0
    xs, ys = [s[0] for s in samples], [s[1] for s in samples]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def last_probe(path: Path) -> dict:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    return json.loads(lines[-1]) if lines else {}


def trace_growth(trace_dir: Path, first: int, top: int = 15) -> None:
    """What the Python heap gained between snapshot ``first`` and the last one, by the line that allocated it."""
    import tracemalloc

    snaps = sorted(trace_dir.glob("*.snap"))
    if len(snaps) <= first:
        return
    before, after = tracemalloc.Snapshot.load(str(snaps[first])), tracemalloc.Snapshot.load(str(snaps[-1]))
    print(f"tracemalloc: Python heap growth from {snaps[first].name} to {snaps[-1].name}, by allocation site:")
    for stat in after.compare_to(before, "traceback")[:top]:
        print(f"  {stat.size_diff / 2**20:+8.2f} MiB {stat.count_diff:+8d} blocks")
        for line in stat.traceback.format()[-12:]:
            print(f"      {line}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=60)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--every", type=float, default=30, help="seconds between two printed samples")
    p.add_argument("--warmup", type=float, default=5, help="minutes left out of the slope")
    p.add_argument("--run", choices=("live", "finished"), default="live", help="the run the clients poll")
    p.add_argument("--calls", default="preview,poll,tokenize",
                   help="which calls each client makes, comma-separated (to find which one grows the memory)")
    p.add_argument("--trace", type=int, metavar="FRAMES", default=0,
                   help="run tracemalloc in the app with this many frames (slows it) and print where its Python "
                        "heap grew after the warm-up")
    args = p.parse_args()
    kinds = set(args.calls.split(","))
    if unknown := kinds - {"preview", "poll", "tokenize"}:
        p.error(f"--calls takes preview, poll and tokenize, not {', '.join(sorted(unknown))}")

    root = Path(tempfile.mkdtemp(prefix="rwkv-soak-"))
    project, temp = root / "project", root / "gradio-tmp"
    (project / "data").mkdir(parents=True)
    shutil.copyfile(REPO / "data" / "sample.jsonl", project / "data" / "sample.jsonl")
    stop = threading.Event()
    run, live = project / "output" / "soak-run", args.run == "live"
    lock = make_run_folder(run, live)  # noqa: F841 - held until this process exits, as a trainer holds it
    threads = [threading.Thread(target=run_folder, args=(run, live, stop), daemon=True)]
    probe_file, trace_dir = root / "probe.jsonl", root / "trace"
    probe = {"SOAK_PROBE_FILE": str(probe_file), "SOAK_PROBE_EVERY": str(args.every)}
    if args.trace:
        probe |= {"SOAK_TRACE_DIR": str(trace_dir), "SOAK_TRACE_FRAMES": str(args.trace)}
    proc, port = start_app(project, temp, probe)
    app = psutil.Process(proc.pid)
    counts = Counts()
    threads += [threading.Thread(target=client_loop, args=(port, n, counts, stop, kinds), daemon=True)
                for n in range(args.clients)]
    for t in threads:
        t.start()
    load = os.getloadavg()
    print(f"soak: {args.clients} clients ({', '.join(sorted(kinds))}) for {args.minutes:g} min on port {port}, "
          f"polling a {args.run} run; load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"{os.cpu_count()} CPUs",
          flush=True)
    # anon: RSS less the pages mapped from files (libraries' code, which the kernel may drop and read again);
    # py_kblocks: blocks Python's allocator holds (live objects); malloc used/free: what glibc handed out, and what it
    # keeps freed but not given back (RSS that no object holds); arrow: pyarrow's own allocator (pandas' strings)
    # analytics: events Gradio keeps for its monitoring page, up to $GRADIO_ANALYTICS_MAX_EVENTS (10000): a bounded
    # growth of a few MiB that lasts until that many calls were made
    # pymalloc used/held: bytes in Python's small objects, and the arenas holding them (an arena goes back to the
    # system only when wholly empty: held minus used is fragmentation)
    print("minute  rss_MiB  anon_MiB  py_kblocks  pymalloc_used  pymalloc_held  malloc_used  malloc_free  arrow_MiB  "
          "threads  sessions  analytics  "
          "calls  failed  gradio_tmp_MiB  load1", flush=True)
    began, samples = time.time(), []
    try:
        while (elapsed := time.time() - began) < args.minutes * 60:
            time.sleep(min(args.every, args.minutes * 60 - elapsed))
            minute = (time.time() - began) / 60
            rss = app.memory_info().rss / 2**20
            heap = last_probe(probe_file)
            samples.append((minute, rss, heap.get("py_blocks", 0) / 1000, heap.get("malloc_used_mib", 0.0),
                            heap.get("rssanon_mib", 0.0)))
            print(f"{minute:6.1f}  {rss:7.1f}  {heap.get('rssanon_mib', 0):8.1f}  "
                  f"{heap.get('py_blocks', 0) / 1000:10.1f}  {heap.get('pymalloc_used', 0) / 2**20:13.1f}  "
                  f"{heap.get('pymalloc_total', 0) / 2**20:13.1f}  "
                  f"{heap.get('malloc_used_mib', 0):11.1f}  {heap.get('malloc_free_mib', 0):11.1f}  "
                  f"{heap.get('arrow_mib', 0):9.1f}  {heap.get('threads', 0):7d}  {heap.get('sessions', 0):8d}  "
                  f"{heap.get('queue_analytics', 0):9d}  "
                  f"{counts.calls:5d}  {counts.failed:6d}  {folder_bytes(temp) / 2**20:14.1f}  "
                  f"{os.getloadavg()[0]:5.2f}", flush=True)
    except KeyboardInterrupt:  # Ctrl-C ends the soak early; what was measured is still reported
        pass
    finally:
        stop.set()
        deadline = time.time() + 60  # the clients finish their call before the app goes (a minute at most)
        for t in threads:
            t.join(timeout=max(0.0, deadline - time.time()))
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    after = [s for s in samples if s[0] >= args.warmup]
    if after:
        def slope(column: int) -> float:
            return slope_mib_per_min([(s[0], s[column]) for s in after])

        first, last = after[0], after[-1]
        print(f"after the {args.warmup:g}-minute warm-up ({last[0] - first[0]:.1f} min, {counts.calls} calls): "
              f"RSS {first[1]:.1f} -> {last[1]:.1f} MiB ({last[1] - first[1]:+.1f}), slope {slope(1):+.2f} MiB/min; "
              f"anonymous RSS {first[4]:.1f} -> {last[4]:.1f} MiB, slope {slope(4):+.2f} MiB/min; "
              f"Python blocks {first[2]:.1f}k -> {last[2]:.1f}k, slope {slope(2):+.2f}k/min; malloc in use "
              f"{first[3]:.1f} -> {last[3]:.1f} MiB, slope {slope(3):+.2f} MiB/min", flush=True)
    if args.trace:
        trace_growth(trace_dir, first=next((i for i, s in enumerate(samples) if s[0] >= args.warmup), len(samples)))
    if counts.failed:
        print(f"{counts.failed} of {counts.calls} calls failed:", flush=True)
        for error, n in sorted(counts.errors.items(), key=lambda e: -e[1]):
            print(f"  {n} x {error}", flush=True)
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
