"""security log and session list: `security_event` (append-only) and where each browser session
was opened from (issue 12, OWASP ASVS 4.0.3 7.1.3 / 7.2.1 / 7.2.2 and 3.3.4)

`security_event` records every authentication decision and refused access (models/security_log.py);
triggers refuse UPDATE and DELETE on it, as migration 0007 does for the audit rows. `web_session`
gets `address` and `user_agent` (the browser as it named itself, cut to 200 characters), shown on
the 登录会话 page where a user sees and ends their sessions; sessions opened before this migration
show them as not recorded. `audit_anchor.sig` widens to 160 characters for Ed25519 signatures
("ed25519:" and 128 hex digits; an HMAC stays 64) — on PostgreSQL only: SQLite does not enforce
a VARCHAR length, and rebuilding that table would drop its append-only triggers.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 14:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFUSAL = '安全日志只可追加，不可修改或删除（security log rows are append-only）'


def upgrade() -> None:
    op.create_table('security_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('via', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('username', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True),
    sa.Column('detail', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_security_event_at'), 'security_event', ['at'], unique=False)
    op.create_index('ix_security_event_username_at', 'security_event', ['username', 'at'], unique=False)
    with op.batch_alter_table('web_session') as batch:
        batch.add_column(sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=True))
        batch.add_column(sa.Column('user_agent', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("ALTER TABLE audit_anchor ALTER COLUMN sig TYPE varchar(160)")
        op.execute(f"""
            CREATE FUNCTION security_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{REFUSAL}：%', TG_OP USING ERRCODE = 'insufficient_privilege';
            END $$""")
        op.execute("CREATE TRIGGER security_event_append_only BEFORE UPDATE OR DELETE ON security_event "
                   "FOR EACH ROW EXECUTE FUNCTION security_log_append_only()")
    else:
        for verb in ('UPDATE', 'DELETE'):
            op.execute(f"CREATE TRIGGER security_event_no_{verb.lower()} BEFORE {verb} ON security_event "
                       f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        # An Ed25519 signature does not fit 64 characters: those anchors would be cut, so refuse.
        op.execute("DO $$ BEGIN IF EXISTS (SELECT 1 FROM audit_anchor WHERE length(sig) > 64) THEN "
                   "RAISE EXCEPTION 'audit_anchor holds Ed25519 signatures; 0014 cannot keep them'; END IF; END $$")
        op.execute("ALTER TABLE audit_anchor ALTER COLUMN sig TYPE varchar(64)")
        op.execute("DROP TRIGGER IF EXISTS security_event_append_only ON security_event")
        op.execute("DROP FUNCTION IF EXISTS security_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS security_event_no_update")
        op.execute("DROP TRIGGER IF EXISTS security_event_no_delete")
    with op.batch_alter_table('web_session') as batch:
        batch.drop_column('user_agent')
        batch.drop_column('address')
    op.drop_index('ix_security_event_username_at', table_name='security_event')
    op.drop_index(op.f('ix_security_event_at'), table_name='security_event')
    op.drop_table('security_event')
