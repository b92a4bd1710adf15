"""The `audit-anchor` flow (hourly, prefect.yaml): verify the chain from the last verified anchor,
and every complaint row against its last event, then sign the head and append it to the anchor file
(outside the database), as a Prefect artifact too.

A broken chain, or a complaint row edited behind the chain, is not anchored: the run fails naming
the first problem (an anchor over a rewritten chain would vouch for the rewrite). The row check
reads every complaint row once an hour in the background, which the auditor's page (incremental,
answering at once) does not.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from sqlalchemy import Engine

from models.anchors import (
    anchor_file,
    key_from_env,
    make_anchor,
    require_signing,
    verify_with_anchors,
)
from models.db import make_engine


class ChainBroken(RuntimeError):
    """`audit verify` found a problem; the chain head is not anchored."""


def anchor_now(engine: Engine, now: datetime, *, source: str = "schedule") -> dict[str, Any]:
    """Verify (the chain incrementally, every complaint row against its last event), then anchor the
    head; the plain function the flow and tests call."""
    key = key_from_env()
    require_signing(key)
    path = anchor_file()
    result = verify_with_anchors(engine, key=key, rows=True)
    if not result.ok:
        raise ChainBroken(f"审计链校验失败，未写锚点：{result.problem}")
    anchor = make_anchor(engine, key, source, now, path)
    return {**anchor.as_json(), "file": str(path), "checked": result.checked, "from_seq": result.from_seq}


@flow(name="audit-anchor", log_prints=False)
def audit_anchor() -> dict[str, Any]:
    """Sign the audit chain's head (after an incremental verify) and append it to the anchor file."""
    logger = get_run_logger()
    engine = make_engine()
    try:
        out = anchor_now(engine, datetime.now(UTC))
    finally:
        engine.dispose()
    create_markdown_artifact(
        key="audit-anchor", description="审计链锚点",
        markdown=(f"**审计链锚点**：第 {out['seq']} 条，哈希 `{out['hash']}`\n\n"
                  f"时间 {out['at']} · 签名 `{out['sig'] or '未签名（未配置 COMPLAINTS_ANCHOR_KEY）'}` · 文件 {out['file']}"))
    logger.info("audit anchor seq %d hash %s (verified %d rows from seq %d)", out["seq"], out["hash"][:16],
                out["checked"], out["from_seq"])
    return out
