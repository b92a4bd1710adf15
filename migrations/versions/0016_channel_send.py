"""robots' rate limits counted across dispatch runs: `channel_send` (issue 15)

Each send to an address of a rate-limited channel (WeCom and DingTalk robots: 20 a minute) is kept
for a day, and every dispatch batch counts the robot's window from these rows. Before, the count
lived in the run's memory: the run queued behind another (`ENQUEUE`) started with an empty count
and could send a robot its whole quota again within the same minute, which the robot refuses
(WeCom errcode 45009) and which then used up the messages' attempts.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02 11:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('channel_send',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
    sa.Column('sent_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_channel_send_sent_at', 'channel_send', ['sent_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_channel_send_sent_at', table_name='channel_send')
    op.drop_table('channel_send')
