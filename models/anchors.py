"""Anchors: the audit chain's head (seq, hash, time) signed and kept outside the database.

Modelled on Certificate Transparency's signed tree heads (RFC 6962 / 9162): the hash chain is the
log (each link's hash commits to every row before it, so a head's hash is a running hash of the
whole log) and an anchor is a signed head. Anchors are written at every frozen weekly report
(its snapshot, the `report_ready` message, a Prefect artifact), by the `audit-anchor` flow on a
schedule and by `complaints audit anchor`, each also as one line of an append-only JSON-lines file
(COMPLAINTS_ANCHOR_FILE, default var/anchors/anchors.jsonl) whose every signature covers the line
before it. `audit verify` then checks that the database still contains every anchor it is given.

The signature is HMAC-SHA256 with COMPLAINTS_ANCHOR_KEY (the key itself, or `env:NAME` naming the
variable that holds it), or Ed25519 (RFC 8032) with `COMPLAINTS_ANCHOR_KEY=ed25519:PATH`, a PEM
private key file (`complaints audit keygen`): a key the application database never holds, so
whoever can rewrite the database cannot forge an anchor. With Ed25519 the auditors verify with the
public key alone (COMPLAINTS_ANCHOR_PUBLIC_KEY=PATH or `audit verify --public-key PATH`), which
cannot sign: checking the anchors no longer means holding what could forge them, as with
Certificate Transparency's signed tree heads. Without a key anchors are written unsigned (still
compared with the chain) and incremental verification is off (every verify starts from genesis).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, func, or_, select
from sqlalchemy.orm import Session

from models.audit import GENESIS_HASH, AuditAnchor
from models.audit_chain import AUDIT, HEAD, VerifyResult, _id_in
from models.evidence_store import EvidenceStore
from models.report import ReportSnapshot
from models.sqlutil import table_of
from settings.config import REPO_ROOT

ANCHOR = table_of(AuditAnchor)
SNAP = table_of(ReportSnapshot)
KEY_ENV = "COMPLAINTS_ANCHOR_KEY"
PUBLIC_KEY_ENV = "COMPLAINTS_ANCHOR_PUBLIC_KEY"
ED25519 = "ed25519:"  # the prefix of an Ed25519 key setting and of its signatures (hex after it)
FILE_ENV = "COMPLAINTS_ANCHOR_FILE"
DEFAULT_FILE = Path("var/anchors/anchors.jsonl")
MIN_KEY_BYTES = 16


class AnchorError(ValueError):
    """A key or anchor file that cannot be used (the message is in Chinese and names it)."""


@dataclass(frozen=True)
class Ed25519Key:
    """An Ed25519 anchor key: the public half verifies; with the private half it also signs."""

    public: Ed25519PublicKey
    private: Ed25519PrivateKey | None = None


AnchorKey = bytes | Ed25519Key  # bytes: the HMAC-SHA256 secret


def can_sign(key: AnchorKey | None) -> bool:
    return isinstance(key, bytes) or (key is not None and key.private is not None)


def signature(key: AnchorKey, payload: bytes) -> str:
    if isinstance(key, bytes):
        return hmac.new(key, payload, hashlib.sha256).hexdigest()
    if key.private is None:
        raise AnchorError(f"只配置了公钥（{PUBLIC_KEY_ENV}），不能签名锚点：写锚点须以 {KEY_ENV}=ed25519:私钥文件 运行")
    return ED25519 + key.private.sign(payload).hex()


def signature_ok(key: AnchorKey, payload: bytes, sig: str) -> bool:
    """An HMAC key accepts only its own HMACs, an Ed25519 key only Ed25519 signatures of the payload."""
    if isinstance(key, bytes):
        return not sig.startswith(ED25519) and hmac.compare_digest(sig, signature(key, payload))
    if not sig.startswith(ED25519):
        return False
    try:
        key.public.verify(bytes.fromhex(sig[len(ED25519):]), payload)
    except (ValueError, InvalidSignature):
        return False
    return True


def load_private_key(path: str | Path) -> Ed25519Key:
    where = f"{KEY_ENV}（锚点签名私钥）{path}"
    try:
        loaded = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except OSError as exc:
        raise AnchorError(f"{where} 无法读取：{exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:
        raise AnchorError(f"{where} 不是未加密的 PEM 私钥：{exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise AnchorError(f"{where} 不是 Ed25519 私钥")
    return Ed25519Key(loaded.public_key(), loaded)


def load_public_key(path: str | Path, *, name: str = PUBLIC_KEY_ENV) -> Ed25519Key:
    where = f"{name}（锚点验证公钥）{path}"
    try:
        loaded = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as exc:
        raise AnchorError(f"{where} 无法读取：{exc.strerror or exc}") from None
    except ValueError as exc:
        raise AnchorError(f"{where} 不是 PEM 公钥：{exc}") from None
    if not isinstance(loaded, Ed25519PublicKey):
        raise AnchorError(f"{where} 不是 Ed25519 公钥")
    return Ed25519Key(loaded)


def generate_key_pair(directory: Path) -> tuple[Path, Path]:
    """A new Ed25519 pair as PEM files: the private key readable by its owner only (0600), the
    public one for the auditors. Refuses to overwrite."""
    private, public = directory / "anchor-ed25519.pem", directory / "anchor-ed25519.pub.pem"
    for existing in (private, public):
        if existing.exists():
            raise AnchorError(f"out（输出目录）：{existing} 已存在，不覆盖（轮换密钥请换一个目录）")
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def require_signing(key: AnchorKey | None) -> None:
    """Writers of anchors (the frozen report, the hourly flow, `audit anchor`) refuse a public key."""
    if key is not None and not can_sign(key):
        signature(key, b"")  # raises AnchorError naming the setting


def key_from_env(environ: dict[str, str] | None = None) -> AnchorKey | None:
    """The anchor key: COMPLAINTS_ANCHOR_KEY (an HMAC secret, `env:NAME`, or `ed25519:PATH`), else
    COMPLAINTS_ANCHOR_PUBLIC_KEY (an Ed25519 public key that verifies only); None without either."""
    env = os.environ if environ is None else environ
    value = env.get(KEY_ENV)
    if not value:
        public = env.get(PUBLIC_KEY_ENV)
        return load_public_key(public) if public else None
    if value.startswith(ED25519):
        return load_private_key(value[len(ED25519):])
    if value.startswith("env:"):
        name = value[4:]
        value = env.get(name, "")
        if not value:
            raise AnchorError(f"{KEY_ENV}（锚点签名密钥）引用的环境变量 {name} 未设置")
    raw = value.encode()
    if len(raw) < MIN_KEY_BYTES:
        raise AnchorError(f"{KEY_ENV}（锚点签名密钥）太短：至少 {MIN_KEY_BYTES} 个字节")
    return raw


def anchor_file(path: str | Path | None = None) -> Path:
    p = Path(path) if path else Path(os.environ.get(FILE_ENV) or DEFAULT_FILE)
    return p if p.is_absolute() else REPO_ROOT / p


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: datetime
    source: str
    sig: str | None = None
    prev: str | None = None  # in the anchor file: the previous line's signature
    where: str = ""  # where this copy was found (for messages)

    def payload(self) -> bytes:
        body = {"seq": self.seq, "hash": self.hash, "at": self.at.astimezone(UTC).isoformat(),
                "source": self.source, "prev": self.prev}
        return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()

    def signed(self, key: AnchorKey | None) -> Anchor:
        return replace(self, sig=None if key is None else signature(key, self.payload()))

    def sig_ok(self, key: AnchorKey) -> bool:
        return self.sig is not None and signature_ok(key, self.payload(), self.sig)

    def as_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "at": self.at.astimezone(UTC).isoformat(),
                "source": self.source, "prev": self.prev, "sig": self.sig}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str) -> Anchor:
        return cls(int(data["seq"]), str(data["hash"]), datetime.fromisoformat(str(data["at"])),
                   str(data["source"]), data.get("sig"), data.get("prev"), where)

    def name(self) -> str:
        return f"{self.where}（第 {self.seq} 条，哈希 {self.hash[:12]}…，{self.source}）"


def _store(session: Session, anchor: Anchor, *, verified: bool = False) -> None:
    session.execute(ANCHOR.insert().values(seq=anchor.seq, hash=anchor.hash, at=anchor.at, source=anchor.source,
                                           verified=verified, sig=anchor.sig))


def anchor_in(session: Session, key: AnchorKey | None, source: str, now: datetime) -> Anchor:
    """Sign the chain head as this transaction sees it and keep a copy in `audit_anchor`."""
    head = session.execute(select(HEAD.c.seq, HEAD.c.hash).where(HEAD.c.id == 1)).first()
    seq, h = (int(head.seq), str(head.hash)) if head else (0, GENESIS_HASH)
    anchor = Anchor(seq, h, now.astimezone(UTC), source[:64], where="数据库锚点表").signed(key)
    _store(session, anchor)
    return anchor


def _last_line(path: Path) -> str | None:
    if not path.exists():
        return None
    with path.open("rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    return lines[-1].decode() if lines else None


def append_to_file(path: Path, anchor: Anchor, key: AnchorKey | None) -> Anchor:
    """Append the anchor as one JSON line whose signature covers the previous line's; fsync'd."""
    path.parent.mkdir(parents=True, exist_ok=True)
    last = _last_line(path)
    prev = None if last is None else json.loads(last).get("sig")
    line = replace(anchor, prev=prev, where=str(path)).signed(key)
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(line.as_json(), ensure_ascii=False, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())
    return line


def read_file(path: Path) -> tuple[list[Anchor], str | None]:
    """The file's anchors, and the first break in its own chain of lines (a line removed or edited)."""
    if not path.exists():
        return [], None
    out: list[Anchor] = []
    prev: str | None = None
    for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not text.strip():
            continue
        where = f"锚点文件 {path} 第 {n} 行"
        try:
            a = Anchor.from_json(json.loads(text), where)
        except (ValueError, KeyError, TypeError):
            return out, f"{where} 不是有效的锚点（not a valid anchor line）"
        if out and a.prev != prev:
            return out, f"{where} 未接续上一行的签名：锚点文件被删改（the anchor file was edited）"
        out.append(a)
        prev = a.sig
    return out, None


def report_anchors(engine: Engine) -> list[Anchor]:
    with engine.connect() as conn:
        rows = conn.execute(select(SNAP.c.week, SNAP.c.version, SNAP.c.anchor)
                            .where(SNAP.c.anchor.is_not(None)).order_by(SNAP.c.id)).all()
    return [Anchor.from_json(r.anchor, f"周报快照 {r.week} 第 {r.version} 版") for r in rows if r.anchor]


def db_anchors(engine: Engine) -> list[Anchor]:
    """The database's copies of the anchors, and its newest verified checkpoint (one per verify that
    saw new rows: older checkpoints add nothing once a newer one checks out)."""
    with engine.connect() as conn:
        newest = select(func.max(ANCHOR.c.id)).where(ANCHOR.c.verified.is_(True)).scalar_subquery()
        rows = conn.execute(select(ANCHOR).where(or_(ANCHOR.c.verified.is_(False), ANCHOR.c.id == newest))
                            .order_by(ANCHOR.c.id)).all()
    return [Anchor(int(r.seq), r.hash, r.at, r.source, r.sig, None,
                   f"数据库锚点表第 {r.id} 行" + ("（已校验）" if r.verified else "")) for r in rows]


def gather(engine: Engine, files: Iterable[Path]) -> tuple[list[Anchor], str | None]:
    """Every anchor outside the chain: the files', the report snapshots'; and a file's own break."""
    found: list[Anchor] = []
    problem: str | None = None
    for path in files:
        anchors, bad = read_file(path)
        found.extend(anchors)
        problem = problem or bad
    found.extend(report_anchors(engine))
    return found, problem


def missing_file(engine: Engine, paths: Sequence[Path]) -> str | None:
    """With a key: the configured anchor file gone (or emptied) while the database holds signed
    anchors that were written to it. Deleting the file would otherwise leave nothing outside the
    database to hold a rewrite against."""
    gone = [p for p in paths if not p.exists() or not p.read_text(encoding="utf-8").strip()]
    if not gone:
        return None
    with engine.connect() as conn:
        # Anchors made by `anchor_in` (the hourly flow, each frozen report) also go onto the file;
        # verify's own checkpoints (verified) do not.
        signed = conn.execute(select(func.count()).select_from(ANCHOR).where(
            ANCHOR.c.sig.is_not(None), ANCHOR.c.verified.is_(False))).scalar_one()
    if not signed:
        return None
    return (f"锚点文件 {gone[0]} 不存在或为空，而数据库中已有 {signed} 个签名锚点：锚点文件被删除、清空或换了位置"
            f"（anchor file missing after anchors were written）")


def _stored_hashes(engine: Engine, seqs: Sequence[int]) -> dict[int, str]:
    out: dict[int, str] = {}
    with engine.connect() as conn:
        for i in range(0, len(seqs), 900):
            chunk = seqs[i:i + 900]
            stmt = select(AUDIT.c.seq, AUDIT.c.hash).where(_id_in(conn, AUDIT.c.seq, chunk))
            out.update((int(s), str(h)) for s, h in conn.execute(stmt))
    return out


def check_anchors(engine: Engine, anchors: Sequence[Anchor], key: AnchorKey | None,
                  head_seq: int) -> tuple[int, int, tuple[str, int, str] | None]:
    """(anchors checked, unsigned ones, first failure as (anchor, seq, problem)), the database's own
    anchors included. An anchor fails when its signature is wrong, it lies beyond the chain head
    (the tail was cut), or the row at its seq no longer has its hash (the chain was rewritten)."""
    every = sorted([*anchors, *db_anchors(engine)], key=lambda a: a.seq)
    stored = _stored_hashes(engine, sorted({a.seq for a in every if 0 < a.seq <= head_seq}))
    unsigned = 0
    for a in every:
        if a.sig is None:
            unsigned += 1
            if key is not None:
                # With a key every anchor this system writes is signed: an unsigned one vouches for
                # nothing (anyone with the database can write one to match a rewritten chain).
                return len(every), unsigned, (a.name(), a.seq, f"锚点 {a.name()} 没有签名，而本系统已配置签名密钥："
                                                               f"锚点被伪造或写于配置密钥之前（unsigned anchor while a "
                                                               f"signing key is configured）")
        elif key is not None and not a.sig_ok(key):
            return len(every), unsigned, (a.name(), a.seq, f"锚点 {a.name()} 的签名无效：锚点被伪造或改动"
                                                           f"（anchor signature invalid）")
        if a.seq > head_seq:
            return len(every), unsigned, (a.name(), a.seq, f"数据库不再包含锚点 {a.name()}：链头只到第 {head_seq} 条，"
                                                           f"末尾的记录被删除（tail cut below the anchor）")
        have = GENESIS_HASH if a.seq == 0 else stored.get(a.seq)
        if have != a.hash:
            return len(every), unsigned, (a.name(), a.seq, f"数据库不再包含锚点 {a.name()}：第 {a.seq} 条记录"
                                                           f"{'缺失' if have is None else '的哈希不同'}，链在锚点之前被改写"
                                                           f"（chain rewritten: anchor not in the database）")
    return len(every), unsigned, None


def last_verified(engine: Engine, key: AnchorKey, head_seq: int) -> tuple[int, str, int] | None:
    """(seq, hash, hash_version) of the newest signed verified anchor the chain still contains."""
    with engine.connect() as conn:
        rows = conn.execute(select(ANCHOR).where(ANCHOR.c.verified.is_(True))
                            .order_by(ANCHOR.c.id.desc()).limit(5)).all()
        for r in rows:
            a = Anchor(int(r.seq), r.hash, r.at, r.source, r.sig)
            if not a.sig_ok(key) or a.seq > head_seq:
                continue
            row = conn.execute(select(AUDIT.c.hash, AUDIT.c.hash_version).where(AUDIT.c.seq == a.seq)).first()
            if row is None or row.hash != a.hash:
                return None  # the chain changed under it: verify from genesis names where
            return a.seq, a.hash, int(row.hash_version)
    return None


def record_verified(engine: Engine, key: AnchorKey, seq: int, h: str) -> None:
    anchor = Anchor(seq, h, datetime.now(UTC), "verified").signed(key)
    with Session(engine) as session, session.begin():
        _store(session, anchor, verified=True)


def make_anchor(engine: Engine, key: AnchorKey | None, source: str, now: datetime, path: Path | None) -> Anchor:
    """One anchor now: into `audit_anchor`, then (if a path is given) onto the anchor file."""
    with Session(engine) as session, session.begin():
        anchor = anchor_in(session, key, source, now)
    return append_to_file(path, anchor, key) if path is not None else anchor


def verify_with_anchors(engine: Engine, *, files: Sequence[Path] | None = None, key: AnchorKey | None = None,
                        full: bool = False, rows: bool = False, checkpoint: bool = True,
                        evidence: EvidenceStore | None = None) -> VerifyResult:
    """`audit verify`: the chain (from the last verified anchor unless `full`) against every anchor in
    `files` (default: the configured anchor file), the report snapshots and the database's own; then
    the evidence files against the SHA-256s their audit events recorded (`evidence`: default the
    configured store, models/evidence_store.py): every file's row, and the stored bytes re-hashed of
    the files recorded after the anchor the walk started from (all of them with `full`, or without a
    key). The new checkpoint is recorded only when all of that holds, so a file found changed is
    re-hashed again by the next incremental verify, not passed over."""
    from models.audit_chain import verify
    from models.evidence_store import evidence_store
    from models.workbench import evidence_check

    paths = list(files) if files is not None else [anchor_file()]
    anchors, file_problem = gather(engine, paths)
    if file_problem is None and key is not None and files is None:
        file_problem = missing_file(engine, paths)
    result = verify(engine, full=full, anchors=anchors, key=key, rows=rows, checkpoint=False)
    if result.ok and file_problem is not None:
        return result.failed(broken_anchor=file_problem, problem=file_problem)
    if not result.ok:
        return result
    found = evidence_check(engine, evidence or evidence_store(), after_seq=result.from_seq)
    result = VerifyResult(**{**result.__dict__, "files_checked": found.checked, "files_skipped": found.skipped})
    if found.problem is not None:
        return result.failed(broken_case=found.case_no, problem=found.problem)
    if checkpoint and key is not None and can_sign(key) and result.checked and result.verified_hash is not None:
        record_verified(engine, key, result.head_seq, result.verified_hash)
    return result
