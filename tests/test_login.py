"""The sign-in brake under attack (issue 22, F2 and F8): a client on the machine (an ssh tunnel, a same-host
proxy) cannot claim a fresh address per guess with X-Forwarded-For unless the admin names that proxy; wrong
guesses queued from one address never keep the right password waiting behind them; the clients remembered are
bounded (an IPv6 machine is its /64)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from rwkv_simple_gui.ui.login import OVERFLOW, LoginThrottle, client_key
from tests.conftest import start_app, stop_app

PASSWORD = "correct horse"


def login(port: int, password: str, forwarded_for: str | None = None) -> tuple[int, float]:
    """POST /login from 127.0.0.1, claiming to forward ``forwarded_for``; the status and the seconds it took."""
    began = time.perf_counter()
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    status = httpx.post(f"http://127.0.0.1:{port}/login", data={"username": "rwkv", "password": password},
                        headers=headers, timeout=90).status_code
    return status, time.perf_counter() - began


def spoofed_guesses(port: int) -> list[tuple[int, float]]:
    """A wrong guess, then two at once, each claiming another address: [first, second, third]."""
    first = login(port, "guess0", "10.0.0.1")
    with ThreadPoolExecutor(2) as pool:
        second = pool.submit(login, port, "guess1", "10.0.0.2")
        time.sleep(0.3)
        third = pool.submit(login, port, "guess2", "10.0.0.3")
        return [first, second.result(), third.result()]


@pytest.mark.parametrize("trusted", [False, True], ids=["default", "trusted-proxy"])
def test_x_forwarded_for_counts_only_from_a_proxy_the_admin_names(project, trusted):
    (project / "auth.txt").write_text(f"rwkv:{PASSWORD}\n", encoding="utf-8")
    args = ["--auth-file", str(project / "auth.txt")] + (["--trusted-proxy", "127.0.0.1"] if trusted else [])
    proc, port, log = start_app(project, *args)
    try:
        first, second, third = spoofed_guesses(port)
        if trusted:  # the named proxy's header is believed: three clients, none braked
            assert [s for s, _ in (first, second, third)] == [400, 400, 400]
            assert second[1] < 1 and third[1] < 1
            assert "X-Forwarded-For is believed from 127.0.0.1/32 only" in log.read_text()
        else:  # one client, 127.0.0.1, whatever it claims: braked, and only its newest guess waits
            assert first[0] == 400
            assert (second[0], third[0]) == (429, 400), (second, third)
            assert third[1] >= 0.6  # it waited for the brake (1 s after the first failure)
        assert login(port, PASSWORD)[0] == 200
    finally:
        stop_app(proc)


async def _attempt(throttle: LoginThrottle, password: str, client: str = "10.0.0.9") -> int:
    status = []

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await throttle({"type": "http", "method": "POST", "path": "/login", "client": (client, 5000),
                    "password": password}, None, send)
    return status[0]


def _checking_app(checked: list[str]):
    """Gradio's /login as far as the brake sees it: 200 for the right password, 400 otherwise."""
    async def app(scope, receive, send):
        checked.append(scope["password"])
        await send({"type": "http.response.start", "status": 200 if scope["password"] == PASSWORD else 400,
                    "headers": []})
        await send({"type": "http.response.body", "body": b""})
    return app


def test_queued_wrong_guesses_never_keep_the_right_password_waiting():
    async def scene():
        checked: list[str] = []
        throttle = LoginThrottle(_checking_app(checked), first_delay_s=0.2, max_delay_s=0.4)
        assert await _attempt(throttle, "guess0") == 400
        queued = [asyncio.create_task(_attempt(throttle, f"guess{i}")) for i in range(1, 9)]
        await asyncio.sleep(0.01)
        right = await _attempt(throttle, PASSWORD)
        return checked, right, [await q for q in queued]

    checked, right, queued = asyncio.run(scene())
    assert right == 200
    assert checked == ["guess0", PASSWORD]  # none of the queued guesses was checked before it
    assert queued == [429] * 8


def test_the_clients_remembered_are_bounded_and_an_ipv6_machine_is_its_64():
    assert client_key({"client": ("2001:db8::1", 1)}) == client_key({"client": ("2001:db8::ffff:2", 1)})
    assert client_key({"client": ("2001:db8::1", 1)}) != client_key({"client": ("2001:db8:0:1::1", 1)})
    assert client_key({"client": ("::ffff:10.1.2.3", 1)}) == "10.1.2.3"

    async def scene():
        throttle = LoginThrottle(_checking_app([]), first_delay_s=0.001, max_delay_s=0.002, max_clients=3)
        for i in range(10):  # ten addresses, one wrong guess each
            assert await _attempt(throttle, "wrong", f"10.0.1.{i}") == 400
        return throttle

    throttle = asyncio.run(scene())
    assert len(throttle.clients) == 3 + 1 and throttle.clients[OVERFLOW].failures == 7
