"""Builders shared by the calendar tests (imported by conftest and the tests)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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


def busy_week(session: Session, team: Team, monday: date, zone: ZoneInfo) -> None:
    """A realistic busy week for ``team.rep_a`` (and a few of the team's entries) from ``monday``."""
    from crm_desktop.models.enums import ActivityKind, ActivityStatus
    from crm_desktop.services import activities as svc

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime.combine(monday + timedelta(days=day), time(hour, minute), zone)

    plan = [
        (0, 8, 30, 30, ActivityKind.CALL, "Weekly pipeline call", team.rep_a),
        (0, 9, 0, 90, ActivityKind.MEETING, "Acme: quarterly review", team.rep_a),
        (0, 9, 30, 60, ActivityKind.MEETING, "Overlapping demo", team.rep_a),
        (0, 14, 0, 30, ActivityKind.EMAIL, "Send price list", team.rep_a),
        (1, 10, 0, 120, ActivityKind.MEETING, "Site visit Werk Süd", team.rep_a),
        (1, 13, 0, 45, ActivityKind.CALL, "深圳华强电子 follow-up", team.rep_a),
        (1, 16, 0, 30, ActivityKind.TASK, "Prepare quote Q-1042", team.rep_a),
        (2, 9, 0, 60, ActivityKind.MEETING, "Team stand-up", team.rep_b),
        (2, 11, 0, 60, ActivityKind.CALL, "Globex negotiation", team.rep_a),
        (2, 11, 30, 30, ActivityKind.CALL, "Jo: first customer call", team.junior),
        (3, 8, 0, 240, ActivityKind.MEETING, "Trade fair booth", team.rep_a),
        (3, 15, 0, 60, ActivityKind.NOTE, "Notes from fair", team.rep_a),
        (4, 9, 0, 30, ActivityKind.CALL, "Call back Maria Garcia", team.rep_a),
        (4, 10, 0, 60, ActivityKind.MEETING, "Contract signing 東京", team.rep_a),
        (4, 17, 30, 90, ActivityKind.MEETING, "Dinner with Initech", team.rep_b),
    ]
    for day, hour, minute, length, kind, subject, owner in plan:
        start = at(day, hour, minute)
        svc.create_activity(
            session=session,
            kind=kind,
            subject=subject,
            owner_id=owner,
            start_at=start,
            end_at=start + timedelta(minutes=length),
            time_zone=zone.key,
            account_id=team.account if "Acme" in subject else None,
            location="Werk Süd, Tor 2" if "Werk" in subject else None,
            status=ActivityStatus.DONE if day == 0 and hour < 9 else ActivityStatus.PLANNED,
            reminder_at=start - timedelta(minutes=15) if kind == ActivityKind.MEETING else None,
        )
    svc.create_activity(
        session=session,
        kind=ActivityKind.NOTE,
        subject="Trade fair Hannover",
        owner_id=team.rep_a,
        all_day=True,
        start_date=monday + timedelta(days=2),
        end_date=monday + timedelta(days=5),
    )
    svc.create_activity(
        session=session,
        kind=ActivityKind.TASK,
        subject="Expense report",
        owner_id=team.rep_a,
        all_day=True,
        start_date=monday + timedelta(days=4),
    )
    svc.create_activity(
        session=session,
        kind=ActivityKind.TASK,
        subject="Overdue: send samples",
        owner_id=team.rep_a,
        due_at=at(-3, 12),
    )
