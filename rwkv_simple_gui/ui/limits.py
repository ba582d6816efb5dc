"""What one request may send, and how much the uploads waiting in Gradio's folder may hold.

Gradio checks each file against ``max_file_size`` but takes up to 1,000 files in one request, and keeps every
upload in its temporary folder until it restarts. This ASGI middleware adds the two missing limits: a
request's body (all its files together) may be at most ``max_request`` bytes (``--max-upload`` plus room for
the form); and once the files uploaded (``POST .../upload``) and still in Gradio's folder hold ``max_total``
bytes, counting the uploads under way, a further upload is refused (507) until they are gone: the Data tab
removes its copy once the file is stored in data/ (``common.store_upload``), and Gradio deletes the rest an
hour after they came (``delete_cache``, ui.app).
"""

from __future__ import annotations

import json
import os


def size_text(n: int) -> str:
    """``n`` bytes in the largest unit that divides it, e.g. "1 GB" (1 KB = 1024 bytes, as Gradio counts)."""
    for unit, size in (("TB", 1 << 40), ("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if n % size == 0:
            return f"{n // size} {unit}"
    return f"{n} B"


FORM_ROOM = 64 << 10  # the multipart framing and form fields around the files of one request


class UploadLimit:
    def __init__(self, app, max_request: int, max_total: int):
        self.app = app
        self.max_request, self.max_total = max_request, max_total
        self.uploaded: set[str] = set()  # the files uploads left in Gradio's folder (some may be gone)
        self.under_way = 0  # the bytes of uploads being received now

    def waiting(self) -> int:
        """The bytes of the uploaded files still there (those gone are forgotten)."""
        total = 0
        for path in list(self.uploaded):
            try:
                total += os.stat(path).st_size
            except OSError:
                self.uploaded.discard(path)
        return total

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        try:
            length = int(headers.get(b"content-length", b""))
        except ValueError:
            length = None
        limit = size_text(self.max_request - FORM_ROOM)
        if length is not None and length > self.max_request:
            await _answer(send, 413, f"The request is larger than the limit of {limit} for all its files together "
                                     f"(app.py --max-upload).")
            return
        if scope.get("path", "").rstrip("/").endswith("/upload"):
            await self._upload(scope, receive, send, length or self.max_request)
            return
        await self._counted(scope, receive, send)

    async def _upload(self, scope, receive, send, length: int) -> None:
        """An upload, counted against ``max_total`` while it is received and, after, by the files it left."""
        if self.waiting() + self.under_way + length > self.max_total:
            await _answer(send, 507, f"The app holds {size_text(self.max_total)} of uploads that are not stored yet: "
                                     "try again in a few minutes (unclaimed uploads are deleted after an hour).")
            return
        body = []

        async def watch(message):
            if message["type"] == "http.response.body":
                body.append(message.get("body", b""))
            await send(message)

        self.under_way += length
        try:
            await self._counted(scope, receive, watch)
        finally:
            self.under_way -= length
        try:
            self.uploaded.update(p for p in json.loads(b"".join(body)) if isinstance(p, str))
        except (ValueError, TypeError):  # a refused upload answers with text
            pass

    async def _counted(self, scope, receive, send) -> None:
        """The request, cut off with a 413 when its body (sent without a length) grows past ``max_request``."""
        limit = size_text(self.max_request - FORM_ROOM)
        received, over, started = 0, False, False

        async def counted():
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_request:  # a body sent without its length
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message):
            nonlocal started
            if over:  # what the app says after its body was cut is replaced by the 413 below
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await _answer(send, 413, f"The request is larger than the limit of {limit} for all its files together "
                                     f"(app.py --max-upload).")


async def _answer(send, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
