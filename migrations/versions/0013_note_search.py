"""note search: the internal notes (case_note) indexed for full text as the case text is (issue 14)

PostgreSQL: a pg_trgm GIN over `lower(text)` (terms of 3+ characters, `LIKE '%…%'` uses it) and a
GIN over that text's character bigrams (`complaint_bigrams`, migration 0009) for 2-character terms.
SQLite: an FTS5 table with the trigram tokenizer over the notes (`case_note_fts`, external content
`case_note`, kept by triggers), rebuilt from the notes already written.

A person's escalations need nothing new: `case_participant`'s escalation rows (migration 0009,
index `ix_case_participant_person_role`) name each recipient of each fired level.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 09:00:00
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_TRIGGERS = ('case_note_fts_ai', 'case_note_fts_ad', 'case_note_fts_au')


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        # Written as models/search.py writes the predicates: lower(case_note.text).
        op.execute("CREATE INDEX ix_case_note_search_trgm ON case_note USING gin (lower(text) gin_trgm_ops)")
        op.execute("CREATE INDEX ix_case_note_search_bigrams ON case_note USING gin (complaint_bigrams(lower(text)))")
    else:
        op.execute("CREATE VIRTUAL TABLE case_note_fts USING fts5(text, content='case_note', content_rowid='id', "
                   "tokenize='trigram')")
        op.execute("""CREATE TRIGGER case_note_fts_ai AFTER INSERT ON case_note BEGIN
            INSERT INTO case_note_fts(rowid, text) VALUES (new.id, new.text); END""")
        op.execute("""CREATE TRIGGER case_note_fts_ad AFTER DELETE ON case_note BEGIN
            INSERT INTO case_note_fts(case_note_fts, rowid, text) VALUES ('delete', old.id, old.text); END""")
        op.execute("""CREATE TRIGGER case_note_fts_au AFTER UPDATE OF text ON case_note BEGIN
            INSERT INTO case_note_fts(case_note_fts, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO case_note_fts(rowid, text) VALUES (new.id, new.text); END""")
        op.execute("INSERT INTO case_note_fts(case_note_fts) VALUES ('rebuild')")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP INDEX IF EXISTS ix_case_note_search_bigrams")
        op.execute("DROP INDEX IF EXISTS ix_case_note_search_trgm")
    else:
        for trigger in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS case_note_fts")
