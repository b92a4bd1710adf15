"""participant times: each case_participant row carries its case's received_at and current stored
deadline (issue 14), so a person's lists are read from that person's own index entries

A handler's queue (every open case of hers, soonest deadline first, counted by window) and her
lists and searches (newest first) were a join of her participant rows to the complaint table,
read in full and sorted: their cost grew with her open work (206 → 2,067 cases, 100k → 1M). With
the sort keys on the participant row, a section's page is the first entries of
`ix_case_participant_open_due` (person, due_at, complaint_id) WHERE open, its count an index-only
scan of the same, and a newest-first list of hers walks `ix_case_participant_person_received`
(person, received_at, complaint_id) until a page matches.

Kept by the database, as `open` is (migration 0009): a row inserted without its times (or not known
open) takes them from its case; a change of the case's received_at or regulatory_due_at (a pause
ended, an extension, a tier change) is copied to every row of the case. Writers that know the
times (models/participants.replace_work, add_escalation) pass them and skip the look-up.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 10:00:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The open statuses (domain.lifecycle.OPEN_STATUSES), as migration 0009 names them.
_OPEN = "('acknowledged', 'in_progress', 'received', 'reopened', 'routed', 'under_review')"


def upgrade() -> None:
    pg = op.get_bind().dialect.name == 'postgresql'
    op.add_column('case_participant', sa.Column('received_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('case_participant', sa.Column('due_at', sa.DateTime(timezone=True), nullable=True))
    if pg:
        op.execute("UPDATE case_participant p SET received_at = c.received_at, due_at = c.regulatory_due_at "
                   "FROM complaint c WHERE c.id = p.complaint_id")
        op.execute("DROP TRIGGER IF EXISTS case_participant_open ON case_participant")
        op.execute(f"""
            CREATE OR REPLACE FUNCTION case_participant_set_open() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                SELECT status IN {_OPEN}, received_at, regulatory_due_at
                  INTO NEW.open, NEW.received_at, NEW.due_at
                  FROM complaint WHERE id = NEW.complaint_id;
                NEW.open := coalesce(NEW.open, false);
                RETURN NEW;
            END $$""")
        op.execute("CREATE TRIGGER case_participant_open BEFORE INSERT ON case_participant FOR EACH ROW "
                   "WHEN (NOT NEW.open OR NEW.due_at IS NULL OR NEW.received_at IS NULL) "
                   "EXECUTE FUNCTION case_participant_set_open()")
        op.execute("""
            CREATE FUNCTION complaint_participants_times() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE case_participant SET received_at = NEW.received_at, due_at = NEW.regulatory_due_at
                WHERE complaint_id = NEW.id;
                RETURN NULL;
            END $$""")
        op.execute("CREATE TRIGGER complaint_participants_times AFTER UPDATE OF received_at, regulatory_due_at "
                   "ON complaint FOR EACH ROW WHEN (OLD.received_at IS DISTINCT FROM NEW.received_at "
                   "OR OLD.regulatory_due_at IS DISTINCT FROM NEW.regulatory_due_at) "
                   "EXECUTE FUNCTION complaint_participants_times()")
        op.execute("CREATE INDEX ix_case_participant_open_due ON case_participant (person, due_at, complaint_id) "
                   "WHERE open")
    else:
        op.execute("UPDATE case_participant SET "
                   "received_at = (SELECT received_at FROM complaint WHERE id = case_participant.complaint_id), "
                   "due_at = (SELECT regulatory_due_at FROM complaint WHERE id = case_participant.complaint_id)")
        op.execute("DROP TRIGGER IF EXISTS case_participant_open")
        op.execute(f"""CREATE TRIGGER case_participant_open AFTER INSERT ON case_participant
            WHEN new.open = 0 OR new.due_at IS NULL OR new.received_at IS NULL BEGIN
            UPDATE case_participant SET
                open = coalesce((SELECT status IN {_OPEN} FROM complaint WHERE id = new.complaint_id), 0),
                received_at = (SELECT received_at FROM complaint WHERE id = new.complaint_id),
                due_at = (SELECT regulatory_due_at FROM complaint WHERE id = new.complaint_id)
            WHERE rowid = new.rowid; END""")
        op.execute("""CREATE TRIGGER complaint_participants_times AFTER UPDATE OF received_at, regulatory_due_at
            ON complaint WHEN old.received_at IS NOT new.received_at OR old.regulatory_due_at IS NOT new.regulatory_due_at
            BEGIN
            UPDATE case_participant SET received_at = new.received_at, due_at = new.regulatory_due_at
            WHERE complaint_id = new.id; END""")
        op.execute("CREATE INDEX ix_case_participant_open_due ON case_participant (person, due_at, complaint_id) "
                   "WHERE open = 1")
    op.create_index('ix_case_participant_person_received', 'case_participant',
                    ['person', 'received_at', 'complaint_id'])


def downgrade() -> None:
    pg = op.get_bind().dialect.name == 'postgresql'
    op.drop_index('ix_case_participant_person_received', table_name='case_participant')
    op.execute("DROP INDEX IF EXISTS ix_case_participant_open_due")
    if pg:
        op.execute("DROP TRIGGER IF EXISTS complaint_participants_times ON complaint")
        op.execute("DROP FUNCTION IF EXISTS complaint_participants_times()")
        op.execute("DROP TRIGGER IF EXISTS case_participant_open ON case_participant")
    else:
        op.execute("DROP TRIGGER IF EXISTS complaint_participants_times")
        op.execute("DROP TRIGGER IF EXISTS case_participant_open")
    op.drop_column('case_participant', 'due_at')  # SQLite 3.35+ drops an unindexed column in place
    op.drop_column('case_participant', 'received_at')
    if pg:  # migration 0009's trigger again
        op.execute(f"""
            CREATE OR REPLACE FUNCTION case_participant_set_open() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.open := coalesce((SELECT status IN {_OPEN} FROM complaint WHERE id = NEW.complaint_id), false);
                RETURN NEW;
            END $$""")
        op.execute("CREATE TRIGGER case_participant_open BEFORE INSERT ON case_participant "
                   "FOR EACH ROW WHEN (NOT NEW.open) EXECUTE FUNCTION case_participant_set_open()")
    else:
        op.execute(f"""CREATE TRIGGER case_participant_open AFTER INSERT ON case_participant WHEN new.open = 0 BEGIN
            UPDATE case_participant SET open = coalesce((SELECT status IN {_OPEN} FROM complaint
                                                         WHERE id = new.complaint_id), 0)
            WHERE rowid = new.rowid; END""")
