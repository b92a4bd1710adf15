"""The one jinja2 Environment of the pages: autoescaped, with filters for dates and names."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from api.serialize import local_filter
from domain.deadlines import local_text
from domain.field_names import PERSON_FIELDS
from domain.idcard import ID_TYPE_NAMES
from domain.lifecycle import STATUS_NAMES, Status
from domain.taxonomy import (
    SEVERITY_NAMES,
    SOURCE_NAMES,
    TAG_NAMES,
    Dimension,
    SensitiveTag,
    Severity,
    Source,
    name_of,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"

ACTION_NAMES = {
    "password_changed": "修改密码",
    "received": "受理登记", "routed": "分派", "acknowledged": "确认受理", "responded": "答复", "closed": "办结",
    "withdrawn": "撤诉", "review_opened": "核查", "reopened": "重新处理", "clock_paused": "暂停计时",
    "clock_resumed": "恢复计时", "clock_restarted": "新事实重新计时", "extension_approved": "延期",
    "escalated": "督办升级", "escalation_acknowledged": "确认督办", "viewed_personal_data": "查看个人信息",
    "assigned": "指派",
    "evidence_attached": "上传证据文件", "note_added": "添加备注", "contact_logged": "联系投诉人", "transferred": "转办",
    "returned_to_triage": "退回消保办分拣", "exported": "导出列表",
    "callback_recorded": "回访", "remediation_opened": "发起整改", "remediation_escalated": "整改逾期督办",
    "remediation_closed": "整改销号",
}
NOTICE_NAMES = {"written": "书面", "sms": "短信", "email": "电子邮件", "phone": "电话"}
TIER_NAMES = {"standard": "一般（15 日）", "complex": "复杂（延至 30 日）", "special": "特殊（延至 60 日）"}
COMPLAINANT_TYPES = {"individual": "个人", "company": "单位"}
ID_TYPE_LABELS = {t.value: name for t, name in ID_TYPE_NAMES.items()}
SYSTEM_ACTORS = {"escalation": "系统督办", "intake": "系统分派", "desk": "受理岗", "weekly-report": "系统周报",
                 "cli": "命令行", "demo": "演示", "system": "系统"}
OUTBOX_KINDS = {"routed": "分派通知", "escalated": "督办通知", "escalation_digest": "督办汇总",
                "extension_requested": "延期审批请求", "extension_approved": "延期批准通知",
                "review_opened": "核查通知", "report_ready": "周报生成通知", "ack_due": "确认受理提醒"}
CHANNEL_NAMES = {"email": "电子邮件", "wecom": "企业微信", "dingtalk": "钉钉", "feishu": "飞书", "webhook": "Webhook"}
VIA_NAMES = {"web": "网页", "web-letter": "打印处理决定书", "api": "接口", "cli": "命令行"}


def _when(value: Any) -> str:
    """An audit value that is an instant (ISO text or datetime) as Beijing time; '' otherwise."""
    if isinstance(value, datetime):
        return local_text(value)
    if isinstance(value, str):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            return ""
        return local_text(at) if at.utcoffset() is not None else ""
    return ""


def _d(values: Any) -> Mapping[str, Any]:
    return values if isinstance(values, Mapping) else {}


def _outcome_words(after: Mapping[str, Any]) -> str:
    """投诉部分成立，退还费用 200.00 元 (docs/governance.md); '' for a response recorded without one."""
    from domain.governance import OUTCOME_NAMES, REDRESS_NAMES, Outcome, Redress

    try:
        words = f"投诉{OUTCOME_NAMES[Outcome(str(after.get('outcome')))]}"
    except ValueError:
        return ""
    if after.get("redress_type") in {r.value for r in Redress}:
        words += f"，{REDRESS_NAMES[Redress(str(after['redress_type']))]}"
        if after.get("redress_amount"):
            words += f" {after['redress_amount']} 元"
    return words


def _callback_words(after: Mapping[str, Any]) -> str:
    from domain.governance import (
        CALLBACK_RESULT_NAMES,
        SATISFACTION_NAMES,
        CallbackResult,
        Satisfaction,
    )

    words = f"回访（第 {after.get('attempts', '—')} 次）"
    try:
        result = CallbackResult(str(after.get("result")))
        words += "：未接通" if result is CallbackResult.PENDING else f"：{CALLBACK_RESULT_NAMES[result]}"
    except ValueError:
        pass
    if after.get("satisfaction") in {s.value for s in Satisfaction}:
        words += f"，{SATISFACTION_NAMES[Satisfaction(str(after['satisfaction']))]}"
    if after.get("followup") == "reopen":
        words += "，转重新处理"
    elif after.get("followup") == "review":
        words += "，转核查"
    return words


def describe_event(ev: Mapping[str, Any], people: Mapping[str, Any] | None = None) -> str:
    """One audit event as a Chinese sentence; `before`/`after` may be None or lack any key."""
    before, after = _d(ev.get("before")), _d(ev.get("after"))
    action = str(ev.get("action", ""))
    detail = str(ev.get("detail") or "")
    people = people or {}

    def who(pid: Any) -> str:
        p = people.get(pid) if isinstance(pid, str) else None
        return str(getattr(p, "name", pid)) if pid else "—"

    def due() -> str:
        at = _when(after.get("regulatory_due_at"))
        return f"答复期限 {at}" if at else ""

    parts: list[str] = []
    if action == "received":
        parts.append("登记受理")
        if after.get("source"):
            parts.append(f"来源：{_source(str(after['source']))}")
        if due():
            parts.append(due())
    elif action == "routed":
        parts.append("转消保办分拣" if after.get("triage") else "分派")
        if after.get("handler"):
            parts.append(f"承办人：{who(after['handler'])}")
        if detail:
            parts.append(detail)
    elif action == "assigned":
        parts.append(f"指派承办人：{who(before.get('handler'))} → {who(after.get('handler'))}")
    elif action == "clock_paused":
        parts.append("暂停计时")
        if after.get("reason"):
            parts.append(f"原因：{after['reason']}")
        if after.get("evidence"):
            parts.append(f"凭证：{after['evidence']}")
        if _when(after.get("at")):
            parts.append(f"自 {_when(after.get('at'))} 起")
    elif action == "clock_resumed":
        parts.append("恢复计时")
        if _when(after.get("at")):
            parts.append(f"于 {_when(after.get('at'))}")
        if after.get("paused_days"):
            parts.append(f"累计中止 {after['paused_days']} 日")
        if due():
            parts.append(due())
    elif action == "clock_restarted":
        parts.append("收到新的事实或理由，重新计时")
        if _when(after.get("clock_started_at")):
            parts.append(f"自 {_when(after.get('clock_started_at'))} 起算")
        if due():
            parts.append(due())
    elif action == "extension_approved":
        parts.append(f"延期：{TIER_NAMES.get(str(before.get('tier')), '—')} → {TIER_NAMES.get(str(after.get('tier')), '—')}")
        if after.get("approver"):
            parts.append(f"批准人：{who(after['approver'])}")
        if after.get("approver_org"):
            parts.append(f"批准机构：{after['approver_org']}")
        if after.get("approval_ref"):
            parts.append(f"文号：{after['approval_ref']}")
        if due():
            parts.append(due())
        if after.get("customer_told_via"):
            told = _when(after.get("customer_told_at"))
            parts.append(f"已于 {told} 以{NOTICE_NAMES.get(str(after['customer_told_via']), '—')}方式告知投诉人")
        if detail:
            parts.append(f"理由：{detail}")
    elif action == "acknowledged":
        parts.append("确认受理")
    elif action == "responded":
        parts.append("答复投诉人（处理决定）")
        if _when(after.get("responded_at")):
            parts.append(f"告知时间 {_when(after.get('responded_at'))}")
        via = detail.removeprefix("told via ").strip()
        if via in NOTICE_NAMES:
            parts.append(f"告知方式：{NOTICE_NAMES[via]}")
        parts.append(_outcome_words(after))
    elif action == "closed":
        parts.append("办结")
        if detail:
            parts.append(detail)
    elif action == "callback_recorded":
        parts.append(_callback_words(after))
    elif action == "withdrawn":
        parts.append("投诉人撤回投诉，当日终止处理")
    elif action == "reopened":
        parts.append("重新处理")
        if detail:
            parts.append(f"理由：{detail}")
    elif action == "review_opened":
        parts.append("投诉人申请核查（第二十条），转上级机构核查")
    elif action == "escalated":
        level = after.get("level")
        parts.append(f"督办升级 L{level} {after.get('name', '')}".rstrip() if level is not None else "督办升级")
        recipients = after.get("recipients")
        if isinstance(recipients, list) and recipients:
            parts.append("通知：" + "、".join(who(r) for r in recipients))
        if detail:
            parts.append(detail)
    elif action == "escalation_acknowledged":
        parts.append(f"确认督办 L{after.get('level', '')}")
    elif action in ("transferred", "returned_to_triage"):
        parts.append(f"{ACTION_NAMES[action]}：{before.get('department') or '—'} → {after.get('department') or '—'}"
                     + (f"（承办人 {who(after['handler'])}）" if after.get("handler") else "（由部门负责人指派）"))
        if detail:
            parts.append(f"理由：{detail}")
    elif action == "viewed_personal_data":
        via = detail.split(":", 1)[0].strip()
        parts.append(f"查看完整个人信息（{VIA_NAMES.get(via, '—')}，已记入审计）")
    else:
        parts.append(ACTION_NAMES.get(action, action))
        if detail:
            parts.append(detail)
    return "，".join(p for p in parts if p)


def status_change(ev: Mapping[str, Any]) -> str:
    """'已分派 → 已确认' when the event moved the status, else ''."""
    before, after = _d(ev.get("before")), _d(ev.get("after"))
    b, a = before.get("status"), after.get("status")
    if not a or not b or a == b:
        return ""
    return f"{_status(str(b))} → {_status(str(a))}"


def actor_name(actor: Any, people: Mapping[str, Any] | None = None) -> str:
    if not actor:
        return "—"
    text = str(actor)
    if text in SYSTEM_ACTORS:
        return SYSTEM_ACTORS[text]
    person = (people or {}).get(text)
    return str(getattr(person, "name", text))


def _status(value: str) -> str:
    try:
        return STATUS_NAMES[Status(value)]
    except ValueError:
        return value


def _severity(value: str) -> str:
    try:
        return SEVERITY_NAMES[Severity(value)]
    except ValueError:
        return value


def _source(value: str) -> str:
    try:
        return SOURCE_NAMES[Source(value)]
    except ValueError:
        return value


def _tag(value: str) -> str:
    try:
        return TAG_NAMES[SensitiveTag(value)]
    except ValueError:
        return value


def _term(code: str | None, dimension: str) -> str:
    if not code:
        return "—"
    try:
        return name_of(Dimension(dimension), code)
    except KeyError:
        return code


def build_env() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    filters: dict[str, Any] = {
        "local": local_filter, "status_name": _status, "severity_name": _severity, "source_name": _source,
        "tag_name": _tag, "term": _term, "action_name": lambda a: ACTION_NAMES.get(a, a),
        "notice_name": lambda v: NOTICE_NAMES.get(v, v), "field_name": lambda k: PERSON_FIELDS.get(k, k),
        "tier_name": lambda v: TIER_NAMES.get(v, v), "complainant_type": lambda v: COMPLAINANT_TYPES.get(v, v),
        "id_type_name": lambda v: ID_TYPE_LABELS.get(v, v),
        "kind_name": lambda v: OUTBOX_KINDS.get(v, v), "channel_name": lambda v: CHANNEL_NAMES.get(v, v),
        "describe": describe_event, "status_change": status_change, "actor_name": actor_name,
    }
    env.filters.update(filters)
    return env


ENV = build_env()
