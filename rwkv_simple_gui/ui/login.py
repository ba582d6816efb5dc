"""Sign-in brake: repeated failed logins from one client address are slowed down.

Gradio's ``/login`` route answers as fast as it is asked (about 730 guesses a second were measured).
This ASGI middleware sits in front of it: after ``n`` failed sign-ins in a row from one address, that
address's next attempt waits ``min(2 ** (n - 1), 30)`` seconds. The wait is an asyncio sleep under a
lock of that address, so other clients are never held up, and parallel guesses from one address
queue behind each other. A success forgets the address.
"""

from __future__ import annotations

import asyncio
import time

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
FORGET_AFTER_S = 900.0  # an address quiet this long starts afresh


class _Address:
    def __init__(self):
        self.lock = asyncio.Lock()
        self.failures = 0
        self.not_before = 0.0
        self.last = 0.0


class LoginThrottle:
    def __init__(self, app, first_delay_s: float = FIRST_DELAY_S, max_delay_s: float = MAX_DELAY_S):
        self.app = app
        self.first_delay_s = first_delay_s
        self.max_delay_s = max_delay_s
        self.addresses: dict[str, _Address] = {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path", "").rstrip("/") != "/login":
            await self.app(scope, receive, send)
            return
        key = (scope.get("client") or ("unknown",))[0]
        address = self.addresses.setdefault(key, _Address())
        async with address.lock:
            wait = address.not_before - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            status = 0

            async def send_and_watch(message):
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            await self.app(scope, receive, send_and_watch)
            address.last = now = time.monotonic()
            if status == 200:
                address.failures, address.not_before = 0, 0.0
            elif status == 400:  # Gradio's "Incorrect credentials."
                address.failures += 1
                address.not_before = now + min(self.max_delay_s, self.first_delay_s * 2 ** (address.failures - 1))
        self._forget_quiet(time.monotonic())

    def _forget_quiet(self, now: float) -> None:
        for key, address in list(self.addresses.items()):
            if not address.lock.locked() and (address.failures == 0 or now - address.last > FORGET_AFTER_S):
                del self.addresses[key]
