"""operations: stored report HTML, incremental escalation schedule cursor (issues 13, 15)

`report_html`: each frozen report version's page, rendered once at the freeze, with the sha256
of its bytes (models/report_html.py); served from storage and checked by `report verify`.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 12:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('report_html',
    sa.Column('snapshot_id', sa.Integer(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('html', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['snapshot_id'], ['report_snapshot.id'], name='fk_report_html_snapshot'),
    sa.PrimaryKeyConstraint('snapshot_id'),
    )


def downgrade() -> None:
    op.drop_table('report_html')
