"""Activity actions and calendar queries (crm_desktop.services.activities)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from calendar_helpers import Team
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_desktop.models import Activity
from crm_desktop.models.enums import ActivityKind, ActivityStatus
from crm_desktop.services import activities as svc
from crm_desktop.services.errors import NotFound, ValidationError

BERLIN = ZoneInfo("Europe/Berlin")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def meeting(
    session: Session, owner: object, start: datetime, minutes: int = 60, **kw: object
) -> svc.ActivityRow:
    return svc.create_activity(
        session=session,
        kind=kw.pop("kind", ActivityKind.MEETING),  # type: ignore[arg-type]
        subject=str(kw.pop("subject", "Visit")),
        owner_id=owner,  # type: ignore[arg-type]
        start_at=start,
        end_at=start + timedelta(minutes=minutes),
        **kw,  # type: ignore[arg-type]
    )


def test_create_defaults_length_and_rejects_naive_and_empty(session: Session, team: Team) -> None:
    row = svc.create_activity(
        session=session,
        kind=ActivityKind.CALL,
        subject=" Call Acme ",
        owner_id=team.rep_a,
        start_at=T0,
    )
    assert row.subject == "Call Acme"
    assert row.end_at == T0 + svc.DEFAULT_DURATION
    with pytest.raises(ValidationError, match="subject"):
        svc.create_activity(session=session, kind=ActivityKind.CALL, subject=" ", owner_id=None)
    with pytest.raises(ValidationError, match="start_at"):
        svc.create_activity(
            session=session,
            kind=ActivityKind.CALL,
            subject="x",
            owner_id=None,
            start_at=datetime(2026, 1, 1),
        )


def test_log_call_with_outcome_and_follow_up(session: Session, team: Team) -> None:
    logged = svc.log_activity(
        session=session,
        kind=ActivityKind.CALL,
        subject="Pricing call",
        owner_id=team.rep_a,
        occurred_at=T0,
        duration=timedelta(minutes=10),
        outcome="Wants a quote by Friday",
        account_id=team.account,
        time_zone="Europe/Berlin",
        follow_up=svc.FollowUp(
            kind=ActivityKind.TASK,
            subject="Send quote",
            start_at=T0 + timedelta(days=3),
            reminder_before=timedelta(hours=1),
        ),
    )
    assert logged.logged.status == ActivityStatus.DONE
    assert logged.logged.completed_at == T0 + timedelta(minutes=10)
    assert logged.logged.outcome == "Wants a quote by Friday"
    assert logged.logged.related_label == "Acme GmbH"
    follow = logged.follow_up
    assert follow is not None and follow.kind == ActivityKind.TASK
    assert follow.due_at == T0 + timedelta(days=3)
    assert follow.reminder_at == T0 + timedelta(days=3, hours=-1)
    assert follow.account_id == team.account and follow.owner_id == team.rep_a


def test_complete_reschedule_reassign(session: Session, team: Team) -> None:
    row = meeting(session, team.rep_a, T0, reminder_at=T0 - timedelta(minutes=15))
    moved = svc.move_activity(session=session, activity_id=row.id, start_at=T0 + timedelta(hours=2))
    assert (moved.start_at, moved.end_at) == (T0 + timedelta(hours=2), T0 + timedelta(hours=3))
    assert moved.reminder_at == T0 + timedelta(hours=2, minutes=-15)
    resized = svc.resize_activity(
        session=session, activity_id=row.id, end_at=T0 + timedelta(hours=2, minutes=5)
    )
    assert resized.end_at == T0 + timedelta(hours=2) + svc.MIN_DURATION
    resched = svc.reschedule_activity(
        session=session, activity_id=row.id, start_date=date(2026, 3, 5)
    )
    assert resched.all_day and (resched.start_date, resched.end_date) == (
        date(2026, 3, 5),
        date(2026, 3, 6),
    )
    assert resched.start_at is None
    two_days = svc.resize_activity_days(
        session=session, activity_id=row.id, end_date=date(2026, 3, 7)
    )
    assert two_days.end_date == date(2026, 3, 7)
    shifted = svc.move_activity_days(session=session, activity_id=row.id, days=-1)
    assert (shifted.start_date, shifted.end_date) == (date(2026, 3, 4), date(2026, 3, 6))
    assert (
        svc.reassign_activity(session=session, activity_id=row.id, owner_id=team.rep_b).owner_id
        == team.rep_b
    )
    done = svc.complete_activity(session=session, activity_id=row.id, outcome="ok", now=T0)
    assert (
        done.status == ActivityStatus.DONE and done.completed_at == T0 and done.reminder_at is None
    )
    again = svc.complete_activity(session=session, activity_id=row.id, now=T0 + timedelta(days=1))
    assert again.completed_at == T0


def test_deleted_activity_is_gone(session: Session, team: Team) -> None:
    row = meeting(session, team.rep_a, T0)
    svc.delete_activity(session=session, activity_id=row.id)
    assert session.get(Activity, row.id).deleted  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        svc.complete_activity(session=session, activity_id=row.id)
    assert (
        svc.activities_in_range(
            session=session, start=T0 - timedelta(days=1), end=T0 + timedelta(days=1)
        )
        == []
    )


def test_range_query_overlap_all_day_and_tasks(session: Session, team: Team) -> None:
    day = datetime(2026, 3, 2, tzinfo=BERLIN)
    inside = meeting(session, team.rep_a, T0)
    spanning = meeting(
        session, team.rep_a, day - timedelta(hours=1), minutes=120, subject="Overnight"
    )
    ending_at_start = meeting(session, team.rep_a, day - timedelta(hours=1), subject="Before")
    holiday = svc.create_activity(
        session=session,
        kind=ActivityKind.NOTE,
        subject="Holiday",
        owner_id=team.rep_a,
        all_day=True,
        start_date=date(2026, 3, 2),
    )
    task = svc.create_activity(
        session=session,
        kind=ActivityKind.TASK,
        subject="Task",
        owner_id=team.rep_a,
        due_at=T0 + timedelta(hours=3),
    )
    other = meeting(session, team.rep_b, T0)
    found = svc.activities_in_range(
        session=session, start=day, end=day + timedelta(days=1), owner_ids=[team.rep_a], zone=BERLIN
    )
    ids = [r.id for r in found]
    assert set(ids) == {inside.id, spanning.id, holiday.id, task.id}
    assert ending_at_start.id not in ids and other.id not in ids
    assert ids[0] in (holiday.id, spanning.id)


def test_my_day_lists_today_and_overdue_tasks(session: Session, team: Team) -> None:
    today = meeting(session, team.rep_a, T0)
    late = svc.create_activity(
        session=session,
        kind=ActivityKind.TASK,
        subject="Late",
        owner_id=team.rep_a,
        due_at=T0 - timedelta(days=2),
    )
    done_late = svc.create_activity(
        session=session,
        kind=ActivityKind.TASK,
        subject="Done",
        owner_id=team.rep_a,
        due_at=T0 - timedelta(days=2),
        status=ActivityStatus.DONE,
    )
    mine = svc.my_day(
        session=session, user_id=team.rep_a, day=date(2026, 3, 2), zone=BERLIN, now=T0
    )
    assert [r.id for r in mine.today] == [today.id]
    assert [r.id for r in mine.overdue] == [late.id]
    assert done_late.id not in [r.id for r in mine.overdue]


def test_reminders_due_snooze_dismiss(session: Session, team: Team) -> None:
    row = meeting(session, team.rep_a, T0, reminder_at=T0 - timedelta(minutes=10))
    later = meeting(session, team.rep_a, T0 + timedelta(days=1), reminder_at=T0 + timedelta(days=1))
    # "App was closed": an hour after the reminder time it is still due.
    due = svc.reminders_due(session=session, user_id=team.rep_a, now=T0 + timedelta(hours=1))
    assert [r.id for r in due] == [row.id]
    assert svc.reminders_due(session=session, user_id=team.rep_b, now=T0) == []
    svc.snooze_reminder(session=session, activity_id=row.id, delay=timedelta(minutes=5), now=T0)
    assert svc.reminders_due(session=session, user_id=team.rep_a, now=T0) == []
    assert [
        r.id
        for r in svc.reminders_due(
            session=session, user_id=team.rep_a, now=T0 + timedelta(minutes=5)
        )
    ] == [row.id]
    svc.dismiss_reminder(session=session, activity_id=row.id)
    assert svc.reminders_due(session=session, user_id=team.rep_a, now=T0 + timedelta(days=2)) == [
        svc.get_activity(session=session, activity_id=later.id)
    ]


def test_team_calendar_for_manager_and_rep(session: Session, team: Team) -> None:
    owners = svc.visible_calendar_owners(session=session, user_id=team.manager)
    assert [u.id for u in owners] == [team.manager, team.rep_a, team.rep_b, team.junior]
    assert [u.id for u in svc.visible_calendar_owners(session=session, user_id=team.rep_a)] == [
        team.rep_a
    ]
    a = meeting(session, team.rep_a, T0)
    j = meeting(session, team.junior, T0)
    meeting(session, team.outsider, T0)
    found = svc.team_calendar(
        session=session,
        viewer_id=team.manager,
        owner_ids=[team.rep_a, team.junior],
        start=T0 - timedelta(hours=1),
        end=T0 + timedelta(hours=2),
    )
    assert {r.id for r in found} == {a.id, j.id}
    assert {r.owner_name for r in found} == {"Ann Rep", "Jo Junior"}
    with pytest.raises(ValidationError):
        svc.team_calendar(
            session=session,
            viewer_id=team.rep_a,
            owner_ids=[team.rep_b],
            start=T0,
            end=T0 + timedelta(hours=1),
        )


def test_move_days_across_dst_keeps_local_wall_time(session: Session, team: Team) -> None:
    # 27 March 2026 is CET (UTC+1); 30 March is CEST (UTC+2). A 09:00 Berlin meeting dragged
    # three days later must stay at 09:00 Berlin, i.e. move 71 hours, not 72.
    start = datetime(2026, 3, 27, 9, 0, tzinfo=BERLIN)
    row = meeting(
        session,
        team.rep_a,
        start,
        time_zone="Europe/Berlin",
        reminder_at=start - timedelta(minutes=15),
    )
    moved = svc.move_activity_days(session=session, activity_id=row.id, days=3)
    assert moved.start_at is not None and moved.end_at is not None
    assert moved.start_at.astimezone(BERLIN) == datetime(2026, 3, 30, 9, 0, tzinfo=BERLIN)
    assert moved.end_at.astimezone(BERLIN) == datetime(2026, 3, 30, 10, 0, tzinfo=BERLIN)
    assert moved.reminder_at is not None
    assert moved.reminder_at.astimezone(BERLIN) == datetime(2026, 3, 30, 8, 45, tzinfo=BERLIN)
    assert moved.start_at == datetime(2026, 3, 30, 7, 0, tzinfo=UTC)

    # A task without a zone of its own moves in the view's zone.
    task = svc.create_activity(
        session=session,
        kind=ActivityKind.TASK,
        subject="Send quote",
        owner_id=team.rep_a,
        due_at=datetime(2026, 3, 28, 17, 0, tzinfo=BERLIN),
    )
    moved_task = svc.move_activity_days(session=session, activity_id=task.id, days=2, zone=BERLIN)
    assert moved_task.due_at is not None
    assert moved_task.due_at.astimezone(BERLIN) == datetime(2026, 3, 30, 17, 0, tzinfo=BERLIN)


def _plans(session: Session, run: Callable[[], object]) -> list[str]:
    """The EXPLAIN QUERY PLAN text of every statement on ``activity`` that ``run`` executes."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "FROM activity" in statement and not statement.startswith("EXPLAIN"):
            seen.append((statement, params))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert seen, "no query on activity was run"
    connection = session.connection()
    return [
        "\n".join(
            row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
        )
        for statement, params in seen
    ]


def test_range_queries_search_indexes_never_scan(session: Session, team: Team) -> None:
    meeting(session, team.rep_a, T0)
    plans = _plans(
        session,
        lambda: svc.activities_in_range(
            session=session,
            start=T0 - timedelta(days=3),
            end=T0 + timedelta(days=4),
            owner_ids=[team.rep_a, team.rep_b],
            zone=BERLIN,
        ),
    )
    everyone = _plans(
        session,
        lambda: svc.activities_in_range(
            session=session, start=T0, end=T0 + timedelta(days=1), owner_ids=None
        ),
    )
    for plan in plans + everyone:
        assert "SCAN activity" not in plan, plan
    joined = "\n".join(plans)
    assert "ix_activity_owner_start " in joined
    assert "ix_activity_owner_due " in joined
    assert "ix_activity_owner_start_date " in joined


def test_spans_are_bounded_so_the_range_query_finds_every_entry(
    session: Session, team: Team
) -> None:
    with pytest.raises(ValidationError, match="end_at"):
        meeting(session, team.rep_a, T0, minutes=int(svc.MAX_SPAN.total_seconds() // 60) + 1)
    longest = meeting(session, team.rep_a, T0, minutes=int(svc.MAX_SPAN.total_seconds() // 60))
    with pytest.raises(ValidationError, match="end_at"):
        svc.resize_activity(
            session=session, activity_id=longest.id, end_at=T0 + svc.MAX_SPAN + timedelta(hours=1)
        )
    # Seen on its last day, from a range that starts long after it began.
    last_day = T0 + svc.MAX_SPAN - timedelta(hours=1)
    found = svc.activities_in_range(
        session=session, start=last_day, end=last_day + timedelta(hours=2), owner_ids=None
    )
    assert [r.id for r in found] == [longest.id]
    with pytest.raises(ValidationError, match="end_date"):
        svc.create_activity(
            session=session,
            kind=ActivityKind.MEETING,
            subject="Sabbatical",
            owner_id=team.rep_a,
            all_day=True,
            start_date=date(2026, 1, 1),
            end_date=date(2026, 1, 1) + svc.MAX_ALL_DAY_SPAN + timedelta(days=1),
        )


@pytest.mark.parametrize("bogus", ["Mars/Olympus_Mons", "../etc", "", "Europe/"])
def test_unknown_time_zone_is_a_validation_error(session: Session, team: Team, bogus: str) -> None:
    with pytest.raises(ValidationError) as err:
        meeting(session, team.rep_a, T0, time_zone=bogus)
    assert err.value.field == "time_zone"
    row = meeting(session, team.rep_a, T0, time_zone="Europe/Berlin")
    with pytest.raises(ValidationError) as err:
        svc.update_activity(session=session, activity_id=row.id, time_zone=bogus)
    assert err.value.field == "time_zone"
