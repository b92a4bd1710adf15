"""Render outbox rows into messages: one shared jinja2 Environment, Chinese templates per kind.

Templates live in notifications/templates: `<kind>.txt` (blocks `subject` and `body`; used for
e-mail text and the robots) and `<kind>.html` (block `content`; e-mail only), named from the kind
(`contracts.template_names`). A stored context is rebuilt into its kind's contract
(`contracts.from_plain`) before rendering, so a row that does not fit is refused with a Chinese
error naming the field; StrictUndefined makes a template name the contract lacks an error too
(the row is dead-lettered, not sent half empty).

Producers put masked values into the context; as a second line of defence every string in the
context goes through `mask_free_text` here, and known customer-name keys through `mask_name`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, select_autoescape
from markupsafe import Markup

from domain.masking import DIGEST_KEYS, mask_free_text, mask_name
from notifications.contracts import KINDS, RENDERER_KEYS, from_plain, template_names, to_plain

__all__ = ["KINDS", "Item", "Rendered", "Renderer", "digest_id", "make_environment", "mask_context"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
# context keys that hold a customer's (not a staff member's) name
CUSTOMER_NAME_KEYS = frozenset({"complainant", "complainant_name", "customer", "customer_name", "agent_name"})
DIGEST_TEMPLATES = ("digest.txt", "digest.html")  # several rows in one message (channels.digest)


def make_environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=False,
    )


ENV = make_environment()


def mask_context(value: Any, key: str | None = None) -> Any:
    """Mask every string inside `value` (dicts and lists walked); customer names by key."""
    if isinstance(value, str):
        if key in DIGEST_KEYS:
            return value
        masked = mask_free_text(value)
        return mask_name(masked) if key in CUSTOMER_NAME_KEYS else masked
    if isinstance(value, Mapping):
        return {k: mask_context(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_context(v, key) for v in value]
    return value


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class Item:
    """One outbox row to render."""

    kind: str
    context: Mapping[str, Any]
    message_id: str


def _block(template: Template, name: str, context: dict[str, Any]) -> str:
    return "".join(template.blocks[name](template.new_context(context))).strip()


def digest_id(message_ids: Sequence[str]) -> str:
    """A stable id for a digest: the same rows always give the same id."""
    return "d" + hashlib.sha256("\n".join(sorted(message_ids)).encode()).hexdigest()[:31]


class Renderer:
    def __init__(self, env: Environment = ENV) -> None:
        self.env = env

    def _context(self, item: Item) -> dict[str, Any]:
        """The stored context checked against its contract, masked again, with the message id."""
        plain = to_plain(from_plain(item.kind, item.context))
        context = {k: v for k, v in mask_context(plain).items() if k not in RENDERER_KEYS}
        context["message_id"] = item.message_id
        return context

    def render(self, item: Item, *, html: bool) -> Rendered:
        text_name, html_name = template_names(item.kind)
        text_t = self.env.get_template(text_name)
        context = self._context(item)
        subject = _block(text_t, "subject", context)
        text = text_t.render(context).strip()
        body = None
        if html:
            body = self.env.get_template(html_name).render({**context, "subject": subject})
        return Rendered(subject, text, body)

    def render_digest(self, items: Sequence[Item], *, html: bool) -> Rendered:
        parts: list[dict[str, Any]] = []
        for item in items:
            text_name, html_name = template_names(item.kind)
            text_t = self.env.get_template(text_name)
            context = self._context(item)
            part = {
                "subject": _block(text_t, "subject", context),
                "body": _block(text_t, "body", context),
                "link": context["link"],
                "message_id": item.message_id,
            }
            if html:
                html_t = self.env.get_template(html_name)
                part["content"] = Markup(_block(html_t, "content", {**context, "subject": part["subject"]}))
            parts.append(part)
        subject = f"【汇总】您有 {len(items)} 条投诉处理通知"
        text = self.env.get_template(DIGEST_TEMPLATES[0]).render(items=parts).strip()
        body = self.env.get_template(DIGEST_TEMPLATES[1]).render(items=parts, subject=subject) if html else None
        return Rendered(subject, text, body)
