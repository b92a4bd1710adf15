"""`complaints user add` and `complaints token add`: accounts and a token that the API accepts."""

from __future__ import annotations

import io
import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from complaints.cli import main
from models.users import TOKEN, USER


def _run(argv: list[str], capsys: pytest.CaptureFixture[str], stdin: str = "") -> tuple[int, str, str]:
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(argv)
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def test_user_and_token_from_the_cli(cli_db: Engine, client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    """A handler account made with --password-stdin gets a token printed once; the API accepts it; only hashes are stored."""
    code, out, err = _run(["user", "add", "chen", "--role", "handler", "--person", "chen.jing", "--password-stdin"],
                          capsys, "s3cret-pass-2026\n")
    assert code == 0, err
    assert json.loads(out)["branch"] == "dl"
    code, out, err = _run(["token", "add", "chen"], capsys)
    assert code == 0, err
    token = json.loads(out)["token"]
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["person_id"] == "chen.jing"
    with cli_db.connect() as conn:
        stored = conn.execute(select(TOKEN.c.token_hash)).scalar_one()
        password_hash = conn.execute(select(USER.c.password_hash)).scalar_one()
    assert token not in stored and password_hash.startswith("scrypt$") and "s3cret-pass-2026" not in password_hash


def test_user_add_names_bad_fields(cli_db: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown person and a short password are refused with exit 2, each field named, nothing stored."""
    code, _, err = _run(["user", "add", "x", "--role", "handler", "--person", "nobody", "--password-stdin"],
                        capsys, "short\n")
    assert code == 2 and "person" in err and "password（密码）：至少 12 个字符" in err
    with cli_db.connect() as conn:
        assert conn.execute(select(USER.c.id)).first() is None
