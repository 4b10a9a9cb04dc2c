"""full-text search index over accounts, contacts, leads and opportunities

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 15:00:00

Creates the FTS5 tables and indexes every record already in the store, so a store made before
search existed is fully searchable after the upgrade.
"""

from collections.abc import Sequence

from alembic import op

from crm_desktop.store.search import reindex

# The DDL as this revision made it (later revisions change the FTS options; see 0005).
CREATE_STATEMENTS = (
    "CREATE TABLE search_doc (id INTEGER PRIMARY KEY, entity TEXT NOT NULL, ref TEXT NOT NULL UNIQUE,"
    " title TEXT NOT NULL, subtitle TEXT NOT NULL DEFAULT '')",
    "CREATE VIRTUAL TABLE search_fts USING fts5(words, cjk1, cjk2, compact,"
    " tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')",
)

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for statement in CREATE_STATEMENTS:
        op.execute(statement)
    reindex(op.get_bind())


def downgrade() -> None:
    op.execute("DROP TABLE search_fts")
    op.execute("DROP TABLE search_doc")
