"""Builders shared by the calendar tests (imported by conftest and the tests)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from crm_desktop.models import Account, User
from crm_desktop.models.enums import Role


@dataclass(frozen=True)
class Team:
    """Ids of a manager, two reps reporting to her, a rep of theirs, an outsider and an account."""

    manager: uuid.UUID
    rep_a: uuid.UUID
    rep_b: uuid.UUID
    junior: uuid.UUID
    outsider: uuid.UUID
    account: uuid.UUID


def make_team(session: Session) -> Team:
    """Insert the team of :class:`Team` and flush."""
    boss = User(username="mara", full_name="Mara Manager", role=Role.MANAGER)
    session.add(boss)
    session.flush()
    a = User(username="ann", full_name="Ann Rep", manager_id=boss.id)
    b = User(username="bob", full_name="Bob Rep", role=Role.MANAGER, manager_id=boss.id)
    session.add_all([a, b])
    session.flush()
    junior = User(username="jo", full_name="Jo Junior", manager_id=b.id)
    outsider = User(username="otto", full_name="Otto Other")
    account = Account(name="Acme GmbH")
    session.add_all([junior, outsider, account])
    session.flush()
    return Team(boss.id, a.id, b.id, junior.id, outsider.id, account.id)
