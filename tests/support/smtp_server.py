"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, with injectable failures."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SmtpInbox:
    messages: list[EmailMessage] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)  # SMTP replies to give instead of 250, in order
    outage: str | None = None  # a reply given to every message until cleared
    reply_delay: float = 0.0  # seconds between keeping a message and replying 250 (a slow relay)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            if self.faults:
                return self.faults.pop(0)
            if self.outage:
                return self.outage
            mail = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
            assert isinstance(mail, EmailMessage)
            mail["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
            self.messages.append(mail)
        if self.reply_delay:
            await asyncio.sleep(self.reply_delay)
        return "250 OK"

    def message_ids(self) -> list[str]:
        with self.lock:
            return [str(m["Message-ID"]).strip("<>").split("@")[0] for m in self.messages]


class _Users:
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (isinstance(auth_data, LoginPassword)
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        return AuthResult(success=ok, handled=False)


def start_smtp(inbox: SmtpInbox, *, tls_context: Any = None, ssl_context: Any = None,
               users: dict[str, str] | None = None, idle_timeout: float | None = None) -> Controller:
    """Start aiosmtpd on 127.0.0.1: plain, STARTTLS (`tls_context`) or implicit TLS (`ssl_context`)."""
    kwargs: dict[str, Any] = {}
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=True)
    if users is not None:
        # aiosmtpd only counts STARTTLS as TLS for AUTH; with implicit TLS the link is encrypted anyway
        kwargs.update(authenticator=_Users(users), auth_required=True, auth_require_tls=ssl_context is None)
    if idle_timeout is not None:  # the server closes a connection idle this long (421, then hang-up)
        kwargs["timeout"] = idle_timeout
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=ssl_context,
                            server_hostname="localhost", **kwargs)
    controller.start()
    inbox.port = controller.port
    return controller
