"""Ed25519 anchors (issue 12): the signer holds the private key (`COMPLAINTS_ANCHOR_KEY=ed25519:PATH`,
made by `complaints audit keygen`), the auditors only the public key, which checks every anchor
but cannot make one. So an auditor's verification no longer depends on a secret that could forge:
an insider who rewrites the chain and re-signs its anchors with any other key (an HMAC secret,
another Ed25519 key) is refused; a tail cut is found; the frozen report's anchor verifies with the
public key; the public key alone refuses to write anchors. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update

from complaints.config import Config
from flows.anchor import anchor_now
from flows.intake import run_intake
from flows.weekly_report import build_weekly_report
from models.anchors import (
    ANCHOR,
    ED25519,
    Anchor,
    AnchorError,
    anchor_file,
    generate_key_pair,
    key_from_env,
    load_private_key,
    load_public_key,
    make_anchor,
    read_file,
    verify_with_anchors,
)
from tests.clirun import run_json
from tests.integration.test_audit_tamper import HEAD, NOW, SNAP, _rewrite, _submit
from tests.support.audit_insider import insider


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    private, public = generate_key_pair(tmp_path / "keys")
    monkeypatch.setenv("COMPLAINTS_ANCHOR_KEY", f"{ED25519}{private}")
    return private, public


def _as_auditor(monkeypatch: pytest.MonkeyPatch, public: Path) -> None:
    """The auditor's environment: the public key, no private one."""
    monkeypatch.delenv("COMPLAINTS_ANCHOR_KEY")
    monkeypatch.setenv("COMPLAINTS_ANCHOR_PUBLIC_KEY", str(public))


def test_keygen_writes_a_private_key_only_its_owner_reads_and_refuses_to_overwrite(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_json(capsys, "audit", "keygen", "--out", str(tmp_path / "k"))
    assert code == 0
    private, public = Path(out["private_key"]), Path(out["public_key"])
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert load_private_key(private).public.public_bytes_raw() == load_public_key(public).public.public_bytes_raw()
    assert out["sign_with"] == f"COMPLAINTS_ANCHOR_KEY={ED25519}{private}"
    code, _, err = run_json(capsys, "audit", "keygen", "--out", str(tmp_path / "k"))
    assert code == 2 and "已存在" in err


def test_anchors_signed_by_the_private_key_verify_with_the_public_key_alone(
        db_engine: Engine, config: Config, keys: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
        cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """The hourly anchor and a frozen report sign with Ed25519 (in the file, the database, the
    snapshot); the auditor's `audit verify`, with only the public key, checks them all and starts
    from the signer's last verified checkpoint; it cannot write an anchor itself."""
    _submit(db_engine, config, 3)
    run_intake(db_engine, config, now=NOW)
    anchored = anchor_now(db_engine, NOW)
    assert anchored["sig"].startswith(ED25519) and len(anchored["sig"]) == len(ED25519) + 128
    report = build_weekly_report(db_engine, config, "2026-W48", datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
                                 output_dir=Path(os.environ["COMPLAINTS_ANCHOR_FILE"]).parent / "reports")
    assert report.anchor is not None and str(report.anchor["sig"]).startswith(ED25519)
    lines, problem = read_file(anchor_file())
    assert problem is None and len(lines) == 2 and all(str(a.sig).startswith(ED25519) for a in lines)
    with db_engine.connect() as conn:
        stored = conn.execute(select(ANCHOR.c.sig)).scalars().all()
    assert stored and all(str(sig).startswith(ED25519) for sig in stored)  # the full 136 characters kept
    signer = verify_with_anchors(db_engine, key=key_from_env(), rows=True)  # records a signed checkpoint
    assert signer.ok, signer

    _as_auditor(monkeypatch, keys[1])
    public = key_from_env()
    result = verify_with_anchors(db_engine, key=public, rows=True)
    assert result.ok and result.from_seq == signer.head_seq and result.anchors_checked >= 4, result
    assert result.unsigned_anchors == 0
    code, out, _ = run_json(capsys, "audit", "verify")
    assert code == 0 and out["ok"] and out["from_seq"] == signer.head_seq
    code, _, err = run_json(capsys, "audit", "anchor")
    assert code == 2 and "只配置了公钥" in err
    with pytest.raises(AnchorError, match="只配置了公钥"):
        make_anchor(db_engine, public, "auditor", NOW, None)


def test_a_rewritten_chain_resigned_with_any_other_key_fails_the_public_key(
        db_engine: Engine, config: Config, keys: tuple[Path, Path], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The insider erases an action, recomputes every hash and re-signs the snapshot's and the
    database's anchors to match the new head, once with an HMAC secret and once with an Ed25519
    key of their own: the auditor's public key refuses both."""
    cases = _submit(db_engine, config, 3)
    run_intake(db_engine, config, now=NOW)
    report = build_weekly_report(db_engine, config, "2026-W48", datetime(2026, 12, 1, 2, 0, tzinfo=UTC),
                                 output_dir=tmp_path / "reports")
    assert report.anchor is not None
    public = load_public_key(keys[1])
    assert verify_with_anchors(db_engine, key=public, full=True, rows=True, checkpoint=False).ok
    own_private, _ = generate_key_pair(tmp_path / "insider")
    for forger in (b"an-hmac-secret-the-insider-chose", load_private_key(own_private)):
        with insider(db_engine) as conn:
            _rewrite(conn, lambda rows: [r for r in rows if not (r["action"] == "routed"
                                                                 and r["case_no"] == cases[1])])
            head = conn.execute(select(HEAD.c.seq, HEAD.c.hash)).one()
            forged = replace(Anchor.from_json(report.anchor, ""), seq=head.seq, hash=head.hash).signed(forger)
            conn.execute(update(SNAP).values(anchor=forged.as_json()))
            conn.execute(ANCHOR.delete())
        anchor_file().unlink(missing_ok=True)
        result = verify_with_anchors(db_engine, key=public, full=True, rows=False, checkpoint=False)
        assert not result.ok and "签名无效" in (result.problem or ""), (forger, result)


def test_a_tail_cut_is_found_with_the_public_key(db_engine: Engine, config: Config, keys: tuple[Path, Path],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _submit(db_engine, config, 3)
    run_intake(db_engine, config, now=NOW)
    anchor = anchor_now(db_engine, NOW)
    with insider(db_engine) as conn:
        _rewrite(conn, lambda rows: rows[:-2])
    _as_auditor(monkeypatch, keys[1])
    result = verify_with_anchors(db_engine, key=key_from_env(), full=True, rows=False, checkpoint=False)
    assert not result.ok and result.broken_seq == anchor["seq"] and "末尾的记录被删除" in (result.problem or "")


@pytest.mark.parametrize("setting, message", [
    ("ed25519:/nonexistent/anchor.pem", "无法读取"),
    ("ed25519:{public}", "不是未加密的 PEM 私钥"),
])
def test_an_unusable_key_setting_is_refused_naming_it(keys: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
                                                      setting: str, message: str) -> None:
    monkeypatch.setenv("COMPLAINTS_ANCHOR_KEY", setting.format(public=keys[1]))
    with pytest.raises(AnchorError, match=f"COMPLAINTS_ANCHOR_KEY.*{message}"):
        key_from_env()
