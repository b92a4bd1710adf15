"""The S3-compatible evidence store (models/evidence_store.py `S3Store`) against a real S3 HTTP server
on loopback (moto's server mode, tests/support/s3_server.py): chosen by COMPLAINTS_EVIDENCE_STORE=s3,
one object per digest under `<prefix>/<aa>/<bb>/<sha256>`, written only when absent, re-hashed by
`audit verify` (a changed object fails it, as a changed file on disk does: tests/integration/
test_casework.py), and a start-up that names the variable of an incomplete or unreachable setting."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from api.app import create_app
from complaints.config import REPO_ROOT, Config
from domain.calendar import WorkingCalendar
from flows.intake import run_intake
from models.anchors import verify_with_anchors
from models.case_actions import ActionError
from models.complaint import Complaint
from models.db import session_scope
from models.evidence_store import DirectoryStore, EvidenceStoreError, S3Store, evidence_store
from models.sqlutil import table_of
from models.submission import submit
from services import workbench
from services.unit_of_work import Runtime
from tests.clirun import run_json
from tests.factories import complaint
from tests.support.s3_server import SECRET, Bucket, aws_env, moto_server, s3_bucket

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=2)
CAL = WorkingCalendar()
COMPLAINT = table_of(Complaint)
PDF = b"%PDF-1.4\n% evidence in S3\n" + bytes(range(256)) * 16


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


@pytest.fixture
def bucket(endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Bucket:
    return s3_bucket(endpoint, monkeypatch, tmp_path)


def _routed(engine: Engine, config: Config) -> str:
    (r,) = submit(engine, [complaint(category="银行卡")], config=config, calendar=CAL, now=NOW)
    run_intake(engine, config, now=NOW)
    return r.case_no


def test_put_and_read_one_object_per_digest_under_the_prefix(bucket: Bucket) -> None:
    store = evidence_store()
    assert isinstance(store, S3Store) and store.bucket == bucket.name
    digest = store.put(PDF)
    assert digest == hashlib.sha256(PDF).hexdigest()
    key = f"evidence/{digest[:2]}/{digest[2:4]}/{digest}"
    assert store.key(digest) == key and bucket.keys() == [key]
    assert bucket.object_bytes(key) == PDF  # the bytes themselves, as another client reads them
    assert store.read(digest) == PDF and store.rehash(digest) == digest
    assert evidence_store() is store  # one client per setting: no HEAD of the bucket per request


def test_same_content_is_stored_once_and_an_object_is_never_overwritten(bucket: Bucket) -> None:
    store = evidence_store()
    assert isinstance(store, S3Store)
    digest = store.put(PDF)
    first = bucket.client.head_object(Bucket=bucket.name, Key=store.key(digest))
    assert store.put(PDF) == digest
    assert bucket.keys() == [store.key(digest)]
    assert bucket.client.head_object(Bucket=bucket.name, Key=store.key(digest))["LastModified"] == first["LastModified"]
    # Changed behind the store's back: a later upload of the same bytes does not repair (hide) it ...
    bucket.client.put_object(Bucket=bucket.name, Key=store.key(digest), Body=b"rewritten")
    assert store.put(PDF) == digest and bucket.object_bytes(store.key(digest)) == b"rewritten"
    # ... and the conditional PUT itself (If-None-Match: *, the race between HEAD and PUT) refuses too
    assert store.put_if_absent(digest, PDF) is False
    assert bucket.object_bytes(store.key(digest)) == b"rewritten"
    assert store.rehash(digest) == hashlib.sha256(b"rewritten").hexdigest()
    bucket.client.delete_object(Bucket=bucket.name, Key=store.key(digest))
    assert store.put_if_absent(digest, PDF) is True and store.rehash(digest) == digest


def test_a_missing_object(bucket: Bucket) -> None:
    store = evidence_store()
    assert isinstance(store, S3Store)
    digest = hashlib.sha256(b"never stored").hexdigest()
    assert store.rehash(digest) is None and not store.exists(digest)
    with pytest.raises(FileNotFoundError, match=digest):
        store.read(digest)
    with pytest.raises(ValueError, match="not a sha256"):
        store.key("../../etc/passwd")


def test_an_empty_prefix_keys_objects_from_the_bucket_root(endpoint: str, monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path) -> None:
    bucket = s3_bucket(endpoint, monkeypatch, tmp_path, prefix="")
    store = evidence_store()
    digest = store.put(PDF)
    assert bucket.keys() == [f"{digest[:2]}/{digest[2:4]}/{digest}"]


def test_an_attached_file_in_s3_is_in_the_chain_and_a_changed_object_fails_verify(
        db_engine: Engine, config: Config, bucket: Bucket) -> None:
    """tests/integration/test_casework.py's changed-byte-on-disk scenario with the S3 store, chosen
    from the environment by the same `evidence_store()` the CLI, the web app and the flows call."""
    case_no = _routed(db_engine, config)
    store = evidence_store()
    assert isinstance(store, S3Store)
    with Runtime(config, db_engine, clock=lambda: LATER).unit() as uow:
        out = workbench.attach(uow, store, case_no=case_no, filename="录音说明.pdf", data=PDF, actor="chen.jing")
    assert bucket.object_bytes(store.key(out["sha256"])) == PDF
    ok = verify_with_anchors(db_engine, full=True)
    assert ok.ok and ok.files_checked == 1, ok
    raw = bytearray(PDF)
    raw[100] ^= 0x01
    bucket.client.put_object(Bucket=bucket.name, Key=store.key(out["sha256"]), Body=bytes(raw))
    bad = verify_with_anchors(db_engine, full=True)
    assert not bad.ok and bad.broken_case == case_no, bad
    assert bad.problem is not None and "内容已被改动" in bad.problem
    assert hashlib.sha256(bytes(raw)).hexdigest()[:12] in bad.problem
    with Runtime(config, db_engine, clock=lambda: LATER).unit() as uow, pytest.raises(ActionError, match="不予下载"):
        workbench.read_file(uow, store, case_no=case_no, file_id=out["file_id"], actor="chen.jing")
    bucket.client.delete_object(Bucket=bucket.name, Key=store.key(out["sha256"]))
    gone = verify_with_anchors(db_engine, full=True)
    assert not gone.ok and gone.problem is not None and "已不存在" in gone.problem
    with Runtime(config, db_engine, clock=lambda: LATER).unit() as uow, pytest.raises(ActionError, match="已不存在"):
        workbench.read_file(uow, store, case_no=case_no, file_id=out["file_id"], actor="chen.jing")


def test_cli_attach_and_verify_use_the_s3_store(cli_db: Engine, config: Config, bucket: Bucket, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    case_no = _routed(cli_db, config)
    path = tmp_path / "回单.pdf"
    path.write_bytes(PDF)
    code, out, err = run_json(capsys, "attach", case_no, str(path))
    assert code == 0, err
    assert bucket.keys() == [f"evidence/{out['sha256'][:2]}/{out['sha256'][2:4]}/{out['sha256']}"]
    code, out, err = run_json(capsys, "audit", "verify", "--full")
    assert code == 0 and out["files_checked"] == 1, err
    with session_scope(cli_db) as s:
        assert s.execute(select(COMPLAINT.c.case_no)).scalar_one() == case_no


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


@pytest.mark.parametrize(("change", "names"), [
    ({"COMPLAINTS_EVIDENCE_S3_BUCKET": None}, "COMPLAINTS_EVIDENCE_S3_BUCKET"),
    ({"COMPLAINTS_EVIDENCE_S3_REGION": None}, "COMPLAINTS_EVIDENCE_S3_REGION"),
    ({"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, "AWS_ACCESS_KEY_ID"),
    ({"COMPLAINTS_EVIDENCE_STORE": "nfs"}, "COMPLAINTS_EVIDENCE_STORE"),
    ({"COMPLAINTS_EVIDENCE_STORE": None}, "COMPLAINTS_EVIDENCE_STORE"),  # S3 settings, but the directory store
    ({"COMPLAINTS_EVIDENCE_DIR": "/srv/evidence"}, "COMPLAINTS_EVIDENCE_DIR"),  # two places at once
    ({"COMPLAINTS_EVIDENCE_S3_BUCKET": "no-such-bucket"}, "COMPLAINTS_EVIDENCE_S3_BUCKET"),
    ({"COMPLAINTS_EVIDENCE_S3_ENDPOINT": "closed"}, "COMPLAINTS_EVIDENCE_S3_ENDPOINT"),
    ({"COMPLAINTS_EVIDENCE_S3_ENDPOINT": "not a url"}, "COMPLAINTS_EVIDENCE_S3_ENDPOINT"),
])
def test_an_incomplete_or_unreachable_setting_names_its_variable(bucket: Bucket, monkeypatch: pytest.MonkeyPatch,
                                                                 change: dict[str, str | None], names: str) -> None:
    for name, value in change.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, f"http://127.0.0.1:{_closed_port()}" if value == "closed" else value)
    with pytest.raises(EvidenceStoreError) as caught:
        evidence_store()
    message = str(caught.value)
    assert names in message and SECRET not in message and "testing-key-id" not in message, message


def test_the_directory_store_stays_the_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    aws_env(monkeypatch, tmp_path)  # AWS credentials alone choose nothing
    for name in ("COMPLAINTS_EVIDENCE_STORE", "COMPLAINTS_EVIDENCE_S3_ENDPOINT", "COMPLAINTS_EVIDENCE_S3_BUCKET",
                 "COMPLAINTS_EVIDENCE_S3_PREFIX", "COMPLAINTS_EVIDENCE_S3_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_DIR", str(tmp_path / "ev"))
    store = evidence_store()
    assert isinstance(store, DirectoryStore) and store.root == tmp_path / "ev"
    monkeypatch.setenv("COMPLAINTS_EVIDENCE_STORE", "directory")
    assert isinstance(evidence_store(), DirectoryStore)


def test_cli_refuses_an_incomplete_s3_setting_naming_the_variable(
        cli_db: Engine, config: Config, bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    case_no = _routed(cli_db, config)
    monkeypatch.delenv("COMPLAINTS_EVIDENCE_S3_BUCKET")
    path = tmp_path / "a.pdf"
    path.write_bytes(PDF)
    for args in (("attach", case_no, str(path)), ("audit", "verify", "--full")):
        code, _, err = run_json(capsys, *args)
        assert code == 2 and "COMPLAINTS_EVIDENCE_S3_BUCKET" in err and SECRET not in err, (args, err)
        assert "Traceback" not in err




def _no_serving(*_args: object, **_kwargs: object) -> None:
    raise AssertionError("the web server was started despite the evidence store's settings")


@pytest.mark.parametrize(("change", "names"), [
    ({"COMPLAINTS_EVIDENCE_S3_BUCKET": None}, "COMPLAINTS_EVIDENCE_S3_BUCKET"),
    ({"COMPLAINTS_EVIDENCE_S3_ENDPOINT": "closed"}, "COMPLAINTS_EVIDENCE_S3_ENDPOINT"),
])
def test_the_web_app_refuses_to_start_on_a_bad_s3_setting_naming_the_variable(
        db_engine: Engine, config: Config, bucket: Bucket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], change: dict[str, str | None], names: str) -> None:
    """api/app.py create_app makes the store before anything else: with the bucket's settings it starts
    (and has checked the bucket); without the bucket variable, or at an endpoint nothing answers, it
    raises EvidenceStoreError naming the variable, and `complaints web` exits 2 with that message
    before serving anything (no traceback, no credential)."""
    create_app(config, db_engine)  # the bucket's own settings: it starts
    for name, value in change.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(EvidenceStoreError) as caught:
        create_app(config, db_engine)
    assert names in str(caught.value) and SECRET not in str(caught.value), caught.value

    monkeypatch.setattr("uvicorn.run", _no_serving)  # api.app serve() calls uvicorn.run
    monkeypatch.setenv("COMPLAINTS_DATABASE_URL", f"sqlite:///{tmp_path / 'web.db'}")
    code, out, err = run_json(capsys, "web", "--port", str(_closed_port()))
    assert code == 2 and out is None, err
    assert err.startswith("complaints: ") and names in err and "Traceback" not in err and SECRET not in err, err


def test_complaints_up_exits_2_naming_the_variable_when_the_bucket_is_unset(
        bucket: Bucket, tmp_path: Path) -> None:
    """`complaints up` (in a process of its own: it changes the environment and the signal handlers)
    with the web server: the app's start refuses the setting, up stops what it started and exits 2
    with the message, no traceback. PREFECT_API_URL names a server, so up starts none of its own."""
    env = {k: v for k, v in os.environ.items() if k != "COMPLAINTS_EVIDENCE_S3_BUCKET"}
    env.update(COMPLAINTS_DATABASE_URL=f"sqlite:///{tmp_path / 'up.db'}",
               PREFECT_API_URL=f"http://127.0.0.1:{_closed_port()}/api", PYTHONUNBUFFERED="1")
    done = subprocess.run([sys.executable, "-m", "complaints.cli", "up", "--web-port", str(_closed_port())],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "COMPLAINTS_EVIDENCE_S3_BUCKET" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert SECRET not in done.stderr + done.stdout
