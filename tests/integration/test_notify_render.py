"""Tests of message rendering: every template, masked personal data, escaping, strictness."""

from __future__ import annotations

import pytest

from notifications.contracts import ContractError, to_plain
from notifications.render import ENV, KINDS, Item, Renderer, digest_id
from tests.support.notify import (
    RAW_CARD,
    RAW_EMAIL,
    RAW_ID,
    RAW_NAME,
    RAW_PHONE,
    contracts_for_every_kind,
)

RAW_VALUES = (RAW_NAME, RAW_PHONE, RAW_ID, RAW_CARD, RAW_CARD[-8:], RAW_ID[:14], RAW_PHONE[3:7])


@pytest.mark.parametrize("raw_leak", [False, True], ids=["producer-masked", "producer-leaked"])
@pytest.mark.parametrize("kind", KINDS)
def test_every_template_renders_chinese_text_and_html_without_personal_data(kind: str, raw_leak: bool) -> None:
    """Each kind renders subject, text and HTML with its link and id, and no unmasked value, even if the producer leaked one."""
    context = to_plain(contracts_for_every_kind("DL-2026-000123", raw_leak=raw_leak)[kind])
    out = Renderer().render(Item(kind, context, "abc123"), html=True)
    assert out.html is not None
    for part in (out.subject, out.text, out.html):
        for raw in RAW_VALUES:
            assert raw not in part, f"{raw!r} unmasked in {kind}"
    assert context["link"] in out.text and context["link"] in out.html
    assert "消息编号：abc123" in out.text and "abc123" in out.html
    assert out.subject.startswith("【") and "\n" not in out.subject
    if kind not in ("report_ready", "escalation_digest", "early_warning",
                    "remediation_overdue"):  # about a week, about many cases, about a 整改 item
        assert "DL-2026-000123" in out.subject
    else:
        assert "DL-2026-000123" not in out.subject


def test_free_text_masks_phone_id_card_and_customer_name() -> None:
    """Free text shows 138****5678, the ID's last 4, the card's last 4, and the customer's name as 张**."""
    context = to_plain(contracts_for_every_kind("DL-2026-000123", raw_leak=True)["routed"])
    text = Renderer().render(Item("routed", context, "x"), html=False).text
    assert "138****5678" in text and "**************5917" in text and "***************3445" in text
    assert "投诉人：张**" in text and RAW_EMAIL not in text


def test_html_escapes_context_but_text_does_not() -> None:
    """Markup in a context value is escaped in the HTML e-mail and left as typed in the text one."""
    context = {**to_plain(contracts_for_every_kind("DL-1", raw_leak=False)["routed"]), "request": "<script>x</script>"}
    out = Renderer().render(Item("routed", context, "x"), html=True)
    assert "<script>" in out.text
    assert out.html is not None and "<script>" not in out.html and "&lt;script&gt;" in out.html


def test_stored_context_missing_a_field_is_refused_naming_it_in_chinese() -> None:
    """A stored row whose context lacks a contract field is refused (答复期限 named), not sent blank."""
    context = to_plain(contracts_for_every_kind("DL-1")["routed"])
    del context["due_at"]
    with pytest.raises(ContractError, match="答复期限"):
        Renderer().render(Item("routed", context, "x"), html=False)


def test_stored_context_of_the_old_shape_is_refused() -> None:
    """A row written before the contracts (level_name / lateness) fails with the missing fields named."""
    old = {"case_no": "DL-1", "level": 2, "level_name": "消保办督办", "lateness": "已逾期 1 天", "link": "x"}
    with pytest.raises(ContractError, match="level_title"):
        Renderer().render(Item("escalated", old, "x"), html=False)


def test_one_shared_environment_autoescapes_html_only() -> None:
    """The module's single Environment escapes .html templates and not .txt ones."""
    autoescape = ENV.autoescape
    assert callable(autoescape) and autoescape("x.html") is True and autoescape("x.txt") is False
    assert Renderer().env is ENV


def test_digest_lists_every_item_with_its_id_and_has_a_stable_id() -> None:
    """A digest carries each item's subject, link and id; its own id depends only on the ids it holds."""
    contexts = contracts_for_every_kind("DL-2026-000123", raw_leak=True)
    items = [Item(k, to_plain(contexts[k]), f"id{i}")
             for i, k in enumerate(("routed", "escalated", "escalation_digest"))]
    out = Renderer().render_digest(items, html=True)
    assert "3 条" in out.subject
    for item in items:
        assert f"消息编号：{item.message_id}" in out.text and item.message_id in (out.html or "")
    for raw in RAW_VALUES:
        assert raw not in out.text and raw not in (out.html or "")
    assert digest_id(["a", "b"]) == digest_id(["b", "a"]) != digest_id(["a", "c"])
