"""accounts and sessions to ASVS L2: lockout, token expiry, disabled users, session timeouts

- auth_throttle: failed sign-ins per key ("user:NAME", "addr:IP") in the current window and the
  time a lock lifts, in the database so every process of the web server sees the same counts;
- api_token.expires_at: tokens expire (existing tokens: 90 days after they were made);
- web_session.last_seen_at: idle timeout (existing sessions: as last seen when they were made).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""
from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOKEN_DAYS = 90  # config/policy.yaml auth.token_days default


def upgrade() -> None:
    op.create_table('auth_throttle',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=160), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_start', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('locked_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    bind = op.get_bind()
    token = sa.table('api_token', sa.column('id', sa.Integer()), sa.column('created_at', sqlmodel.sql.sqltypes.UTCDateTime()),
                     sa.column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime()))
    for row in bind.execute(sa.select(token.c.id, token.c.created_at)).all():
        bind.execute(token.update().where(token.c.id == row.id)
                     .values(expires_at=row.created_at + timedelta(days=TOKEN_DAYS)))
    session = sa.table('web_session', sa.column('created_at', sqlmodel.sql.sqltypes.UTCDateTime()),
                       sa.column('last_seen_at', sqlmodel.sql.sqltypes.UTCDateTime()))
    bind.execute(session.update().values(last_seen_at=session.c.created_at))

    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.alter_column('expires_at', existing_type=sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False)
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.alter_column('last_seen_at', existing_type=sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('web_session', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    op.drop_table('auth_throttle')
