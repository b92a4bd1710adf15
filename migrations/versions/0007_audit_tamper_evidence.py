"""audit chain tamper evidence: hashed columns, anchors, append-only triggers

Hash version 2 (models/audit_chain.py) covers every column: `hash_version` and `row_hash` (the
digest of the complaint row after the change) are added; rows already stored keep version 1 and
verify with its rule. `audit_anchor` holds signed chain heads (the copies outside the database are
the anchor file, report snapshots and messages); `report_snapshot.anchor` the head signed at the
freeze. Triggers refuse UPDATE and DELETE on `audit_event` and `audit_anchor` (PostgreSQL and
SQLite); `audit_head` stays updatable (every append moves it). TRUNCATE is not a row operation and
is not refused (the tests empty tables with it; an owner who truncates is caught by the anchors).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARDED = ('audit_event', 'audit_anchor')
REFUSAL = '审计记录只可追加，不可修改或删除（audit rows are append-only）'


def upgrade() -> None:
    with op.batch_alter_table('audit_event') as batch:
        batch.add_column(sa.Column('hash_version', sa.Integer(), nullable=False, server_default='1'))
        batch.add_column(sa.Column('row_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    with op.batch_alter_table('report_snapshot') as batch:
        batch.add_column(sa.Column('anchor', sa.JSON(), nullable=True))
    op.create_table('audit_anchor',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('sig', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_audit_anchor_seq'), 'audit_anchor', ['seq'], unique=False)
    for statement in guard_sql(op.get_bind().dialect.name):
        op.execute(statement)


def guard_sql(dialect: str) -> list[str]:
    """The statements that make `audit_event` and `audit_anchor` append-only (tests re-run them)."""
    if dialect == 'postgresql':
        out = [f"""
            CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSAL}：% %', TG_OP, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
            END $$"""]
        return out + [f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                      f"FOR EACH ROW EXECUTE FUNCTION audit_append_only()" for table in GUARDED]
    return [f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END" for table in GUARDED for verb in ('UPDATE', 'DELETE')]


def unguard_sql(dialect: str) -> list[str]:
    if dialect == 'postgresql':
        return [f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}" for table in GUARDED]
    return [f"DROP TRIGGER IF EXISTS {table}_no_{verb}" for table in GUARDED for verb in ('update', 'delete')]


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in unguard_sql(dialect):
        op.execute(statement)
    if dialect == 'postgresql':
        op.execute("DROP FUNCTION IF EXISTS audit_append_only()")
    op.drop_index(op.f('ix_audit_anchor_seq'), table_name='audit_anchor')
    op.drop_table('audit_anchor')
    with op.batch_alter_table('report_snapshot') as batch:
        batch.drop_column('anchor')
    with op.batch_alter_table('audit_event') as batch:
        batch.drop_column('row_hash')
        batch.drop_column('hash_version')
