"""complaint: the identity document type (证件类型) of the complainant and of the agent

Existing rows keep no type unless their number has the 18 characters of a 居民身份证 number
(the only kind the desk took until now); new submissions always store one with a number.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.add_column(sa.Column('complainant_id_type', sqlmodel.sql.sqltypes.AutoString(length=32),
                                      nullable=True))
        batch_op.add_column(sa.Column('agent_id_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
    for who in ('complainant', 'agent'):
        op.execute(f"UPDATE complaint SET {who}_id_type = 'resident_id' "
                   f"WHERE {who}_id_number IS NOT NULL AND length({who}_id_number) = 18")


def downgrade() -> None:
    with op.batch_alter_table('complaint', schema=None) as batch_op:
        batch_op.drop_column('agent_id_type')
        batch_op.drop_column('complainant_id_type')
