"""E-mail over SMTP: plain STARTTLS-upgraded, implicit TLS (SSL) or plain; login optional.

One connection is kept open across sends of a dispatch pass and reopened when the server drops
it. SMTP 4xx replies and connection problems are retried; 5xx replies are permanent (the
mail equivalent of HTTP 4xx).
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr

from notifications.channels.base import DeliveryError, Message
from settings.secrets import SecretRef


@dataclass(frozen=True)
class SmtpSettings:
    host: str = "127.0.0.1"
    port: int = 25
    security: str = "none"  # none | starttls | ssl
    username: str | None = None
    password: SecretRef | None = None
    sender: str = "complaints@localhost"
    timeout: float = 10.0
    message_id_domain: str = "complaints.local"
    ssl_context: ssl.SSLContext | None = None  # None: the system's default trust


def build_email(message: Message, *, sender: str, message_id_domain: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    name, addr = parseaddr(sender)
    mail["From"] = Address(display_name=name, addr_spec=addr) if name else addr
    mail["To"] = message.address
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = f"<{message.message_id}@{message_id_domain}>"
    if len(message.message_ids) > 1:
        mail["X-Complaints-Message-Ids"] = " ".join(message.message_ids)
    mail.set_content(message.text)
    if message.html is not None:
        mail.add_alternative(message.html, subtype="html")
    return mail


class SmtpChannel:
    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        context = s.ssl_context or ssl.create_default_context()
        conn: smtplib.SMTP
        if s.security == "ssl":
            conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            if s.security == "starttls":
                conn.starttls(context=context)
            if s.username:
                if s.password is None:
                    raise DeliveryError(False, "SMTP username set but no password reference")
                conn.login(s.username, s.password.get())
        except BaseException:
            conn.close()
            raise
        return conn

    def send(self, message: Message) -> None:
        """Transfer the message once. A kept-alive connection is probed with NOOP first and
        replaced when the server has closed it; a failure during the transfer itself is never
        resent here (the server may have taken the message before the reply was lost, e.g. a
        read timeout after DATA): it is retryable, and the later attempt carries the same
        Message-ID."""
        mail = build_email(message, sender=self.settings.sender,
                           message_id_domain=self.settings.message_id_domain)
        try:
            if self._conn is not None and not self._alive(self._conn):
                self._drop()
            if self._conn is None:
                self._conn = self._connect()
            self._conn.send_message(mail)
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            raise DeliveryError(True, f"SMTP disconnected: {exc}") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            self._reset()
            raise DeliveryError(all(400 <= c < 500 for c in codes),
                                f"SMTP recipient refused: {codes}") from None
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise DeliveryError(400 <= exc.smtp_code < 500,
                                f"SMTP {exc.smtp_code}: {_text(exc.smtp_error)}") from None
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise DeliveryError(True, f"SMTP {type(exc).__name__}: {exc}") from None

    @staticmethod
    def _alive(conn: smtplib.SMTP) -> bool:
        """Whether a kept-alive connection still answers (servers close idle ones)."""
        try:
            return conn.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def _reset(self) -> None:
        try:
            if self._conn is not None:
                self._conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except OSError:
                pass

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                conn.close()


def _text(raw: bytes | str) -> str:
    return (raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)[:200]
