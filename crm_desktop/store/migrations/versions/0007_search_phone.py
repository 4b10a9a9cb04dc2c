"""phone numbers in their own trigram table; each word of a search entry indexed once

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 17:50:00

Phone numbers were indexed in ``search_fts.compact`` as every suffix of their digits: nine or
more tokens per number, each also written to three prefix indexes, two thirds of the cost of
writing the index (16 µs per contact, 5 µs without them). They move to ``search_phone``, an
FTS5 table with the trigram tokenizer over the digits, where a run of digits is found with
``LIKE '%0755%'``; ``compact`` keeps only the punctuation-free e-mail addresses, and a
record's repeated words (a contact's full name repeats the first and last name) are indexed
once.

The new contents are rebuilt with :func:`crm_desktop.store.search.reindex`: taking the digits
out of a phone number and de-duplicating words follow Python's Unicode rules, which SQL has no
functions for (one pass over the searchable records: 4.5 s for 100k contacts on a busy
2-core machine, so some 10 s for a 250k-record profile, once). The downgrade
puts the digit suffixes back into ``compact`` from ``search_phone`` and drops it; the
de-duplicated words stay, which the old code searches just as well.
"""

from collections.abc import Sequence

from alembic import op

from crm_desktop.store.search import reindex

# The DDL as this revision made it. ``detail=none`` stores no positions: the table is only
# queried with LIKE, which the trigram index narrows and SQLite checks row by row.
CREATE_PHONE = (
    "CREATE VIRTUAL TABLE search_phone USING fts5(digits, tokenize = 'trigram', detail = none)"
)
# The shortest run of digits a phone query has (search._MIN_DIGITS as of this revision).
MIN_DIGITS = 3

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(CREATE_PHONE)
    reindex(op.get_bind())
    # One b-tree per index instead of the segments of many batches: the first searches after
    # the upgrade read less.
    op.execute("INSERT INTO search_fts (search_fts) VALUES ('optimize')")
    op.execute("INSERT INTO search_phone (search_phone) VALUES ('optimize')")


def _suffixes(digits: str) -> str:
    """The ``compact`` tokens of 0002-0006 for one entry's numbers (space-separated digits)."""
    return " ".join(
        number[i:] for number in digits.split() for i in range(len(number) - MIN_DIGITS + 1)
    )


def downgrade() -> None:
    connection = op.get_bind()
    raw = connection.connection.driver_connection
    rows = raw.execute(
        "SELECT f.rowid, f.compact, p.digits FROM search_phone p"
        " JOIN search_fts f ON f.rowid = p.rowid"
    ).fetchall()
    # Suffixes first, then the e-mail form, as 0002-0006 wrote the column.
    raw.executemany(
        "UPDATE search_fts SET compact = ? WHERE rowid = ?",
        [(" ".join(filter(None, (_suffixes(digits), compact))), rowid)
         for rowid, compact, digits in rows],
    )  # fmt: skip
    op.execute("DROP TABLE search_phone")
