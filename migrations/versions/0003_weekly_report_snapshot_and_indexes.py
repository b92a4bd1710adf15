"""weekly report: frozen snapshots, and the indexes its week-range queries need

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ('ix_complaint_received_at', 'complaint', ['received_at']),
    ('ix_complaint_ended', 'complaint', ['responded_at', 'closed_at']),
    ('ix_complaint_closed_at', 'complaint', ['closed_at']),
    ('ix_complaint_ack_due_at', 'complaint', ['ack_due_at']),
    ('ix_complaint_repeat_id', 'complaint', ['complainant_id_number', 'category', 'received_at']),
    ('ix_complaint_repeat_phone', 'complaint', ['complainant_phone', 'category', 'received_at']),
    ('ix_escalation_fired_at', 'escalation', ['fired_at']),
    ('ix_extension_recorded_at', 'extension', ['recorded_at']),
    ('ix_clock_event_at', 'clock_event', ['at']),
)


def upgrade() -> None:
    op.create_table('report_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('week', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('generated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('input_rows', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('output_dir', sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
    sa.Column('forced', sa.Boolean(), nullable=False),
    sa.Column('actor', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('week', 'version', name='uq_report_snapshot_week_version')
    )
    op.create_index(op.f('ix_report_snapshot_week'), 'report_snapshot', ['week'], unique=False)
    for name, table, cols in _INDEXES:
        op.create_index(name, table, cols, unique=False)


def downgrade() -> None:
    for name, table, _cols in reversed(_INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_index(op.f('ix_report_snapshot_week'), table_name='report_snapshot')
    op.drop_table('report_snapshot')
