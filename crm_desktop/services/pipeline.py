"""The sales pipeline: stages, moving opportunities through them, closing, and weighted value.

Rules:

* An opportunity's ``probability`` follows its stage's default probability, unless a user typed
  their own figure (:func:`set_probability`, which sets ``probability_overridden``). A stage move
  then leaves the user's figure alone; :func:`clear_probability_override` goes back to the stage's.
* Closing is a move to a closed stage: it stamps ``closed_at``. Closing as lost requires a
  non-empty ``loss_reason``; ``lessons_learned`` is optional. A closed stage's probability (100 for
  won, 0 for lost) always wins over an override: a closed deal is certain either way.
* Weighted amount = amount × probability / 100, rounded half-up to the currency's minor unit.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_desktop.models import SalesStage

#: Namespace for the ids of the default stages (see :func:`ensure_default_stages`).
_STAGE_NAMESPACE = uuid.UUID("6f1c1f0e-5b0a-4c55-9a51-2f1d3c6a7e10")

#: (name, probability, is_closed, is_won), in pipeline order.
DEFAULT_STAGES: tuple[tuple[str, int, bool, bool], ...] = (
    ("Prospecting", 10, False, False),
    ("Qualification", 20, False, False),
    ("Needs Analysis", 40, False, False),
    ("Proposal", 60, False, False),
    ("Negotiation", 80, False, False),
    ("Closed Won", 100, True, True),
    ("Closed Lost", 0, True, False),
)


def default_stage_id(name: str) -> uuid.UUID:
    """The fixed id of a default stage.

    Two devices seeding an empty store while offline must create the *same* stage rows, or sync
    would meet two "Prospecting" rows with different ids (stage names are unique). A name-based
    UUIDv5 makes the seed idempotent across devices.
    """
    return uuid.uuid5(_STAGE_NAMESPACE, name)


def list_stages(*, session: Session) -> list[SalesStage]:
    """Every live stage, in pipeline order."""
    return list(
        session.scalars(
            select(SalesStage)
            .where(SalesStage.deleted.is_(False))
            .order_by(SalesStage.position, SalesStage.name)
        )
    )


def ensure_default_stages(*, session: Session) -> list[SalesStage]:
    """Create the default stages if the store has no live stage, and return all live stages
    in pipeline order. Stages an admin configured are never touched."""
    stages = list_stages(session=session)
    if stages:
        return stages
    for position, (name, probability, is_closed, is_won) in enumerate(DEFAULT_STAGES, start=1):
        stage_id = default_stage_id(name)
        stage = session.get(SalesStage, stage_id)
        if stage is None:
            # A tombstoned stage of a different id may still hold the unique name: rename the
            # tombstone out of the way rather than fail the seed.
            stale = session.scalars(select(SalesStage).where(SalesStage.name == name)).first()
            if stale is not None:
                stale.name = f"{name} (deleted {stale.id.hex[:8]})"
                session.flush()
            stage = SalesStage(id=stage_id, name=name)
            session.add(stage)
        stage.deleted = False
        stage.position = position * 10
        stage.probability = probability
        stage.is_closed = is_closed
        stage.is_won = is_won
    session.flush()
    return list_stages(session=session)
