"""The weekly report's HTML, rendered once when a version is frozen and served from here (0011).

One row per frozen snapshot: the page exactly as rendered at the freeze and the sha256 of its
UTF-8 bytes, so the web serves a stored page (1.9 MB at 1M complaints rendered in ~0.35 s on every
request before) and `report verify` checks the page against its digest.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Text, select
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from models.report import SNAP
from models.sqlutil import table_of


class ReportHtml(SQLModel, table=True):
    """The rendered page of one report snapshot (version) and its sha256."""

    __tablename__ = "report_html"

    snapshot_id: int = Field(primary_key=True, foreign_key="report_snapshot.id")
    sha256: str = Field(max_length=64)  # of the UTF-8 bytes of `html`
    html: str = Field(sa_type=Text)


HTML = table_of(ReportHtml)


def html_digest(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def snapshot_id(session: Session, week: str, version: int) -> int:
    return int(session.execute(select(SNAP.c.id).where(SNAP.c.week == week, SNAP.c.version == version)).scalar_one())


def store_html(session: Session, snapshot: int, html: str) -> str:
    """Keep the page of snapshot `snapshot` (written once: a frozen version's page never changes)."""
    sha = html_digest(html)
    session.execute(HTML.insert(), [{"snapshot_id": snapshot, "sha256": sha, "html": html}])
    return sha


def stored_html(session: Session, snapshot: int) -> tuple[str, str] | None:
    """(html, sha256) kept for the snapshot, or None (frozen before 0011)."""
    row = session.execute(select(HTML.c.html, HTML.c.sha256).where(HTML.c.snapshot_id == snapshot)).first()
    return (str(row.html), str(row.sha256)) if row is not None else None


def latest_html(session: Session, week: str) -> str | None:
    """The stored page of the week's newest version, or None."""
    newest = select(SNAP.c.id).where(SNAP.c.week == week).order_by(SNAP.c.version.desc()).limit(1).scalar_subquery()
    return session.execute(select(HTML.c.html).where(HTML.c.snapshot_id == newest)).scalar_one_or_none()
