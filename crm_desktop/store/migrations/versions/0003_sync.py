"""client-local sync tables: state (device id, cursor, clock), outbox, field bases, conflict log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 15:10:00

The tables are defined on ``crm_desktop.sync.tables.sync_metadata`` (not on the shared models'
metadata, which the server also migrates). The state row is created here with a new random
device id, so every profile, including one upgraded from an older build, has its own device.
Records written before this revision were never captured; they stay local until edited.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import crm_desktop.models.base

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("last_mutation", sa.BigInteger(), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("clock", sa.String(length=11), nullable=False),
        sa.Column("conflicts_after", sa.BigInteger(), nullable=False),
        sa.Column("server_url", sa.String(length=500), nullable=True),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("last_sync_at", crm_desktop.models.base.UTCDateTime(), nullable=True),
        sa.Column("wiped_reason", sa.Text(), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_sync_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_state")),
    )
    op.create_table(
        "sync_outbox",
        sa.Column("n", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("stamp", sa.String(length=11), nullable=False),
        sa.Column("base", sa.BigInteger(), nullable=False),
        sa.Column("changes", sa.Text(), nullable=False),
        sa.Column("change_count", sa.Integer(), nullable=False),
        sa.Column("created_at", crm_desktop.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("n", name=op.f("pk_sync_outbox")),
    )
    op.create_table(
        "sync_base",
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.String(length=32), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("last_n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("entity", "record_id", "field", name=op.f("pk_sync_base")),
    )
    with op.batch_alter_table("sync_base", schema=None) as batch_op:
        batch_op.create_index("ix_sync_base_last_n", ["last_n"], unique=False)
    op.create_table(
        "sync_conflict",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("server_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", crm_desktop.models.base.UTCDateTime(), nullable=False),
        sa.Column("device_id", sa.String(length=32), nullable=False),
        sa.Column("mutation", sa.BigInteger(), nullable=False),
        sa.Column("entity", sa.String(length=40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("rule", sa.String(length=30), nullable=False),
        sa.Column("winner", sa.String(length=10), nullable=False),
        sa.Column("base", sa.Text(), nullable=True),
        sa.Column("base_known", sa.Boolean(), nullable=False),
        sa.Column("local", sa.Text(), nullable=True),
        sa.Column("server", sa.Text(), nullable=True),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("restored_at", crm_desktop.models.base.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_conflict")),
        sa.UniqueConstraint(
            "device_id",
            "mutation",
            "entity",
            "record_id",
            "field",
            name=op.f("uq_sync_conflict_device_id"),
        ),
    )
    with op.batch_alter_table("sync_conflict", schema=None) as batch_op:
        batch_op.create_index("ix_sync_conflict_created_at", ["created_at"], unique=False)
    op.execute(
        sa.text(
            "INSERT INTO sync_state (id, device_id, last_mutation, cursor, clock, conflicts_after)"
            " VALUES (1, :device, 0, 0, '', 0)"
        ).bindparams(device=uuid.uuid4().hex)
    )


def downgrade() -> None:
    op.drop_table("sync_conflict")
    op.drop_table("sync_base")
    op.drop_table("sync_outbox")
    op.drop_table("sync_state")
