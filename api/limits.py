"""Limits on what a request may carry, checked before the application parses it.

* body size (default 1 MiB, `COMPLAINTS_MAX_BODY_BYTES`): a `Content-Length` above it is refused
  with 413 before a byte of the body is read; a body without one (chunked) is counted while it
  streams in and refused as soon as it passes the limit;
* JSON bodies: nesting depth (32) and integer size (20 digits) are checked on the raw bytes by a
  scanner that does not recurse, before any parser sees them (`json_problems`): 422 naming the
  limit. A body that is not UTF-8 is 422 as well.

All refusals are in Chinese and name the limit; the API answers with its `Problem` body, the pages
with their error page (`respond` is given by api/app.py).
"""

from __future__ import annotations

import os
import re
from array import array
from collections.abc import Awaitable, Callable, MutableMapping
from itertools import accumulate
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Respond = Callable[[Scope, int, str, list[str]], Awaitable[ASGIApp]]

DEFAULT_MAX_BODY = 1024 * 1024
MAX_DEPTH = 32
MAX_INT_DIGITS = 20
BODY_LABEL = "(body)（请求正文）"

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def _big_int(digits: int) -> re.Pattern[bytes]:
    """An integer (not a fraction's or an exponent's digits) of more than `digits` digits."""
    return re.compile(rb"(?<![0-9.eE+\-])-?[0-9]{%d,}(?![0-9.eE])" % (digits + 1))


_BIG_INT = _big_int(MAX_INT_DIGITS)
# '[' and '{' open (+1), ']' and '}' close (-1); every other byte is dropped.
_BRACKETS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
_OTHER = bytes(set(range(256)) - set(b"[{]}"))


def max_body_bytes(value: int | None = None) -> int:
    """The configured limit: the argument, else COMPLAINTS_MAX_BODY_BYTES, else 1 MiB."""
    if value is not None:
        return value
    env = os.environ.get("COMPLAINTS_MAX_BODY_BYTES", "").strip()
    return int(env) if env.isdigit() and int(env) > 0 else DEFAULT_MAX_BODY


def size_text(n: int) -> str:
    if n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MiB（{n} 字节）"
    if n % 1024 == 0:
        return f"{n // 1024} KiB（{n} 字节）"
    return f"{n} 字节"


def too_large(limit: int) -> tuple[str, list[str]]:
    return (f"请求正文过大：不能超过 {size_text(limit)}，未保存任何数据",
            [f"{BODY_LABEL}：超过大小上限 {size_text(limit)}"])


def json_problems(body: bytes, *, max_depth: int = MAX_DEPTH, max_int_digits: int = MAX_INT_DIGITS) -> list[str]:
    """What makes this JSON body unacceptable before parsing: not UTF-8, nested deeper than
    `max_depth`, or an integer longer than `max_int_digits` digits. Linear, never recursive."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [f"{BODY_LABEL}：不是 UTF-8 编码的文字（第 {exc.start + 1} 个字节起无法解码）"]
    bare = _STRING.sub(b'""', body)  # what is inside strings is neither nesting nor a number
    problems: list[str] = []
    steps = array("b", bare.translate(_BRACKETS, _OTHER))
    depth = max(accumulate(steps), default=0)
    if depth > max_depth:
        problems.append(f"{BODY_LABEL}：JSON 嵌套层数不能超过 {max_depth} 层（本次 {depth} 层）")
    pattern = _BIG_INT if max_int_digits == MAX_INT_DIGITS else _big_int(max_int_digits)
    big = pattern.search(bare)
    if big is not None:
        digits = len(big.group().lstrip(b"-"))
        problems.append(f"{BODY_LABEL}：整数不能超过 {max_int_digits} 位数字（本次 {digits} 位）")
    return problems


def _is_json(scope: Scope) -> bool:
    for k, v in scope.get("headers", ()):
        if k == b"content-type":
            ctype: bytes = v.split(b";", 1)[0].strip().lower()
            return ctype == b"application/json" or ctype.endswith(b"+json")
    return False


def _content_length(scope: Scope) -> int | None:
    for k, v in scope.get("headers", ()):
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None


class BodyLimits:
    """ASGI middleware: the size limit on every body, the JSON limits on JSON bodies (and on every
    body sent to POST /api/complaints, which parses whatever it gets as JSON)."""

    def __init__(self, app: ASGIApp, *, limit: int, respond: Respond, uploads: int | None = None) -> None:
        self.app, self.limit, self.respond = app, limit, respond
        self.uploads = uploads  # an evidence upload (a path ending in /files) may carry this much (policy.yaml)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit
        if self.uploads is not None and str(scope.get("path", "")).endswith("/files"):
            limit = max(limit, self.uploads)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, 413, *too_large(limit))
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, 413, *too_large(limit))
                return
            chunks.append(chunk)
            more = bool(message.get("more_body", False))
        body = b"".join(chunks)
        if body and (_is_json(scope) or scope.get("path", "").rstrip("/") == "/api/complaints"):
            problems = json_problems(body)
            if problems:
                await self._refuse(scope, receive, send, 422, "请求正文超出限制，未保存任何数据", problems)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, detail: str,
                      errors: list[str]) -> None:
        response = await self.respond(scope, status, detail, errors)
        await response(scope, receive, send)
