"""srv_mutation: every processed mutation per device and number, with its stamp and outcome

A resent number is answered by what became of it: the same stamp is the same mutation
(``duplicate``, or its stored rejection again), another stamp is another mutation of the
device that reused the number (``taken``).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 17:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

import crm_desktop.models.base


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('srv_mutation',
    sa.Column('device_id', sa.Uuid(), nullable=False),
    sa.Column('n', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('stamp', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', crm_desktop.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'n', name=op.f('pk_srv_mutation'))
    )
    with op.batch_alter_table('srv_mutation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_srv_mutation_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('srv_mutation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_srv_mutation_created_at'))

    op.drop_table('srv_mutation')
