"""The Chinese name of every field of a submission (and of the people in it): one table.

Validation errors name a field by its machine path and this name
(`complainant.phone（投诉人联系电话）`); the web pages label the same fields from the same table
(api/render.py's `field_name` filter).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

COMPLAINT_FIELDS: Mapping[str, str] = {
    "external_ref": "外部编号",
    "received_at": "接收时间",
    "backdate_reason": "补录理由",
    "source": "投诉来源",
    "channel": "办理渠道",
    "category": "业务类别",
    "cause": "投诉原因",
    "severity": "严重程度",
    "group_size": "涉及人数",
    "tags": "敏感标签",
    "vulnerable": "特殊群体",
    "vulnerable_note": "特殊群体说明",
    "branch": "受理机构",
    "outlet": "网点",
    "complainant": "投诉人",
    "agent": "代理人",
    "respondent": "被投诉对象",
    "request": "投诉请求",
    "facts": "事实和理由",
}

PERSON_FIELDS: Mapping[str, str] = {
    "type": "类型",
    "name": "姓名",
    "phone": "联系电话",
    "id_type": "证件类型",
    "id_number": "证件号码",
    "email": "电子邮箱",
    "address": "联系地址",
    "credit_code": "统一社会信用代码",
    "legal_representative": "法定代表人",
    "authorization": "授权委托书",
}

PERSON_PARENTS = frozenset({"complainant", "agent"})
ITEM_LABEL = "投诉"


def person_field(key: str) -> str:
    """The name of a complainant's or agent's field (the key itself when unknown)."""
    return PERSON_FIELDS.get(key, key)


def field_label(loc: Sequence[str | int]) -> str | None:
    """The Chinese name of a field at a path in a submission, None for a field the schema lacks.

    ("complainant", "phone") → 投诉人联系电话, ("tags", 1) → 敏感标签第 2 项, () → 投诉.
    """
    if not loc:
        return ITEM_LABEL
    head, rest = loc[0], list(loc[1:])
    if not isinstance(head, str) or head not in COMPLAINT_FIELDS:
        return None
    label = COMPLAINT_FIELDS[head]
    if rest and head in PERSON_PARENTS:
        key = rest.pop(0)
        if not isinstance(key, str) or key not in PERSON_FIELDS:
            return None
        label += PERSON_FIELDS[key]
    for part in rest:
        if not isinstance(part, int):
            return None
        label += f"第 {part + 1} 项"
    return label


# The fields of the case actions, the escalation acknowledgement and the API's own inputs, named
# the way their refusals name them: `approver（批准人）：…` (machine name as the CLI/API spells it).
ACTION_FIELDS: Mapping[str, str] = {
    "case": "案件",
    "status": "状态",
    "clock": "计时",
    "to": "延期档次",
    "approver": "批准人",
    "approver-org": "批准机构",
    "approval-ref": "批准文号",
    "reason": "理由",
    "customer-told-at": "告知投诉人时间",
    "customer-told-via": "告知投诉人方式",
    "evidence": "凭证编号",
    "at": "时间",
    "requested-at": "申请时间",
    "verified": "核实情况",
    "basis": "依据和理由",
    "remedies": "救济途径",
    "told-via": "告知方式",
    "told-at": "告知时间",
    "handler": "承办人",
    "level": "督办级别",
    "by": "确认人",
    "url": "网址",
    "(body)": "请求正文",
    "Idempotency-Key": "幂等键",
    "week": "报告周",
    "table": "表",
    "password": "密码",
    "file": "文件",
    "ids": "编号",
    "authorization": "身份认证",
    "csrf": "页面令牌",
    "role": "角色",
}


def path_label(path: str) -> str | None:
    """The Chinese name of a field by its machine name: an action's (`told-at`, `told_at`) or a
    submission's path (`complainant.phone`, `tags[1]`); None when unknown."""
    name = ACTION_FIELDS.get(path) or ACTION_FIELDS.get(path.replace("_", "-"))
    if name:
        return name
    loc: list[str | int] = []
    for part in path.replace("]", "").split("."):
        head, *indexes = part.split("[")
        if not head and not loc:
            return None
        if head:
            loc.append(head)
        for index in indexes:
            if not index.isdigit():
                return None
            loc.append(int(index))
    return field_label(loc) if loc else None


def refusal(field: str, message: str) -> str:
    """One refused input as people read it: `approver（批准人）：…` (the machine name kept first)."""
    name = path_label(field)
    return f"{field}（{name}）：{message}" if name else f"{field}：{message}"
