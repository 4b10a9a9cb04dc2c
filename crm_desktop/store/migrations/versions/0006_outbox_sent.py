"""sync_outbox.sent: whether a pending mutation was ever sent to the server

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 17:30:00

A profile restored from a backup (or copied to another PC) numbers its new mutations below what
the server already applied for the device, and the server answers them ``duplicate``. The flag,
set and committed before a request carries the mutation, tells such a never-sent "duplicate"
(renumber it and push it again) from a resend of one the server did apply (drop it). Whether the
mutations already pending in an upgraded profile were sent is unknown, so they count as sent:
a duplicate answer drops them, as every earlier build did.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sent", sa.Boolean(), server_default=sa.text("0"), nullable=False)
        )
    op.execute("UPDATE sync_outbox SET sent = 1")


def downgrade() -> None:
    with op.batch_alter_table("sync_outbox", schema=None) as batch_op:
        batch_op.drop_column("sent")
