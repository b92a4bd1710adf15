"""analytics: daily counts per institution x outlet x category, early-warning alerts, regulator statistics (issue 16)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 12:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = AutoString
_T = UTCDateTime


def upgrade() -> None:
    op.create_table(
        'analytics_daily_count',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('branch', _S(length=32), nullable=False),
        sa.Column('outlet', _S(length=64), nullable=False),
        sa.Column('category', _S(length=16), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'branch', 'outlet', 'category'),
    )
    op.create_index('ix_analytics_daily_count_branch_day', 'analytics_daily_count', ['branch', 'day'])
    op.create_table(
        'analytics_state',
        sa.Column('key', _S(length=64), nullable=False),
        sa.Column('at', _T(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table(
        'early_warning_alert',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dedupe_key', _S(length=160), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('institution', _S(length=32), nullable=False),
        sa.Column('outlet', _S(length=64), nullable=False),
        sa.Column('category', _S(length=16), nullable=False),
        sa.Column('window_days', sa.Integer(), nullable=False),
        sa.Column('observed', sa.Integer(), nullable=False),
        sa.Column('expected', sa.Float(), nullable=False),
        sa.Column('p_value', sa.Float(), nullable=False),
        sa.Column('terms', sa.JSON(), nullable=False),
        sa.Column('cases', sa.JSON(), nullable=False),
        sa.Column('recipients', sa.JSON(), nullable=False),
        sa.Column('created_at', _T(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedupe_key'),
    )
    op.create_index('ix_early_warning_alert_cell_day', 'early_warning_alert',
                    ['institution', 'outlet', 'category', 'day'])
    op.create_table(
        'stats_snapshot',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('period', _S(length=10), nullable=False),
        sa.Column('kind', _S(length=8), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('generated_at', _T(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('sha256', _S(length=64), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('reason', _S(length=500), nullable=False),
        sa.Column('diff', sa.JSON(), nullable=True),
        sa.Column('actor', _S(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('period', 'version', name='uq_stats_snapshot_period_version'),
    )
    op.create_index('ix_stats_snapshot_period', 'stats_snapshot', ['period'])
    # The refresh of the daily counts finds the rows changed since its last run.
    op.create_index('ix_complaint_updated_at', 'complaint', ['updated_at'])


def downgrade() -> None:
    op.drop_index('ix_complaint_updated_at', table_name='complaint')
    op.drop_index('ix_stats_snapshot_period', table_name='stats_snapshot')
    op.drop_table('stats_snapshot')
    op.drop_index('ix_early_warning_alert_cell_day', table_name='early_warning_alert')
    op.drop_table('early_warning_alert')
    op.drop_table('analytics_state')
    op.drop_index('ix_analytics_daily_count_branch_day', table_name='analytics_daily_count')
    op.drop_table('analytics_daily_count')
