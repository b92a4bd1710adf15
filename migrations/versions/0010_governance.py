"""governance: outcomes, root causes, call-backs, remediation (issue 16, the case level)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 12:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_S = sqlmodel.sql.sqltypes.AutoString
_T = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'case_outcome',
        sa.Column('complaint_id', sa.Integer(), nullable=False),
        sa.Column('case_no', _S(length=32), nullable=False),
        sa.Column('outcome', _S(length=16), nullable=True),
        sa.Column('not_upheld_reason', sa.Text(), nullable=True),
        sa.Column('redress_type', _S(length=16), nullable=True),
        sa.Column('redress_amount_fen', sa.BigInteger(), nullable=True),
        sa.Column('timely', sa.Boolean(), nullable=True),
        sa.Column('due_at_response', _T(), nullable=True),
        sa.Column('first_responded_at', _T(), nullable=True),
        sa.Column('responded_at', _T(), nullable=True),
        sa.Column('responses', sa.Integer(), nullable=False),
        sa.Column('root_cause', _S(length=16), nullable=True),
        sa.Column('root_cause_jrt', _S(length=16), nullable=True),
        sa.Column('root_cause_at', _T(), nullable=True),
        sa.Column('updated_at', _T(), nullable=False),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id']),
        sa.PrimaryKeyConstraint('complaint_id'),
    )
    op.create_index('ix_case_outcome_root_cause', 'case_outcome', ['root_cause'], unique=False)

    op.create_table(
        'callback',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('complaint_id', sa.Integer(), nullable=False),
        sa.Column('case_no', _S(length=32), nullable=False),
        sa.Column('round', sa.Integer(), nullable=False),
        sa.Column('due_at', _T(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('result', _S(length=16), nullable=False),
        sa.Column('satisfaction', _S(length=16), nullable=True),
        sa.Column('followup', _S(length=16), nullable=True),
        sa.Column('at', _T(), nullable=True),
        sa.Column('last_attempt_at', _T(), nullable=True),
        sa.Column('created_at', _T(), nullable=False),
        sa.Column('updated_at', _T(), nullable=False),
        sa.Column('actor', _S(length=64), nullable=False),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('complaint_id', 'round', name='uq_callback_complaint_round'),
    )
    op.create_index('ix_callback_complaint_id', 'callback', ['complaint_id'], unique=False)
    op.create_index('ix_callback_result_due', 'callback', ['result', 'due_at'], unique=False)

    op.create_table(
        'remediation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ref', _S(length=32), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('source', _S(length=16), nullable=False),
        sa.Column('complaint_id', sa.Integer(), nullable=True),
        sa.Column('case_no', _S(length=32), nullable=True),
        sa.Column('root_cause', _S(length=16), nullable=False),
        sa.Column('category', _S(length=16), nullable=True),
        sa.Column('branch', _S(length=32), nullable=False),
        sa.Column('owner_branch', _S(length=32), nullable=False),
        sa.Column('owner_department', _S(length=32), nullable=False),
        sa.Column('due_at', _T(), nullable=False),
        sa.Column('status', _S(length=16), nullable=False),
        sa.Column('evidence', sa.Text(), nullable=True),
        sa.Column('escalated_level', sa.Integer(), nullable=False),
        sa.Column('escalated_at', _T(), nullable=True),
        sa.Column('opened_at', _T(), nullable=False),
        sa.Column('opened_by', _S(length=64), nullable=False),
        sa.Column('closed_at', _T(), nullable=True),
        sa.Column('closed_by', _S(length=64), nullable=True),
        sa.Column('updated_at', _T(), nullable=False),
        sa.ForeignKeyConstraint(['complaint_id'], ['complaint.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('ref'),
    )
    op.create_index('ix_remediation_status_due', 'remediation', ['status', 'due_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_remediation_status_due', table_name='remediation')
    op.drop_table('remediation')
    op.drop_index('ix_callback_result_due', table_name='callback')
    op.drop_index('ix_callback_complaint_id', table_name='callback')
    op.drop_table('callback')
    op.drop_index('ix_case_outcome_root_cause', table_name='case_outcome')
    op.drop_table('case_outcome')
