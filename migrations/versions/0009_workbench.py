"""workbench: case participants, search columns, notes, contacts, evidence files (issue 14)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:30:00
"""
from collections.abc import Sequence

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _workbench_files_upgrade()


def downgrade() -> None:
    _workbench_files_downgrade()


# ---------------------------------------------------------------- evidence files, notes, contacts (issue 14, second half)


def _workbench_files_upgrade() -> None:
    """evidence_file, case_note, case_contact (models/workbench.py); a pause's and a response's file."""
    import sqlalchemy as sa
    from alembic import op

    tz = sa.DateTime(timezone=True)
    op.create_table(
        'evidence_file',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('complaint_id', sa.Integer(), sa.ForeignKey('complaint.id'), nullable=False),
        sa.Column('sha256', sa.String(64), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('content_type', sa.String(128), nullable=False),
        sa.Column('filename', sa.String(255), nullable=False),
        sa.Column('description', sa.String(256), nullable=False, server_default=''),
        sa.Column('uploaded_at', tz, nullable=False),
        sa.Column('actor', sa.String(64), nullable=False),
    )
    op.create_index('ix_evidence_file_complaint', 'evidence_file', ['complaint_id', 'id'])
    op.create_table(
        'case_note',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('complaint_id', sa.Integer(), sa.ForeignKey('complaint.id'), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('at', tz, nullable=False),
        sa.Column('actor', sa.String(64), nullable=False),
    )
    op.create_index('ix_case_note_complaint', 'case_note', ['complaint_id', 'id'])
    op.create_table(
        'case_contact',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('complaint_id', sa.Integer(), sa.ForeignKey('complaint.id'), nullable=False),
        sa.Column('at', tz, nullable=False),
        sa.Column('channel', sa.String(16), nullable=False),
        sa.Column('person', sa.String(64), nullable=False),
        sa.Column('summary', sa.Text(), nullable=False),
        sa.Column('outcome', sa.String(16), nullable=False),
        sa.Column('evidence_file_id', sa.Integer(), sa.ForeignKey('evidence_file.id'), nullable=True),
        sa.Column('recorded_at', tz, nullable=False),
        sa.Column('actor', sa.String(64), nullable=False),
    )
    op.create_index('ix_case_contact_complaint', 'case_contact', ['complaint_id', 'id'])
    op.add_column('clock_event', sa.Column('evidence_file_id', sa.Integer(), nullable=True))
    op.add_column('case_response', sa.Column('proof_file_id', sa.Integer(), nullable=True))


def _workbench_files_downgrade() -> None:
    from alembic import op

    with op.batch_alter_table('case_response') as batch:
        batch.drop_column('proof_file_id')
    with op.batch_alter_table('clock_event') as batch:
        batch.drop_column('evidence_file_id')
    op.drop_table('case_contact')
    op.drop_table('case_note')
    op.drop_table('evidence_file')
