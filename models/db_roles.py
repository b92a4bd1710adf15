"""A PostgreSQL role for the application that does not own its tables (issue 12, docs/security.md).

The triggers of migrations 0007 and 0015 refuse UPDATE and DELETE of audit rows, anchors and
security events, but the tables' owner can still TRUNCATE them, DROP the triggers or ALTER the
tables. Run the application (web, flows, workers, CLI) as a role that owns nothing: `complaints
migrate` as the owner, then `complaints grants ROLE --apply` (also as the owner) gives ROLE what the
application needs — SELECT, INSERT, UPDATE, DELETE on the other tables, SELECT and INSERT only on
the append-only ones, the sequences — and nothing else: no TRUNCATE, no DDL, no trigger changes.
Run it again after every migration (new tables get no grants until then).
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

APPEND_ONLY = ("audit_event", "audit_anchor", "security_event")
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RoleError(ValueError):
    """A role name or a database that cannot take the grants (the message names the field)."""


def grant_sql(role: str) -> list[str]:
    """The statements, in order, that make `role` the application's role (idempotent)."""
    if not _ROLE.match(role):
        raise RoleError(f"role（数据库角色）：须为小写字母、数字和下划线，以字母或下划线开头，至多 63 个字符（现为 {role!r}）")
    q = f'"{role}"'
    tables = ", ".join(APPEND_ONLY)
    return [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {q}",
        f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {q}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",  # PostgreSQL 14 and older let every role create tables
        f"REVOKE CREATE ON SCHEMA public FROM {q}",
        f"GRANT USAGE ON SCHEMA public TO {q}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {q}",
        f"REVOKE UPDATE, DELETE ON {tables} FROM {q}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {q}",
    ]


def apply_grants(engine: Engine, role: str) -> list[str]:
    """Run `grant_sql` on the database (as its owner); the statements run. The role must exist and
    must not own the tables (then the grants would mean nothing)."""
    if engine.dialect.name != "postgresql":
        raise RoleError("database（数据库）：角色与授权只适用于 PostgreSQL；SQLite 请以文件权限保护数据库文件")
    statements = grant_sql(role)
    with engine.begin() as conn:
        if conn.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first() is None:
            raise RoleError(f"role（数据库角色）：角色 {role!r} 不存在；先由管理员执行 CREATE ROLE {role} LOGIN PASSWORD '…'")
        owner = conn.execute(text("SELECT tableowner FROM pg_tables WHERE schemaname = 'public' "
                                  "AND tablename = 'audit_event'")).scalar()
        if owner is None:
            raise RoleError("database（数据库）：还没有表；先以所有者身份执行 complaints migrate")
        if owner == role:
            raise RoleError(f"role（数据库角色）：{role!r} 是表的所有者；应用须以另一个不拥有表的角色运行")
        superuser = conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
        if superuser:
            raise RoleError(f"role（数据库角色）：{role!r} 是超级用户，授权限制对它无效")
        for statement in statements:
            conn.execute(text(statement))
    return statements
