"""submissions: idempotency keys per client (submitted_by, external_ref) and the request's fingerprint

`external_ref` (the Idempotency-Key) was unique across every client: another user's key returned
that user's case. Now it is unique per client (`submitted_by`: the API user, or `cli` for the
operator's import tool), and `request_fingerprint` (sha256 of the submission) tells a retry (same
body: the first case again) from a reuse of the key for another complaint (422). Existing rows
take their client from their `received` audit event; their fingerprint stays empty (unknown:
a retry of them is taken as the same request).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 10:00:00
"""
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite names the unique constraint of 0001 by this convention only (it was created unnamed).
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_unique() -> str:
    return 'uq_complaint_external_ref' if op.get_bind().dialect.name == 'sqlite' else 'complaint_external_ref_key'


@contextmanager
def _sqlite_rebuild() -> Iterator[None]:
    """SQLite cannot drop a constraint: the table is rebuilt, which its foreign keys forbid while
    other tables point at its rows. As SQLite's ALTER TABLE page prescribes, foreign keys go off
    for the rebuild (only possible between transactions: what ran before is committed first), the
    references are checked (foreign_key_check), and they go on again. PostgreSQL alters in place."""
    if op.get_bind().dialect.name != 'sqlite':
        yield
        return
    op.execute("COMMIT")
    op.execute("PRAGMA foreign_keys = OFF")
    op.execute("BEGIN IMMEDIATE")
    try:
        yield
        broken = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise RuntimeError(f"0008: foreign keys broken by the rebuild of complaint: {broken[:5]}")
        op.execute("COMMIT")
    except BaseException:
        op.execute("ROLLBACK")
        raise
    finally:
        op.execute("PRAGMA foreign_keys = ON")
        op.execute("BEGIN IMMEDIATE")


def upgrade() -> None:
    with _sqlite_rebuild():
        with op.batch_alter_table('complaint', schema=None, naming_convention=_SQLITE_NAMES) as batch_op:
            batch_op.add_column(sa.Column('submitted_by', sa.String(length=64), nullable=False, server_default=''))
            batch_op.add_column(sa.Column('request_fingerprint', sa.String(length=64), nullable=True))
            batch_op.drop_constraint(_old_unique(), type_='unique')
            # external_ref first: a lookup of one client's keys is then an index condition on the
            # keys themselves (with submitted_by first, PostgreSQL scanned every row of the client)
            batch_op.create_unique_constraint('uq_complaint_submitted_by_external_ref',
                                              ['external_ref', 'submitted_by'])
    op.execute("UPDATE complaint SET submitted_by = COALESCE((SELECT MIN(e.actor) FROM audit_event e "
               "WHERE e.complaint_id = complaint.id AND e.action = 'received'), '') "
               "WHERE external_ref IS NOT NULL")


def downgrade() -> None:
    with _sqlite_rebuild(), op.batch_alter_table('complaint', schema=None, naming_convention=_SQLITE_NAMES) as batch_op:
        batch_op.drop_constraint('uq_complaint_submitted_by_external_ref', type_='unique')
        batch_op.create_unique_constraint(_old_unique(), ['external_ref'])
        batch_op.drop_column('request_fingerprint')
        batch_op.drop_column('submitted_by')
