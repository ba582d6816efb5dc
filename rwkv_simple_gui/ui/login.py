"""Sign-in brake: repeated failed logins from one client are slowed down.

Gradio's ``/login`` route answers as fast as it is asked (about 730 guesses a second were measured). This
ASGI middleware sits in front of it: after ``n`` failed sign-ins in a row from one client, its next attempt
is checked no sooner than ``min(2 ** (n - 1), 30)`` seconds after the last failure. The wait is an asyncio
sleep, so other clients are never held up.

One attempt per client waits at a time: a newer one takes the place of the one waiting, which is answered
429 at once without being checked. So guesses sent in parallel gain nothing, and wrong guesses queued ahead
of the right password cannot keep it waiting longer than one delay.

The client is the address of the connection. X-Forwarded-For counts only from a proxy the admin names
(``app.py --trusted-proxy``, which sets uvicorn's ``FORWARDED_ALLOW_IPS``; uvicorn trusts 127.0.0.1 by
default, which let anything on the machine claim a fresh address per guess). An IPv6 client is its /64
network (one machine may hold all of it). At most ``MAX_CLIENTS`` are remembered; beyond that, new ones
share one brake. A success forgets the client.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import time

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
FORGET_AFTER_S = 900.0  # a client quiet this long starts afresh
MAX_CLIENTS = 4096
OVERFLOW = "(every other client)"


class _Client:
    def __init__(self):
        self.changed = asyncio.Condition()
        self.failures = 0
        self.not_before = 0.0
        self.last = 0.0
        self.waiting: object | None = None  # the one attempt allowed to wait
        self.checking = False  # an attempt is with Gradio now

    @property
    def idle(self) -> bool:
        return self.waiting is None and not self.checking


def client_key(scope) -> str:
    """Who a request comes from, for the brake: its address (an IPv6 one as its /64 network)."""
    host = (scope.get("client") or ("unknown",))[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class LoginThrottle:
    def __init__(self, app, first_delay_s: float = FIRST_DELAY_S, max_delay_s: float = MAX_DELAY_S,
                 max_clients: int = MAX_CLIENTS):
        self.app = app
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.max_clients = max_clients
        self.clients: dict[str, _Client] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path", "").rstrip("/") != "/login":
            await self.app(scope, receive, send)
            return
        self._forget_quiet(time.monotonic())
        key = client_key(scope)
        if key not in self.clients and len(self.clients) >= self.max_clients:
            key = OVERFLOW
        client = self.clients.setdefault(key, _Client())
        if not await self._turn(client):
            await self._too_many(client, send)
            return
        status = 0

        async def send_and_watch(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            async with client.changed:
                client.checking = False
                client.last = now = time.monotonic()
                if status == 200:
                    client.failures, client.not_before = 0, 0.0
                elif status == 400:  # Gradio's "Incorrect credentials."
                    client.failures += 1
                    client.not_before = now + min(self.max_delay_s,
                                                  self.first_delay_s * 2 ** (client.failures - 1))
                client.changed.notify_all()

    async def _turn(self, client: _Client) -> bool:
        """Wait until this attempt may be checked (True), or until a newer attempt takes its place (False)."""
        me = object()
        async with client.changed:
            client.waiting = me
            client.changed.notify_all()  # the attempt waiting before gives way
            while client.waiting is me:
                wait = client.not_before - time.monotonic()
                if not client.checking and wait <= 0:
                    client.waiting, client.checking = None, True
                    return True
                try:
                    await asyncio.wait_for(client.changed.wait(), None if client.checking else wait)
                except TimeoutError:
                    pass
            return False

    async def _too_many(self, client: _Client, send) -> None:
        retry = max(1, math.ceil(client.not_before - time.monotonic()))
        body = (f"Another sign-in from your address came after this one, and only the newest waits: try again in "
                f"{retry} s.").encode()
        await send({"type": "http.response.start", "status": 429,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"retry-after", str(retry).encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _forget_quiet(self, now: float) -> None:
        for key, client in list(self.clients.items()):
            if client.idle and (client.failures == 0 or now - client.last > FORGET_AFTER_S):
                del self.clients[key]
