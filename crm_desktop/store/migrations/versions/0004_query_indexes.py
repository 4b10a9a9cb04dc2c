"""indexes for the calendar, reminders, e-mail lookup, quote expiry and the pipeline summary

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 16:00:00

Indexes only (no new columns), the same ones the models declare in ``__table_args__`` so new
stores get them from the initial schema path and existing stores from here:

* ``activity (owner_id, start_date)``: all-day entries in a date range (calendar views).
* ``activity (reminder_at) WHERE reminder_at IS NOT NULL AND deleted IS 0``: due reminders and
  the next reminder time. Partial, so the many activities without a reminder cost nothing; the
  predicate matches the one the queries render, or SQLite would not use it.
* ``contact (lower(trim(email)))``: finding the contact for a lead's e-mail address.
* ``quote (is_current, status, valid_until)``: expiring quotes at start-up.
* ``opportunity (stage_id, currency)``: the pipeline summary's grouping.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_activity_owner_start_date", "activity", ["owner_id", "start_date"])
    op.create_index(
        "ix_activity_reminder_at",
        "activity",
        ["reminder_at"],
        sqlite_where=sa.text("reminder_at IS NOT NULL AND deleted IS 0"),
    )
    op.create_index("ix_contact_email_lower", "contact", [sa.text("lower(trim(email))")])
    op.create_index(
        "ix_quote_current_status_valid", "quote", ["is_current", "status", "valid_until"]
    )
    op.create_index("ix_opportunity_stage_currency", "opportunity", ["stage_id", "currency"])


def downgrade() -> None:
    op.drop_index("ix_opportunity_stage_currency", table_name="opportunity")
    op.drop_index("ix_quote_current_status_valid", table_name="quote")
    op.drop_index("ix_contact_email_lower", table_name="contact")
    op.drop_index("ix_activity_reminder_at", table_name="activity")
    op.drop_index("ix_activity_owner_start_date", table_name="activity")
