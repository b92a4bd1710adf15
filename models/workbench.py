"""The handler's workbench beside the case row (issue 14): evidence files, internal notes and the
contact log (Art. 21 proof of notice). Rows are append-only records of the case; each has its
audit event (`evidence_attached`, `note_added`, `contact_logged`), and an evidence file's SHA-256
is in that event's `after`, so `audit verify` can re-hash the stored bytes (`evidence_check`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Engine, Index, Text, select
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel

from domain.masking import mask_free_text
from models.evidence_store import EvidenceStore
from models.sqlutil import table_of

CONTACT_CHANNELS = {"phone": "电话", "sms": "短信", "email": "电子邮件", "written": "书面", "visit": "面谈",
                    "wecom": "企业微信"}
CONTACT_OUTCOMES = {"reached": "已联系上", "notified": "已告知处理决定", "left_message": "已留言",
                    "unreachable": "未联系上", "refused": "投诉人拒绝沟通"}


class EvidenceFile(SQLModel, table=True):
    """One file attached to a case; its bytes are in the evidence store under `sha256`."""

    __tablename__ = "evidence_file"
    __table_args__ = (Index("ix_evidence_file_complaint", "complaint_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id")
    sha256: str = Field(max_length=64)
    size: int
    content_type: str = Field(max_length=128)
    filename: str = Field(max_length=255)
    description: str = Field(default="", max_length=256)
    uploaded_at: datetime
    actor: str = Field(max_length=64)


class CaseNote(SQLModel, table=True):
    """An internal note on a case (never sent to the complainant; searched by the search work)."""

    __tablename__ = "case_note"
    __table_args__ = (Index("ix_case_note_complaint", "complaint_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id")
    text: str = Field(sa_type=Text)
    at: datetime
    actor: str = Field(max_length=64)


class CaseContact(SQLModel, table=True):
    """One contact with the complainant: when, how, who, what was said, the outcome (Art. 21)."""

    __tablename__ = "case_contact"
    __table_args__ = (Index("ix_case_contact_complaint", "complaint_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    complaint_id: int = Field(foreign_key="complaint.id")
    at: datetime
    channel: str = Field(max_length=16)
    person: str = Field(max_length=64)
    summary: str = Field(sa_type=Text)
    outcome: str = Field(max_length=16)
    evidence_file_id: int | None = Field(default=None, foreign_key="evidence_file.id")
    recorded_at: datetime
    actor: str = Field(max_length=64)


FILE = table_of(EvidenceFile)
NOTE = table_of(CaseNote)
CONTACT = table_of(CaseContact)


def files_of(session: Session, complaint_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(FILE).where(FILE.c.complaint_id == complaint_id).order_by(FILE.c.id)).all()
    return [dict(r._mapping) for r in rows]


def file_row(session: Session, file_id: int) -> Any:
    return session.execute(select(FILE).where(FILE.c.id == file_id)).first()


def notes_of(session: Session, complaint_id: int, *, names: Sequence[str] = (), unmask: bool = False
             ) -> list[dict[str, Any]]:
    """The case's notes, oldest first; the text masked (the case's names too) unless `unmask`."""
    rows = session.execute(select(NOTE).where(NOTE.c.complaint_id == complaint_id).order_by(NOTE.c.id)).all()
    out = [dict(r._mapping) for r in rows]
    if not unmask:
        for n in out:
            n["text"] = mask_free_text(n["text"], names=names)
    return out


def contacts_of(session: Session, complaint_id: int, *, names: Sequence[str] = (), unmask: bool = False
                ) -> list[dict[str, Any]]:
    """The contact log, in the order the contacts happened; the summary masked unless `unmask`."""
    rows = session.execute(select(CONTACT).where(CONTACT.c.complaint_id == complaint_id)
                           .order_by(CONTACT.c.at, CONTACT.c.id)).all()
    out = [dict(r._mapping) for r in rows]
    for c in out:
        c["channel_name"] = CONTACT_CHANNELS.get(c["channel"], c["channel"])
        c["outcome_name"] = CONTACT_OUTCOMES.get(c["outcome"], c["outcome"])
        if not unmask:
            c["summary"] = mask_free_text(c["summary"], names=names)
    return out


class FilesCheck(NamedTuple):
    """What `evidence_check` found: files re-hashed, files not re-hashed (recorded at or before the
    verified anchor the incremental verify starts from), and the first problem (case number, Chinese)."""

    checked: int
    skipped: int
    case_no: str | None
    problem: str | None


def evidence_check(engine: Engine, store: EvidenceStore, *, after_seq: int = 0) -> FilesCheck:
    """Every attached file against the SHA-256 its `evidence_attached` audit event recorded: the
    evidence row must still say that digest (every file: a query), and the stored bytes must still
    hash to it (re-hashed only for files whose event lies after `after_seq`: the incremental
    verify's start; 0 re-hashes all). Bytes shared by several files are re-hashed once."""
    from models.audit_chain import AUDIT

    with Session(engine) as s:
        files = {int(r.id): r for r in s.execute(select(FILE.c.id, FILE.c.sha256, FILE.c.complaint_id)).all()}
        if not files:
            return FilesCheck(0, 0, None, None)
        cases = sorted({int(r.complaint_id) for r in files.values()})
        recorded: dict[int, tuple[str, str | None, int]] = {}
        for i in range(0, len(cases), 500):
            chunk = cases[i:i + 500]
            for ev in s.execute(select(AUDIT.c.seq, AUDIT.c.case_no, AUDIT.c.after)
                                .where(AUDIT.c.complaint_id.in_(chunk), AUDIT.c.action == "evidence_attached")):
                after = ev.after or {}
                if isinstance(after, dict) and "file_id" in after:
                    recorded[int(after["file_id"])] = (str(after.get("sha256", "")), ev.case_no, int(ev.seq))
    checked = skipped = 0
    hashed: dict[str, str | None] = {}
    for fid, r in sorted(files.items()):
        want = recorded.get(fid)
        if want is None:
            return FilesCheck(checked, skipped, None,
                              f"证据文件 {fid} 没有对应的审计事件（evidence_attached）：文件记录被绕过审计写入")
        digest, case_no, seq = want
        if r.sha256 != digest:
            return FilesCheck(checked, skipped, case_no, f"案件 {case_no} 的证据文件 {fid} 的记录摘要与审计事件"
                                                         f"（第 {seq} 条）不符：证据表被直接改动")
        if seq <= after_seq:
            skipped += 1
            continue
        if digest not in hashed:
            hashed[digest] = store.rehash(digest)
        now = hashed[digest]
        if now is None:
            return FilesCheck(checked, skipped, case_no,
                              f"案件 {case_no} 的证据文件 {fid}（SHA-256 {digest[:12]}…）在存储中已不存在")
        if now != digest:
            return FilesCheck(checked, skipped, case_no, f"案件 {case_no} 的证据文件 {fid} 的内容已被改动：存储的字节的"
                                                         f" SHA-256 为 {now[:12]}…，审计事件（第 {seq} 条）记录的是 "
                                                         f"{digest[:12]}…")
        checked += 1
    return FilesCheck(checked, skipped, None, None)


def files_problem(engine: Engine, store: EvidenceStore) -> tuple[int, str | None, str | None]:
    """(files checked, case number of the first problem, the problem in Chinese): `evidence_check`
    re-hashing every file (what the full verify does)."""
    found = evidence_check(engine, store)
    return found.checked, found.case_no, found.problem
