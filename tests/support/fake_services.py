"""One loopback HTTP server standing in for WeCom, DingTalk, Feishu and a signed-webhook receiver.

Each endpoint checks what the real service checks (the robot key, DingTalk's signed URL, Feishu's
signed body, our webhook's HMAC header) and answers as the real service does, including the
error code in a 200 body. Faults can be injected per service: HTTP 500/429/400, a response
slower than the client's timeout, or a robot error code. Everything accepted is recorded, and
the message ids carried are counted so a test can see any duplicate.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MESSAGE_ID_LINE = re.compile(r"消息编号：(\w+)")


@dataclass
class Received:
    service: str
    address: str
    text: str
    message_ids: list[str]
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeServices:
    wecom_keys: set[str] = field(default_factory=set)
    dingtalk_secrets: dict[str, str] = field(default_factory=dict)  # access token → secret
    feishu_secrets: dict[str, str] = field(default_factory=dict)  # hook token → secret
    webhook_key: bytes = b"test-webhook-key"
    slow_seconds: float = 1.0
    received: list[Received] = field(default_factory=list)
    faults: dict[str, list[str]] = field(default_factory=dict)  # service → faults to apply next, in order
    outage: dict[str, str] = field(default_factory=dict)  # service → fault applied until cleared
    requests: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------ life cycle
    def start(self) -> FakeServices:
        services = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the real services
            disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                status, body = services.handle(self.path, dict(self.headers.items()), raw)
                if status == 0:  # timeout fault: answer too late, after the client gave up
                    return
                data = json.dumps(body, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def webhook_url(self, name: str = "inbox") -> str:
        return f"{self.url}/hooks/{name}"

    # ------------------------------------------------------------------ what a test reads
    def ids(self, service: str | None = None) -> Counter[str]:
        with self.lock:
            return Counter(i for r in self.received if service in (None, r.service) for i in r.message_ids)

    def duplicates(self) -> dict[str, int]:
        return {k: n for k, n in self.ids().items() if n > 1}

    def fail_next(self, service: str, *faults: str) -> None:
        with self.lock:
            self.faults.setdefault(service, []).extend(faults)

    # ------------------------------------------------------------------ the services
    def _fault(self, service: str) -> str | None:
        with self.lock:
            self.requests[service] += 1
            queued = self.faults.get(service)
            if queued:
                return queued.pop(0)
            return self.outage.get(service)

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/cgi-bin/webhook/send":
            service = "wecom"
        elif parts.path == "/robot/send":
            service = "dingtalk"
        elif parts.path.startswith("/open-apis/bot/v2/hook/"):
            service = "feishu"
        elif parts.path.startswith("/hooks/"):
            service = "webhook"
        else:
            return 404, {"error": "not found"}
        fault = self._fault(service)
        if fault == "timeout":
            time.sleep(self.slow_seconds)
            return 0, {}
        if fault is not None and fault.isdigit():
            return int(fault), {"error": f"injected {fault}"}
        body = json.loads(raw.decode("utf-8"))
        if fault == "errcode":
            if service == "feishu":
                return 200, {"code": 9499, "msg": "injected error", "data": {}}
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit (injected)"}
        handler = {"wecom": self._wecom, "dingtalk": self._dingtalk, "feishu": self._feishu,
                   "webhook": self._webhook}[service]
        return handler(parts.path, query, headers, raw, body)

    def _record(self, service: str, address: str, text: str, ids: list[str], headers: dict[str, str],
                body: dict[str, Any]) -> None:
        with self.lock:
            self.received.append(Received(service, address, text, ids, headers, body))

    def _wecom(self, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes,
               body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        key = query.get("key", "")
        if key not in self.wecom_keys:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        if body.get("msgtype") != "text" or len(body["text"]["content"].encode()) > 2048:
            return 200, {"errcode": 40008, "errmsg": "invalid message type or content too long"}
        text = body["text"]["content"]
        self._record("wecom", key, text, MESSAGE_ID_LINE.findall(text), headers, body)
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _dingtalk(self, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes,
                  body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        token = query.get("access_token", "")
        secret = self.dingtalk_secrets.get(token)
        if secret is None:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        timestamp = query.get("timestamp", "")
        expected = base64.b64encode(
            hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
        ).decode()
        # parse_qs has already URL-decoded `sign`, as DingTalk does
        if not timestamp.isdigit() or abs(time.time() * 1000 - int(timestamp)) > 3_600_000:
            return 200, {"errcode": 310000, "errmsg": "timestamp expired"}
        if not hmac.compare_digest(query.get("sign", ""), expected):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        text = body["text"]["content"]
        self._record("dingtalk", token, text, MESSAGE_ID_LINE.findall(text), headers, body)
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _feishu(self, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes,
                body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        token = path.rsplit("/", 1)[1]
        secret = self.feishu_secrets.get(token)
        if secret is None:
            return 200, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
        timestamp = str(body.get("timestamp", ""))
        expected = base64.b64encode(
            hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
        ).decode()
        if (not timestamp.isdigit() or abs(time.time() - int(timestamp)) > 3600
                or not hmac.compare_digest(str(body.get("sign", "")), expected)):
            return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
        text = body["content"]["text"]
        self._record("feishu", token, text, MESSAGE_ID_LINE.findall(text), headers, body)
        return 200, {"code": 0, "msg": "success", "data": {}}

    def _webhook(self, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes,
                 body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        timestamp = headers.get("X-Complaints-Timestamp", "")
        expected = "sha256=" + hmac.new(self.webhook_key, timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get("X-Complaints-Signature", ""), expected):
            return 401, {"error": "bad signature"}
        if headers.get("X-Complaints-Message-Id") != body.get("message_id"):
            return 400, {"error": "message id header and body differ"}
        self._record("webhook", path, body["text"], list(body["message_ids"]), headers, body)
        return 200, {"ok": True}
