"""Loopback receivers for a rehearsal: an SMTP server and one HTTP server for the robots.

`complaints demo` starts them so that every notification the system sends is really delivered
(over SMTP and HTTP, through the same channels as in production) and can be read afterwards; the
bank's real mail server and robots are never contacted. The HTTP server answers as each service
does on success: WeCom and DingTalk `{"errcode": 0}`, Feishu `{"code": 0}`, a webhook 200.

`Sinks.environment()` gives the overrides (docs/notifications.md) that point the channels here.
What arrives is kept in memory (`Sinks.received`) and, when a path is given, appended to a JSON
Lines file that people can read.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import asdict, dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

# demo secrets for the signed robots and the webhook (only ever used against these sinks)
DEMO_SECRETS = {
    "COMPLAINTS_DINGTALK_SECRET": "demo-dingtalk-secret",
    "COMPLAINTS_FEISHU_SECRET": "demo-feishu-secret",
    "COMPLAINTS_WEBHOOK_KEY": "demo-webhook-key",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Delivered:
    """One message as it arrived: which channel, to whom, and its text."""

    channel: str  # email, wecom, dingtalk, feishu, webhook
    to: str  # an e-mail address, or the robot's key / token
    subject: str
    text: str
    html: str | None = None


def _email_parts(mail: EmailMessage) -> tuple[str, str | None]:
    text_part = mail.get_body(preferencelist=("plain",))
    html_part = mail.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part is not None else ""
    html = html_part.get_content() if html_part is not None else None
    return str(text), (str(html) if html is not None else None)


def _robot_text(channel: str, body: dict[str, Any]) -> str:
    if channel == "feishu":
        return str(body.get("content", {}).get("text", ""))
    return str(body.get("text", {}).get("content", ""))


@dataclass
class Sinks:
    log_path: Path | None = None
    received: list[Delivered] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    smtp_port: int = 0
    http_port: int = 0
    _smtp: Controller | None = None
    _http: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ what arrived
    def keep(self, item: Delivered) -> None:
        with self.lock:
            self.received.append(item)
            if self.log_path is not None:
                with self.log_path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(asdict(item), ensure_ascii=False) + "\n")

    def snapshot(self) -> list[Delivered]:
        with self.lock:
            return list(self.received)

    # ------------------------------------------------------------------ SMTP (aiosmtpd calls this)
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        mail = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        text, html = _email_parts(mail)
        for to in envelope.rcpt_tos:
            self.keep(Delivered("email", str(to), str(mail["Subject"] or ""), text.strip(), html))
        return "250 OK"

    # ------------------------------------------------------------------ HTTP (the robots and webhooks)
    def _http_post(self, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return 400, {"errcode": 40001, "errmsg": "body is not JSON"}
        if parts.path == "/cgi-bin/webhook/send":  # WeCom
            key = parse_qs(parts.query).get("key", [""])[0]
            self.keep(Delivered("wecom", key, "", _robot_text("wecom", body)))
            return 200, {"errcode": 0, "errmsg": "ok"}
        if parts.path == "/robot/send":  # DingTalk
            token = parse_qs(parts.query).get("access_token", [""])[0]
            self.keep(Delivered("dingtalk", token, "", _robot_text("dingtalk", body)))
            return 200, {"errcode": 0, "errmsg": "ok"}
        if parts.path.startswith("/open-apis/bot/v2/hook/"):  # Feishu
            hook = parts.path.rsplit("/", 1)[1]
            self.keep(Delivered("feishu", hook, "", _robot_text("feishu", body)))
            return 200, {"code": 0, "msg": "success"}
        # anything else is a webhook receiver
        self.keep(Delivered("webhook", f"{self.url}{parts.path}", str(body.get("subject", "")),
                            str(body.get("text", ""))))
        return 200, {"ok": True}

    # ------------------------------------------------------------------ life cycle
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> Sinks:
        sinks = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = sinks._http_post(self.path, raw)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self.http_port = int(self._http.server_address[1])
        threading.Thread(target=self._http.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self._smtp = Controller(self, hostname="127.0.0.1", port=free_port())
        self._smtp.start()
        self.smtp_port = int(self._smtp.port)
        return self

    def stop(self) -> None:
        if self._smtp is not None:
            self._smtp.stop()
            self._smtp = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    def __enter__(self) -> Sinks:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def environment(self) -> dict[str, str]:
        """The channel overrides that deliver every notification to these sinks."""
        return {
            "COMPLAINTS_SMTP_HOST": "127.0.0.1",
            "COMPLAINTS_SMTP_PORT": str(self.smtp_port),
            "COMPLAINTS_SMTP_SECURITY": "none",
            "COMPLAINTS_WECOM_BASE_URL": self.url,
            "COMPLAINTS_DINGTALK_BASE_URL": self.url,
            "COMPLAINTS_FEISHU_BASE_URL": self.url,
            **DEMO_SECRETS,
        }
