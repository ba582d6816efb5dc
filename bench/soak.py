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


def start_app(project: Path, temp: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {**os.environ, "RWKV_SIMPLE_GUI_HOME": str(project), "GRADIO_TEMP_DIR": str(temp),
           "PYTHONUNBUFFERED": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--no-browser", "--port", str(port)],
                            stdout=open(project / "app.log", "wb"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"app.py exited:\n{(project / 'app.log').read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc, port
        except OSError:
            time.sleep(0.5)
    proc.kill()
    sys.exit("app.py did not open its port in 300 s")


def run_folder(run: Path, live: bool, stop: threading.Event) -> None:
    """A run folder as a live trainer keeps it (its lock held, a log line and a metrics line every second), or
    as a finished one left it (an hour of lines)."""
    from rwkv_simple_gui.train.rundir import lock_run

    run.mkdir(parents=True)
    lock = lock_run(run) if live else None  # noqa: F841 - held until this process exits, as a trainer holds it
    (run / "status.json").write_text(json.dumps({"state": "running" if live else "finished", "step": 0,
                                                 "total_steps": 10**6}))
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


def client_loop(port: int, n: int, counts: Counts, stop: threading.Event) -> None:
    from gradio_client import Client

    for attempt in range(10):  # the app may still be starting its routes when the port opens
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            break
        except Exception as err:  # noqa: BLE001
            counts.add(False, f"connect: {type(err).__name__}: {err}")
            stop.wait(3 * (attempt + 1))
    else:
        return
    rng = random.Random(n)
    rounds = 0
    while not stop.is_set():
        rounds += 1
        calls = [lambda: client.predict("data/sample.jsonl", rng.randint(1, 3), api_name="/preview_page"),
                 lambda: client.predict("output/soak-run", False, api_name="/poll_training")]
        if rounds % 5 == n % 5:
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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=60)
    p.add_argument("--clients", type=int, default=20)
    p.add_argument("--every", type=float, default=30, help="seconds between two printed samples")
    p.add_argument("--warmup", type=float, default=5, help="minutes left out of the slope")
    p.add_argument("--run", choices=("live", "finished"), default="live", help="the run the clients poll")
    args = p.parse_args()

    root = Path(tempfile.mkdtemp(prefix="rwkv-soak-"))
    project, temp = root / "project", root / "gradio-tmp"
    (project / "data").mkdir(parents=True)
    shutil.copyfile(REPO / "data" / "sample.jsonl", project / "data" / "sample.jsonl")
    stop = threading.Event()
    threads = [threading.Thread(target=run_folder, args=(project / "output" / "soak-run", args.run == "live", stop),
                                daemon=True)]
    proc, port = start_app(project, temp)
    app = psutil.Process(proc.pid)
    counts = Counts()
    threads += [threading.Thread(target=client_loop, args=(port, n, counts, stop), daemon=True)
                for n in range(args.clients)]
    for t in threads:
        t.start()
    load = os.getloadavg()
    print(f"soak: {args.clients} clients for {args.minutes:g} min on port {port}, polling a {args.run} run; "
          f"load average at start "
          f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; {os.cpu_count()} CPUs", flush=True)
    print("minute  rss_MiB  calls  failed  gradio_tmp_MiB  load1", flush=True)
    began, samples = time.time(), []
    try:
        while (elapsed := time.time() - began) < args.minutes * 60:
            time.sleep(min(args.every, args.minutes * 60 - elapsed))
            minute = (time.time() - began) / 60
            rss = app.memory_info().rss / 2**20
            samples.append((minute, rss))
            print(f"{minute:6.1f}  {rss:7.1f}  {counts.calls:5d}  {counts.failed:6d}  "
                  f"{folder_bytes(temp) / 2**20:14.1f}  {os.getloadavg()[0]:5.2f}", flush=True)
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
        print(f"after the {args.warmup:g}-minute warm-up: RSS {after[0][1]:.1f} -> {after[-1][1]:.1f} MiB "
              f"({after[-1][1] - after[0][1]:+.1f} MiB over {after[-1][0] - after[0][0]:.1f} min), slope "
              f"{slope_mib_per_min(after):+.2f} MiB/min", flush=True)
    if counts.failed:
        print(f"{counts.failed} of {counts.calls} calls failed:", flush=True)
        for error, n in sorted(counts.errors.items(), key=lambda e: -e[1]):
            print(f"  {n} x {error}", flush=True)
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
