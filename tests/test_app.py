"""The app as a user starts it: `python app.py` in a subprocess, called through gradio_client."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from gradio_client import Client

import app as app_module
from tests.conftest import start_app, stop_app


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
        "data/sample.jsonl", 1, 0, True, 42, "world", False, "", 1024, api_name="/tokenize")
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
