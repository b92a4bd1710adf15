"""workbench: case participants, search columns, notes, contacts, evidence files (issue 14)

Participants (case_participant): who works on or watches a case (handler, chain members, watchers,
escalation recipients), indexed by person, so visibility and "my queue" need no LIKE over JSON;
backfilled from each case's handler / chain / watchers and each escalation's recipients.
Saved views (saved_view): a user's named filters of the case lists.
Search: keyed hashes (HMAC-SHA256, key COMPLAINTS_SEARCH_KEY outside the database) of phones, ID
numbers and a card number, backfilled; full text over case number, facts, request and respondent:
PostgreSQL pg_trgm GIN (3+ characters) and a GIN over the text's character bigrams (2-character
Chinese terms); SQLite an FTS5 trigram table kept by triggers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 12:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The open statuses (domain.lifecycle.OPEN_STATUSES), as the partial indexes and triggers name them.
_OPEN = "('acknowledged', 'in_progress', 'received', 'reopened', 'routed', 'under_review')"
_KEY_COLUMNS = ("search_phone_key", "search_agent_phone_key", "search_id_key", "search_agent_id_key",
                "search_card_key")


def _participants_up() -> None:
    op.create_table(
        'case_participant',
        sa.Column('complaint_id', sa.Integer(), sa.ForeignKey('complaint.id'), nullable=False),
        sa.Column('person', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=16), nullable=False),
        sa.Column('level', sa.Integer(), nullable=False, server_default='0'),
        sa.Column('seat', sa.String(length=32), nullable=True),
        sa.Column('open', sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint('complaint_id', 'person', 'role', 'level'),
    )
    op.create_index('ix_case_participant_person', 'case_participant', ['person', 'complaint_id'])
    # Written as the queries write it (SQLAlchemy renders a boolean column `open` / `open = 1`).
    op.execute("CREATE INDEX ix_case_participant_open ON case_participant (person, complaint_id) WHERE "
               + ("open" if op.get_bind().dialect.name == 'postgresql' else "open = 1"))
    op.create_index('ix_case_participant_person_role', 'case_participant', ['person', 'role', 'complaint_id', 'level'])
    op.create_table(
        'saved_view',
        sa.Column('id', sa.Integer(), primary_key=True),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('filters', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint('username', 'name', name='uq_saved_view_username_name'),
    )
    # Open work by deadline, and history newest first (lists of a department or a handler).
    op.execute(f"CREATE INDEX ix_complaint_open_due_id ON complaint (regulatory_due_at, id) WHERE status IN {_OPEN}")
    op.execute(f"CREATE INDEX ix_complaint_open_handler_due ON complaint (handler, regulatory_due_at, id) "
               f"WHERE status IN {_OPEN}")
    op.execute(f"CREATE INDEX ix_complaint_open_branch_due ON complaint (branch, regulatory_due_at, id) "
               f"WHERE status IN {_OPEN}")
    op.create_index('ix_complaint_received_id', 'complaint', ['received_at', 'id'])
    _open_triggers()
    _paused_table()
    op.create_index('ix_complaint_department_received', 'complaint', ['department', 'received_at', 'id'])
    op.create_index('ix_complaint_branch_received', 'complaint', ['branch', 'received_at', 'id'])
    op.create_index('ix_complaint_handler_received', 'complaint', ['handler', 'received_at', 'id'])
    _backfill_participants()


def _open_triggers() -> None:
    """case_participant.open mirrors the case's status (open work is what a queue lists), kept by the
    database: set when a row is inserted and whenever the case's status changes."""
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""
            CREATE FUNCTION case_participant_set_open() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.open := coalesce((SELECT status IN {_OPEN} FROM complaint WHERE id = NEW.complaint_id), false);
                RETURN NEW;
            END $$""")
        op.execute(f"""
            CREATE FUNCTION complaint_participants_open() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE case_participant SET open = (NEW.status IN {_OPEN})
                WHERE complaint_id = NEW.id AND open IS DISTINCT FROM (NEW.status IN {_OPEN});
                RETURN NULL;
            END $$""")
        # A writer that knows the case is open (intake, right after routing it) inserts open = true and
        # skips the look-up; a status change runs the update only when it opens or ends the case.
        op.execute("CREATE TRIGGER case_participant_open BEFORE INSERT ON case_participant "
                   "FOR EACH ROW WHEN (NOT NEW.open) EXECUTE FUNCTION case_participant_set_open()")
        op.execute(f"CREATE TRIGGER complaint_participants_open AFTER UPDATE OF status ON complaint FOR EACH ROW "
                   f"WHEN ((OLD.status IN {_OPEN}) IS DISTINCT FROM (NEW.status IN {_OPEN})) "
                   f"EXECUTE FUNCTION complaint_participants_open()")
    else:
        op.execute(f"""CREATE TRIGGER case_participant_open AFTER INSERT ON case_participant WHEN new.open = 0 BEGIN
            UPDATE case_participant SET open = coalesce((SELECT status IN {_OPEN} FROM complaint
                                                         WHERE id = new.complaint_id), 0)
            WHERE rowid = new.rowid; END""")
        op.execute(f"""CREATE TRIGGER complaint_participants_open AFTER UPDATE OF status ON complaint
            WHEN (old.status IN {_OPEN}) IS NOT (new.status IN {_OPEN}) BEGIN
            UPDATE case_participant SET open = (new.status IN {_OPEN}) WHERE complaint_id = new.id; END""")


# The case's latest pause or resume, by (at, id), decides whether its clock is paused now
# (models/escalation_store.pause_state reads the same; a restart keeps a pause open).
_PAUSED_OF = """
    INSERT INTO case_paused (complaint_id, since)
    SELECT complaint_id, at FROM (
        SELECT complaint_id, kind, at FROM clock_event WHERE complaint_id = {cid} AND kind IN ('pause', 'resume')
        ORDER BY at DESC, id DESC LIMIT 1) AS last_event
    WHERE kind = 'pause'"""


def _paused_table() -> None:
    """case_paused: the cases whose clock is paused now (a handful), kept by triggers on clock_event,
    so lists and counts need not read every pause and resume ever recorded."""
    op.create_table(
        'case_paused',
        sa.Column('complaint_id', sa.Integer(), sa.ForeignKey('complaint.id'), primary_key=True),
        sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f"""
            CREATE FUNCTION case_paused_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE cid integer := CASE WHEN TG_OP = 'DELETE' THEN OLD.complaint_id ELSE NEW.complaint_id END;
            BEGIN
                DELETE FROM case_paused WHERE complaint_id = cid;
                {_PAUSED_OF.format(cid='cid')};
                RETURN NULL;
            END $$""")
        op.execute("CREATE TRIGGER clock_event_paused AFTER INSERT OR UPDATE OR DELETE ON clock_event "
                   "FOR EACH ROW EXECUTE FUNCTION case_paused_refresh()")
    else:
        for event, row in (("INSERT", "new"), ("UPDATE", "new"), ("DELETE", "old")):
            op.execute(f"""CREATE TRIGGER clock_event_paused_{event.lower()} AFTER {event} ON clock_event BEGIN
                DELETE FROM case_paused WHERE complaint_id = {row}.complaint_id;
                {_PAUSED_OF.format(cid=f'{row}.complaint_id')}; END""")
    op.execute("""
        INSERT INTO case_paused (complaint_id, since)
        SELECT e.complaint_id, e.at FROM clock_event e
        WHERE e.kind = 'pause' AND NOT EXISTS (
            SELECT 1 FROM clock_event r WHERE r.complaint_id = e.complaint_id AND r.kind IN ('pause', 'resume')
            AND (r.at > e.at OR (r.at = e.at AND r.id > e.id)))""")


def _drop_paused_table() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS clock_event_paused ON clock_event")
        op.execute("DROP FUNCTION IF EXISTS case_paused_refresh()")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS clock_event_paused_{event}")
    op.drop_table('case_paused')


def _drop_open_triggers() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS complaint_participants_open ON complaint")
        op.execute("DROP TRIGGER IF EXISTS case_participant_open ON case_participant")
        op.execute("DROP FUNCTION IF EXISTS complaint_participants_open()")
        op.execute("DROP FUNCTION IF EXISTS case_participant_set_open()")
    else:
        op.execute("DROP TRIGGER IF EXISTS complaint_participants_open")
        op.execute("DROP TRIGGER IF EXISTS case_participant_open")


def _backfill_participants() -> None:
    import json

    bind = op.get_bind()
    rows: list[dict[str, object]] = []

    def load(v: object) -> object:
        return json.loads(v) if isinstance(v, str) else v

    from models.participants import work_rows

    for cid, handler, chain, watchers in bind.execute(sa.text(
            "SELECT id, handler, chain, watchers FROM complaint WHERE status <> 'received'")):
        members = [m for m in load(chain) or [] if isinstance(m, dict)]
        for r in work_rows(cid, handler, members, [w for w in load(watchers) or [] if isinstance(w, str)]):
            rows.append({"c": r["complaint_id"], "p": r["person"], "r": r["role"], "l": 0, "s": r["seat"]})
    for cid, level, recipients in bind.execute(sa.text("SELECT complaint_id, level, recipients FROM escalation")):
        for r in load(recipients) or []:
            if isinstance(r, dict) and r.get("person"):
                rows.append({"c": cid, "p": r["person"], "r": "escalation", "l": level, "s": r.get("seat")})
    insert = sa.text("INSERT INTO case_participant (complaint_id, person, role, level, seat) "
                     "VALUES (:c, :p, :r, :l, :s)")
    for i in range(0, len(rows), 5000):
        bind.execute(insert, rows[i:i + 5000])


def _participants_down() -> None:
    _drop_paused_table()
    _drop_open_triggers()
    for name in ('ix_complaint_handler_received', 'ix_complaint_branch_received', 'ix_complaint_department_received',
                 'ix_complaint_received_id', 'ix_complaint_open_branch_due', 'ix_complaint_open_handler_due',
                 'ix_complaint_open_due_id'):
        op.execute(f"DROP INDEX IF EXISTS {name}")
    op.drop_table('saved_view')
    op.drop_table('case_participant')


def _search_up() -> None:
    bind = op.get_bind()
    for column in _KEY_COLUMNS:
        op.add_column('complaint', sa.Column(column, sa.String(length=32), nullable=True))
    for column in _KEY_COLUMNS:
        op.create_index(f'ix_complaint_{column}', 'complaint', [column])
    _backfill_keys()
    if bind.dialect.name == 'postgresql':
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("""
            CREATE FUNCTION complaint_search_text(case_no text, facts text, request text, respondent text)
            RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT lower(coalesce(case_no, '') || ' ' || coalesce(facts, '') || ' ' || coalesce(request, '')
                               || ' ' || coalesce(respondent, '')) $$""")
        op.execute("""
            CREATE FUNCTION complaint_bigrams(t text) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE COST 100
            AS $$ SELECT coalesce(array_agg(DISTINCT substr(t, i, 2)), '{}')
                  FROM generate_series(1, length(t) - 1) AS i $$""")
        op.execute("CREATE INDEX ix_complaint_search_trgm ON complaint USING gin "
                   "(complaint_search_text(case_no, facts, request, respondent) gin_trgm_ops)")
        op.execute("CREATE INDEX ix_complaint_search_bigrams ON complaint USING gin "
                   "(complaint_bigrams(complaint_search_text(case_no, facts, request, respondent)))")
    else:
        op.execute("CREATE VIRTUAL TABLE complaint_fts USING fts5(case_no, facts, request, respondent, "
                   "content='complaint', content_rowid='id', tokenize='trigram')")
        op.execute("""CREATE TRIGGER complaint_fts_ai AFTER INSERT ON complaint BEGIN
            INSERT INTO complaint_fts(rowid, case_no, facts, request, respondent)
            VALUES (new.id, new.case_no, new.facts, new.request, new.respondent); END""")
        op.execute("""CREATE TRIGGER complaint_fts_ad AFTER DELETE ON complaint BEGIN
            INSERT INTO complaint_fts(complaint_fts, rowid, case_no, facts, request, respondent)
            VALUES ('delete', old.id, old.case_no, old.facts, old.request, old.respondent); END""")
        op.execute("""CREATE TRIGGER complaint_fts_au AFTER UPDATE OF case_no, facts, request, respondent ON complaint
            BEGIN
            INSERT INTO complaint_fts(complaint_fts, rowid, case_no, facts, request, respondent)
            VALUES ('delete', old.id, old.case_no, old.facts, old.request, old.respondent);
            INSERT INTO complaint_fts(rowid, case_no, facts, request, respondent)
            VALUES (new.id, new.case_no, new.facts, new.request, new.respondent); END""")
        op.execute("INSERT INTO complaint_fts(complaint_fts) VALUES ('rebuild')")


def _backfill_keys() -> None:
    from models.search import search_keys

    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT id, complainant_phone, agent_phone, complainant_id_number, agent_id_number, facts, request "
        "FROM complaint")).all()
    update = sa.text("UPDATE complaint SET " + ", ".join(f"{c} = :{c}" for c in _KEY_COLUMNS) + " WHERE id = :id")
    params = [{"id": r[0], **search_keys(phone=r[1], agent_phone=r[2], id_number=r[3], agent_id_number=r[4],
                                         text=f"{r[5]} {r[6]}")} for r in rows]
    for i in range(0, len(params), 5000):
        bind.execute(update, params[i:i + 5000])


def _search_down() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        op.execute("DROP INDEX IF EXISTS ix_complaint_search_bigrams")
        op.execute("DROP INDEX IF EXISTS ix_complaint_search_trgm")
        op.execute("DROP FUNCTION IF EXISTS complaint_bigrams(text)")
        op.execute("DROP FUNCTION IF EXISTS complaint_search_text(text, text, text, text)")
    else:
        for trigger in ('complaint_fts_ai', 'complaint_fts_ad', 'complaint_fts_au'):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS complaint_fts")
    for column in _KEY_COLUMNS:
        op.drop_index(f'ix_complaint_{column}', 'complaint')
    for column in _KEY_COLUMNS:
        op.drop_column('complaint', column)  # SQLite 3.35+: ALTER TABLE DROP COLUMN (no index left on it)


def upgrade() -> None:
    _participants_up()
    _search_up()
    _workbench_files_upgrade()  # notes, contacts, evidence files: below


def downgrade() -> None:
    _workbench_files_downgrade()  # notes, contacts, evidence files: below
    _search_down()
    _participants_down()


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
