"""The app as a user starts it: `python app.py` in a subprocess, called through gradio_client."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from gradio_client import Client

import app as app_module
from tests.conftest import REPO_ROOT, start_app, stop_app


@pytest.fixture
def running_app(project):
    proc, port, log = start_app(project)
    yield project, port, log
    stop_app(proc)


def test_app_serves_data_and_tokenize_endpoints(running_app):
    project, port, log = running_app
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    summary, problems = client.predict("sample.jsonl", True, api_name="/inspect_dataset")
    assert "Every record is valid" in summary
    assert "Records:** 24" in summary.replace(",", "")
    stats, lengths, _plot, factors, report, prefix = client.predict(
        "data/sample.jsonl", 1, 0, True, 42, "world", False, "", 1024, False, api_name="/tokenize")
    assert prefix == "data/sample"
    assert (project / "data" / "sample.bin").is_file() and (project / "data" / "sample.idx").is_file()
    assert "data_line_count" in report
    # the cwd of the app was "/": outputs landed in the project folder, not there
    assert not Path("/data/sample.bin").exists()


def test_app_generates_the_demo_model_on_a_fresh_machine(running_app):
    project, port, log = running_app
    models = list((project / "model").glob("*.pth"))
    assert len(models) == 1, list((project / "model").iterdir())
    from rwkv_simple_gui.model import detect

    info = detect(models[0])
    assert (info.version, info.n_layer) == ("x070", 2)
    assert "demo base model" in log.read_text()
    deadline = time.time() + 30
    while "Running on" not in log.read_text() and time.time() < deadline:
        time.sleep(0.2)
    text = log.read_text()  # our start lines name our flag, not Gradio's launch(share=True)
    assert f"Running on http://127.0.0.1:{port}/" in text and "python app.py --share" in text
    assert "share=True" not in text


def test_listening_on_all_interfaces_requires_a_password(project):
    proc, port, log = start_app(project, "--host", "0.0.0.0")
    try:
        text = log.read_text()
        deadline = time.time() + 10
        while "password:" not in text and time.time() < deadline:
            time.sleep(0.2)
            text = log.read_text()
        password = re.search(r"user: (\S+)\s+password: (\S+)", text)
        assert password, text
        with pytest.raises(Exception):
            Client(f"http://127.0.0.1:{port}/", verbose=False).predict("sample.jsonl", True,
                                                                        api_name="/inspect_dataset")
        client = Client(f"http://127.0.0.1:{port}/", auth=(password.group(1), password.group(2)), verbose=False)
        summary, _ = client.predict("sample.jsonl", True, api_name="/inspect_dataset")
        assert "Every record is valid" in summary
    finally:
        stop_app(proc)


def test_share_without_auth_gets_a_generated_password(capsys):
    args = app_module.parse_args(["--share"])
    auth = app_module.resolve_auth(args)
    assert auth is not None and auth[0] == "rwkv" and len(auth[1]) >= 12
    assert auth[1] in capsys.readouterr().out
    assert app_module.resolve_auth(app_module.parse_args(["--share", "--auth", "me:pw:x"])) == ("me", "pw:x")
    assert app_module.resolve_auth(app_module.parse_args([])) is None


def test_bad_auth_flag_is_refused(capsys):
    with pytest.raises(SystemExit):
        app_module.parse_args(["--auth", "nopassword"])
    assert "USER:PASS" in capsys.readouterr().err


def test_an_empty_password_or_user_is_refused_at_start(tmp_path):
    for auth, empty in (("u:", "password"), (":pw", "user"), ("  :pw", "user")):
        proc = subprocess.run([sys.executable, str(REPO_ROOT / "app.py"), "--no-browser", "--auth", auth],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and f"the {empty} is empty, so nobody could sign in" in proc.stderr
    empty_file = tmp_path / "auth.txt"
    empty_file.write_text("rwkv:\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, str(REPO_ROOT / "app.py"), "--auth-file", str(empty_file)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "password is empty" in proc.stderr


def test_the_password_can_come_from_a_file_or_the_environment(tmp_path, monkeypatch):
    secret = tmp_path / "auth.txt"
    secret.write_text("me:pass word:x\n", encoding="utf-8")
    assert app_module.parse_args(["--auth-file", str(secret)]).credentials == ("me", "pass word:x")
    monkeypatch.setenv(app_module.AUTH_ENV, "env:s3cret")
    assert app_module.parse_args([]).credentials == ("env", "s3cret")
    assert app_module.parse_args(["--auth", "flag:wins"]).credentials == ("flag", "wins")
    with pytest.raises(SystemExit):
        app_module.parse_args(["--auth-file", str(tmp_path / "missing.txt")])


def login(port: int, user: str, password: str, source: str = "127.0.0.1") -> tuple[int, float]:
    """POST /login from a given local address; the status and the seconds it took."""
    began = time.perf_counter()
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=60) as http:
        status = http.post(f"http://127.0.0.1:{port}/login", data={"username": user, "password": password}).status_code
    return status, time.perf_counter() - began


def test_failed_sign_ins_are_slowed_down_per_client_and_the_password_stays_out_of_ps(project):
    secret = project / "auth.txt"
    secret.write_text("rwkv:correct horse\n", encoding="utf-8")
    proc, port, log = start_app(project, "--auth-file", str(secret))
    try:
        assert b"correct horse" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()
        times = [login(port, "rwkv", f"guess{i}") for i in range(3)]
        assert [s for s, _ in times] == [400, 400, 400]
        assert times[1][1] >= 0.9 and times[2][1] >= 1.9, times  # waits of 1 s, then 2 s
        with ThreadPoolExecutor(2) as pool:  # a fourth guess waits 4 s; another client is not held up
            guess = pool.submit(login, port, "rwkv", "guess3")
            time.sleep(0.2)
            other = pool.submit(login, port, "rwkv", "correct horse", "127.0.0.2")
            assert other.result()[0] == 200 and other.result()[1] < 2
            assert guess.result()[0] == 400 and guess.result()[1] >= 3.5
        assert login(port, "rwkv", "correct horse")[0] == 200  # after its wait, the right password works
        assert login(port, "rwkv", "wrong again")[1] < 1  # and a success starts the count afresh
    finally:
        stop_app(proc)
