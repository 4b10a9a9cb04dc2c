"""Activities: plan, log, complete, move and remind; the calendar's domain rules.

Every public function is one user action or one query, keyword-only, taking a Session and never
committing: the caller owns the transaction (a UI task, a CLI command, a sync apply step).
Queries and actions return plain frozen dataclasses (:class:`ActivityRow`), never live ORM
objects, so the UI thread can hold them safely.

Time rules:

* Timed activities keep ``start_at``/``end_at`` as aware UTC. ``time_zone`` names the IANA zone
  the user planned in; the UI shows times in its own zone.
* All-day activities keep ``start_date``/``end_date`` with the end **exclusive** (as iCalendar
  does), so a one-day event on 3 March is ``(3 March, 4 March)``.
* Tasks keep ``due_at``; a task may also have a start/end when it is time-boxed on the calendar.

Reminders use ``reminder_at`` alone: a reminder is due while ``reminder_at <= now`` and the
activity is still planned. Snoozing moves ``reminder_at`` forward; dismissing clears it. Because
nothing but the stored time decides, reminders that fell due while the app was closed are simply
due at the next start.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Uuid, and_, column, func, or_, select, text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from crm_desktop.models import Account, Activity, Contact, Opportunity, Quote, User
from crm_desktop.models.base import utcnow
from crm_desktop.models.enums import ActivityKind, ActivityStatus, Priority, Role
from crm_desktop.services.errors import NotFound, ValidationError

#: Shortest timed activity the calendar makes (a click without a drag, a resize to nothing).
MIN_DURATION = timedelta(minutes=15)
#: Length given to a timed activity created without an end.
DEFAULT_DURATION = timedelta(minutes=30)
#: Longest timed activity. The calendar's range query looks back this far from the range start
#: on the (owner_id, start_at) index, so it can only find entries no longer than this; anything
#: longer (a "meeting" over weeks) is a typo or belongs in an all-day entry.
MAX_SPAN = timedelta(days=31)
#: Longest all-day entry (a long holiday or a project block); the all-day query looks back this
#: far on the (owner_id, start_date) index. All-day entries are few, so a wide window is cheap.
MAX_ALL_DAY_SPAN = timedelta(days=366)
#: Most ids bound in one ``IN (...)`` (SQLite's default limit on bound parameters is far above).
_IN_CHUNK = 500


@dataclass(frozen=True)
class ActivityRow:
    """What the calendar, lists and dialogs show of one activity (a snapshot, safe on any thread)."""

    id: uuid.UUID
    kind: ActivityKind
    subject: str
    status: ActivityStatus
    priority: Priority
    start_at: datetime | None
    end_at: datetime | None
    all_day: bool
    start_date: date | None
    end_date: date | None
    due_at: datetime | None
    time_zone: str | None
    reminder_at: datetime | None
    completed_at: datetime | None
    owner_id: uuid.UUID | None
    description: str | None = None
    location: str | None = None
    outcome: str | None = None
    account_id: uuid.UUID | None = None
    contact_id: uuid.UUID | None = None
    opportunity_id: uuid.UUID | None = None
    quote_id: uuid.UUID | None = None
    ical_uid: str | None = None
    owner_name: str = ""
    related_label: str = ""

    @property
    def is_done(self) -> bool:
        """Completed (cancelled counts as closed but not as done)."""
        return self.status == ActivityStatus.DONE

    @property
    def is_timed(self) -> bool:
        """Placed at a time of day (has a start or a due time), as opposed to all-day or unscheduled."""
        return not self.all_day and (self.start_at is not None or self.due_at is not None)

    def span_utc(self) -> tuple[datetime, datetime] | None:
        """Start and end of a timed entry in UTC (a task without an end gets the default length)."""
        if self.all_day:
            return None
        start = self.start_at or self.due_at
        if start is None:
            return None
        end = self.end_at if self.end_at is not None and self.end_at > start else None
        return start, end or start + DEFAULT_DURATION


@dataclass(frozen=True)
class FollowUp:
    """A follow-up to plan while logging: what and when (a timed entry or a task due then)."""

    kind: ActivityKind
    subject: str
    start_at: datetime
    duration: timedelta = DEFAULT_DURATION
    reminder_before: timedelta | None = None


@dataclass(frozen=True)
class Logged:
    """What :func:`log_activity` made: the logged (done) entry and its follow-up, if any."""

    logged: ActivityRow
    follow_up: ActivityRow | None


@dataclass(frozen=True)
class MyDay:
    """The "my day" list: today's entries in time order, plus open tasks whose due time passed."""

    day: date
    today: tuple[ActivityRow, ...]
    overdue: tuple[ActivityRow, ...]


@dataclass(frozen=True)
class UserRow:
    """A user as the team picker shows them."""

    id: uuid.UUID
    name: str
    role: Role
    manager_id: uuid.UUID | None


# --------------------------------------------------------------------------- helpers


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise ValidationError(field, "a time without a time zone was given")
    return value.astimezone(UTC)


def _check_zone(name: object) -> None:
    """Refuse a ``time_zone`` that is not an IANA name known here (ZoneInfo's KeyError or
    ValueError would reach the user as a crash, not as a field to correct)."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError("time_zone", "give an IANA time zone name, e.g. Europe/Berlin")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("time_zone", f"unknown time zone {name!r}") from None


def _get(session: Session, activity_id: uuid.UUID) -> Activity:
    activity = session.get(Activity, activity_id)
    if activity is None or activity.deleted:
        raise NotFound(Activity, activity_id)
    return activity


def _related_labels(session: Session, activities: Sequence[Activity]) -> dict[uuid.UUID, str]:
    """One short "what this is about" label per activity, fetched in one query per entity."""
    wanted: dict[type, set[uuid.UUID]] = {Account: set(), Contact: set(), Opportunity: set()}
    for a in activities:
        if a.contact_id:
            wanted[Contact].add(a.contact_id)
        if a.account_id:
            wanted[Account].add(a.account_id)
        if a.opportunity_id:
            wanted[Opportunity].add(a.opportunity_id)
    names: dict[uuid.UUID, str] = {}
    if wanted[Account]:
        names.update(
            (k, v)
            for k, v in session.execute(
                select(Account.id, Account.name).where(Account.id.in_(wanted[Account]))
            ).all()
        )
    if wanted[Contact]:
        names.update(
            (k, v)
            for k, v in session.execute(
                select(Contact.id, Contact.full_name).where(Contact.id.in_(wanted[Contact]))
            ).all()
        )
    if wanted[Opportunity]:
        names.update(
            (k, v)
            for k, v in session.execute(
                select(Opportunity.id, Opportunity.name).where(
                    Opportunity.id.in_(wanted[Opportunity])
                )
            ).all()
        )
    labels: dict[uuid.UUID, str] = {}
    for a in activities:
        parts = [names.get(i, "") for i in (a.contact_id, a.account_id, a.opportunity_id) if i]
        labels[a.id] = " · ".join(p for p in parts if p)
    return labels


def _user_names(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(
        select(User.id, User.full_name, User.username).where(User.id.in_(wanted))
    )
    return {uid: full or username for uid, full, username in rows}


def _rows(session: Session, activities: Sequence[Activity]) -> list[ActivityRow]:
    labels = _related_labels(session, activities)
    owners = _user_names(session, (a.owner_id for a in activities))
    return [
        to_row(
            a,
            owner_name=owners.get(a.owner_id, "") if a.owner_id else "",
            related_label=labels.get(a.id, ""),
        )
        for a in activities
    ]


def to_row(activity: Activity, *, owner_name: str = "", related_label: str = "") -> ActivityRow:
    """Snapshot an ORM activity (call inside the session that loaded it)."""
    return ActivityRow(
        id=activity.id,
        kind=ActivityKind(activity.kind),
        subject=activity.subject,
        status=ActivityStatus(activity.status or ActivityStatus.PLANNED),
        priority=Priority(activity.priority or Priority.NORMAL),
        start_at=activity.start_at,
        end_at=activity.end_at,
        all_day=bool(activity.all_day),
        start_date=activity.start_date,
        end_date=activity.end_date,
        due_at=activity.due_at,
        time_zone=activity.time_zone,
        reminder_at=activity.reminder_at,
        completed_at=activity.completed_at,
        owner_id=activity.owner_id,
        description=activity.description,
        location=activity.location,
        outcome=activity.outcome,
        account_id=activity.account_id,
        contact_id=activity.contact_id,
        opportunity_id=activity.opportunity_id,
        quote_id=activity.quote_id,
        ical_uid=activity.ical_uid,
        owner_name=owner_name,
        related_label=related_label,
    )


def get_activity(*, session: Session, activity_id: uuid.UUID) -> ActivityRow:
    """One activity by id (tombstones count as missing)."""
    return _rows(session, [_get(session, activity_id)])[0]


def _check_links(
    session: Session,
    *,
    account_id: uuid.UUID | None,
    contact_id: uuid.UUID | None,
    opportunity_id: uuid.UUID | None,
    quote_id: uuid.UUID | None,
) -> None:
    for model, value, field in (
        (Account, account_id, "account_id"),
        (Contact, contact_id, "contact_id"),
        (Opportunity, opportunity_id, "opportunity_id"),
        (Quote, quote_id, "quote_id"),
    ):
        if value is not None:
            row = session.get(model, value)
            if row is None or getattr(row, "deleted", False):
                raise ValidationError(field, f"{model.__name__.lower()} {value} does not exist")


def _validate_times(activity: Activity) -> None:
    if activity.all_day:
        if activity.start_date is None:
            raise ValidationError("start_date", "an all-day entry needs a first day")
        if activity.end_date is None:
            activity.end_date = activity.start_date + timedelta(days=1)
        if activity.end_date <= activity.start_date:
            raise ValidationError("end_date", "the last day comes before the first")
        if activity.end_date - activity.start_date > MAX_ALL_DAY_SPAN:
            raise ValidationError(
                "end_date", f"an all-day entry can span at most {MAX_ALL_DAY_SPAN.days} days"
            )
        activity.start_at = None
        activity.end_at = None
        return
    activity.start_date = None
    activity.end_date = None
    if (
        activity.start_at is not None
        and activity.end_at is not None
        and activity.end_at < activity.start_at
    ):
        raise ValidationError("end_at", "the end comes before the start")
    if (
        activity.start_at is not None
        and activity.end_at is not None
        and activity.end_at - activity.start_at > MAX_SPAN
    ):
        raise ValidationError(
            "end_at", f"a timed entry can last at most {MAX_SPAN.days} days; use an all-day entry"
        )


# --------------------------------------------------------------------------- actions


def create_activity(
    *,
    session: Session,
    kind: ActivityKind,
    subject: str,
    owner_id: uuid.UUID | None,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    all_day: bool = False,
    start_date: date | None = None,
    end_date: date | None = None,
    due_at: datetime | None = None,
    time_zone: str | None = None,
    description: str | None = None,
    location: str | None = None,
    priority: Priority = Priority.NORMAL,
    reminder_at: datetime | None = None,
    status: ActivityStatus = ActivityStatus.PLANNED,
    outcome: str | None = None,
    completed_at: datetime | None = None,
    account_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    opportunity_id: uuid.UUID | None = None,
    quote_id: uuid.UUID | None = None,
    ical_uid: str | None = None,
) -> ActivityRow:
    """Plan (or record) one activity and return it."""
    subject = subject.strip()
    if not subject:
        raise ValidationError("subject", "give the activity a subject")
    if time_zone is not None:
        _check_zone(time_zone)  # an unknown zone name fails here, not in every later view
    _check_links(
        session,
        account_id=account_id,
        contact_id=contact_id,
        opportunity_id=opportunity_id,
        quote_id=quote_id,
    )
    if start_at is not None and end_at is None and not all_day and kind != ActivityKind.TASK:
        end_at = start_at + DEFAULT_DURATION
    activity = Activity(
        kind=kind,
        subject=subject,
        owner_id=owner_id,
        start_at=_aware(start_at, "start_at") if start_at else None,
        end_at=_aware(end_at, "end_at") if end_at else None,
        all_day=all_day,
        start_date=start_date,
        end_date=end_date,
        due_at=_aware(due_at, "due_at") if due_at else None,
        time_zone=time_zone,
        description=description,
        location=location,
        priority=priority,
        reminder_at=_aware(reminder_at, "reminder_at") if reminder_at else None,
        status=status,
        outcome=outcome,
        completed_at=completed_at,
        account_id=account_id,
        contact_id=contact_id,
        opportunity_id=opportunity_id,
        quote_id=quote_id,
        ical_uid=ical_uid,
    )
    if status == ActivityStatus.DONE and activity.completed_at is None:
        activity.completed_at = utcnow()
    _validate_times(activity)
    session.add(activity)
    session.flush()
    return get_activity(session=session, activity_id=activity.id)


#: Fields :func:`update_activity` may change.
EDITABLE_FIELDS = frozenset(
    {
        "kind",
        "subject",
        "description",
        "location",
        "start_at",
        "end_at",
        "all_day",
        "start_date",
        "end_date",
        "due_at",
        "time_zone",
        "priority",
        "reminder_at",
        "outcome",
        "account_id",
        "contact_id",
        "opportunity_id",
        "quote_id",
    }
)


def update_activity(*, session: Session, activity_id: uuid.UUID, **changes: object) -> ActivityRow:
    """Change the given fields of an activity (only :data:`EDITABLE_FIELDS`)."""
    unknown = set(changes) - EDITABLE_FIELDS
    if unknown:
        raise ValidationError(sorted(unknown)[0], "cannot be edited here")
    activity = _get(session, activity_id)
    if "subject" in changes and not str(changes["subject"] or "").strip():
        raise ValidationError("subject", "give the activity a subject")
    if changes.get("time_zone") is not None:
        _check_zone(changes["time_zone"])
    links = {
        k: changes[k]
        for k in ("account_id", "contact_id", "opportunity_id", "quote_id")
        if k in changes
    }
    if links:
        _check_links(
            session,
            account_id=links.get("account_id"),  # type: ignore[arg-type]
            contact_id=links.get("contact_id"),  # type: ignore[arg-type]
            opportunity_id=links.get("opportunity_id"),  # type: ignore[arg-type]
            quote_id=links.get("quote_id"),  # type: ignore[arg-type]
        )
    for key, value in changes.items():
        if isinstance(value, datetime):
            value = _aware(value, key)
        setattr(activity, key, value)
    _validate_times(activity)
    session.flush()
    return get_activity(session=session, activity_id=activity.id)


def log_activity(
    *,
    session: Session,
    kind: ActivityKind,
    subject: str,
    owner_id: uuid.UUID | None,
    occurred_at: datetime,
    duration: timedelta = timedelta(0),
    outcome: str | None = None,
    description: str | None = None,
    time_zone: str | None = None,
    account_id: uuid.UUID | None = None,
    contact_id: uuid.UUID | None = None,
    opportunity_id: uuid.UUID | None = None,
    quote_id: uuid.UUID | None = None,
    follow_up: FollowUp | None = None,
) -> Logged:
    """Record a call or meeting that happened, with its outcome, and plan the follow-up in one go.

    The follow-up inherits the links and owner of the logged entry, so "call back next week"
    lands on the same account and in the same person's calendar.
    """
    occurred_at = _aware(occurred_at, "occurred_at")
    logged = create_activity(
        session=session,
        kind=kind,
        subject=subject,
        owner_id=owner_id,
        start_at=occurred_at,
        end_at=occurred_at + max(duration, timedelta(0)),
        time_zone=time_zone,
        outcome=outcome,
        description=description,
        status=ActivityStatus.DONE,
        completed_at=occurred_at + max(duration, timedelta(0)),
        account_id=account_id,
        contact_id=contact_id,
        opportunity_id=opportunity_id,
        quote_id=quote_id,
    )
    planned = None
    if follow_up is not None:
        start = _aware(follow_up.start_at, "follow_up")
        is_task = follow_up.kind == ActivityKind.TASK
        planned = create_activity(
            session=session,
            kind=follow_up.kind,
            subject=follow_up.subject,
            owner_id=owner_id,
            start_at=None if is_task else start,
            end_at=None if is_task else start + max(follow_up.duration, MIN_DURATION),
            due_at=start if is_task else None,
            time_zone=time_zone,
            reminder_at=start - follow_up.reminder_before
            if follow_up.reminder_before is not None
            else None,
            account_id=account_id,
            contact_id=contact_id,
            opportunity_id=opportunity_id,
            quote_id=quote_id,
        )
    return Logged(logged=logged, follow_up=planned)


def complete_activity(
    *,
    session: Session,
    activity_id: uuid.UUID,
    outcome: str | None = None,
    now: datetime | None = None,
) -> ActivityRow:
    """Mark an activity done (its reminder goes with it); completing twice keeps the first time."""
    activity = _get(session, activity_id)
    if activity.status != ActivityStatus.DONE:
        activity.status = ActivityStatus.DONE
        activity.completed_at = _aware(now, "now") if now else utcnow()
    if outcome is not None:
        activity.outcome = outcome
    activity.reminder_at = None
    session.flush()
    return get_activity(session=session, activity_id=activity_id)


def reopen_activity(*, session: Session, activity_id: uuid.UUID) -> ActivityRow:
    """Undo a completion or cancellation."""
    activity = _get(session, activity_id)
    activity.status = ActivityStatus.PLANNED
    activity.completed_at = None
    session.flush()
    return get_activity(session=session, activity_id=activity_id)


def cancel_activity(*, session: Session, activity_id: uuid.UUID) -> ActivityRow:
    """Cancel a planned activity (it stays visible, struck out; nothing is deleted)."""
    activity = _get(session, activity_id)
    activity.status = ActivityStatus.CANCELLED
    activity.reminder_at = None
    session.flush()
    return get_activity(session=session, activity_id=activity_id)


def delete_activity(*, session: Session, activity_id: uuid.UUID) -> None:
    """Tombstone an activity (sync carries the delete; rows are never removed)."""
    _get(session, activity_id).deleted = True
    session.flush()


def move_activity(*, session: Session, activity_id: uuid.UUID, start_at: datetime) -> ActivityRow:
    """Move a timed activity to a new start, keeping its length (a task moves its due time).

    The reminder moves with it, keeping the same lead time, so a 15-minutes-before reminder
    stays 15 minutes before.
    """
    start_at = _aware(start_at, "start_at")
    activity = _get(session, activity_id)
    if activity.all_day:
        raise ValidationError("start_at", "an all-day entry moves by days (move_activity_days)")
    old_start = activity.start_at or activity.due_at
    if activity.start_at is not None:
        length = (activity.end_at - activity.start_at) if activity.end_at else DEFAULT_DURATION
        activity.start_at = start_at
        activity.end_at = start_at + length
        if activity.due_at is not None and old_start is not None:
            activity.due_at = activity.due_at + (start_at - old_start)
    else:
        activity.due_at = start_at
    if activity.reminder_at is not None and old_start is not None:
        activity.reminder_at = activity.reminder_at + (start_at - old_start)
    session.flush()
    return get_activity(session=session, activity_id=activity_id)


def _shift_days(value: datetime, days: int, zone: ZoneInfo) -> datetime:
    """``value`` moved by ``days`` calendar days at the same wall-clock time in ``zone``.

    Adding ``timedelta(days=n)`` to a UTC instant keeps the UTC time, so a 09:00 Berlin meeting
    dragged across the spring DST change would land at 10:00 local. A day is a calendar day in
    the zone the user planned in, so the shift is done on the local wall time. A wall time that
    does not exist on the target day (inside a spring-forward gap) resolves as zoneinfo does
    with ``fold=0``: one hour later.
    """
    local = value.astimezone(zone).replace(tzinfo=None) + timedelta(days=days)
    return local.replace(tzinfo=zone).astimezone(UTC)


def _zone_of(activity: Activity, fallback: ZoneInfo | None) -> ZoneInfo:
    """The zone an activity's days are counted in: its own, else the view's, else UTC."""
    if activity.time_zone:
        try:
            return ZoneInfo(activity.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # a bad stored name (old data) falls back to the view's zone, not a crash
    return fallback or ZoneInfo("UTC")


def move_activity_days(
    *,
    session: Session,
    activity_id: uuid.UUID,
    days: int,
    zone: ZoneInfo | None = None,
) -> ActivityRow:
    """Shift an activity by whole days (month view drags): all-day dates or timed instants.

    Timed fields (start, end, due, reminder) keep their wall-clock time in the activity's
    ``time_zone`` (or ``zone``, the view's, when it has none), so a move across a DST change
    does not shift the hour.
    """
    activity = _get(session, activity_id)
    day_zone = _zone_of(activity, zone)
    if activity.all_day:
        assert activity.start_date is not None
        delta = timedelta(days=days)
        activity.start_date = activity.start_date + delta
        activity.end_date = (activity.end_date or activity.start_date) + delta
    else:
        for field in ("start_at", "end_at", "due_at"):
            value = getattr(activity, field)
            if value is not None:
                setattr(activity, field, _shift_days(value, days, day_zone))
    if activity.reminder_at is not None:
        activity.reminder_at = _shift_days(activity.reminder_at, days, day_zone)
    session.flush()
    return get_activity(session=session, activity_id=activity_id)


def resize_activity(*, session: Session, activity_id: uuid.UUID, end_at: datetime) -> ActivityRow:
    """Change a timed activity's end (never shorter than :data:`MIN_DURATION`)."""
    end_at = _aware(end_at, "end_at")
    activity = _get(session, activity_id)
    start = activity.start_at
    if activity.all_day or start is None:
        raise ValidationError("end_at", "only timed entries with a start can be resized")
    activity.end_at = max(end_at, start + MIN_DURATION)
    _validate_times(activity)
    session.flush()
    return get_activity(session=session, activity_id=activity_id)


def resize_activity_days(
    *, session: Session, activity_id: uuid.UUID, end_date: date
) -> ActivityRow:
    """Change an all-day entry's (exclusive) end date; at least one day long."""
    activity = _get(session, activity_id)
    if not activity.all_day or activity.start_date is None:
        raise ValidationError("end_date", "only all-day entries end on a date")
    activity.end_date = max(end_date, activity.start_date + timedelta(days=1))
    _validate_times(activity)
    session.flush()
    return get_activity(session=session, activity_id=activity_id)


def reschedule_activity(
    *,
    session: Session,
    activity_id: uuid.UUID,
    start_at: datetime | None = None,
    end_at: datetime | None = None,
    start_date: date | None = None,
    end_date: date | None = None,
) -> ActivityRow:
    """Put an activity at a new time (timed) or on new days (all-day); reopens a cancelled one."""
    activity = _get(session, activity_id)
    if start_date is not None:
        length = (
            (activity.end_date - activity.start_date)
            if activity.all_day and activity.start_date and activity.end_date
            else timedelta(days=1)
        )
        activity.all_day = True
        activity.start_date = start_date
        activity.end_date = end_date or start_date + length
    elif start_at is not None:
        if activity.all_day:
            activity.all_day = False
            activity.start_at = _aware(start_at, "start_at")
            activity.end_at = (
                _aware(end_at, "end_at") if end_at else activity.start_at + DEFAULT_DURATION
            )
        else:
            move_activity(session=session, activity_id=activity_id, start_at=start_at)
            if end_at is not None:
                resize_activity(session=session, activity_id=activity_id, end_at=end_at)
    else:
        raise ValidationError("start_at", "give a new time or a new day")
    if activity.status == ActivityStatus.CANCELLED:
        activity.status = ActivityStatus.PLANNED
    _validate_times(activity)
    session.flush()
    return get_activity(session=session, activity_id=activity_id)


def reassign_activity(
    *, session: Session, activity_id: uuid.UUID, owner_id: uuid.UUID
) -> ActivityRow:
    """Give an activity to another (active) user."""
    user = session.get(User, owner_id)
    if user is None or user.deleted or not user.active:
        raise ValidationError("owner_id", "that user does not exist or is inactive")
    activity = _get(session, activity_id)
    activity.owner_id = owner_id
    session.flush()
    return get_activity(session=session, activity_id=activity_id)


# --------------------------------------------------------------------------- reminders


def _owned_by_or_unowned(user_id: uuid.UUID) -> ColumnElement[bool]:
    """``owner_id = user_id OR owner_id IS NULL``, written so that no owner index matches it.

    The reminder queries must read the partial ``ix_activity_reminder_at`` (only live rows
    with a reminder, in time order). Given an indexable owner test, SQLite picks the owner
    index instead and reads every activity the user ever had; ``coalesce`` hides the column.
    """
    return func.coalesce(Activity.owner_id, user_id) == user_id


def reminders_due(
    *, session: Session, user_id: uuid.UUID | None, now: datetime | None = None
) -> list[ActivityRow]:
    """Planned activities of ``user_id`` whose reminder time has come, oldest first.

    Includes reminders that fell due while the app was closed: nothing but ``reminder_at`` decides.
    """
    now = _aware(now, "now") if now else utcnow()
    stmt = (
        select(Activity)
        .where(
            Activity.deleted.is_(False),
            Activity.status == ActivityStatus.PLANNED,
            Activity.reminder_at.is_not(None),
            Activity.reminder_at <= now,
        )
        .order_by(Activity.reminder_at)
    )
    if user_id is not None:
        stmt = stmt.where(_owned_by_or_unowned(user_id))
    return _rows(session, session.scalars(stmt).all())


def next_reminder_at(*, session: Session, user_id: uuid.UUID | None) -> datetime | None:
    """When the next not-yet-due reminder falls (lets a timer sleep until then)."""
    stmt = select(Activity.reminder_at).where(
        Activity.deleted.is_(False),
        Activity.status == ActivityStatus.PLANNED,
        Activity.reminder_at > utcnow(),
    )
    if user_id is not None:
        stmt = stmt.where(_owned_by_or_unowned(user_id))
    return session.scalar(stmt.order_by(Activity.reminder_at).limit(1))


def snooze_reminder(
    *, session: Session, activity_id: uuid.UUID, delay: timedelta, now: datetime | None = None
) -> ActivityRow:
    """Remind again ``delay`` from now."""
    if delay <= timedelta(0):
        raise ValidationError("delay", "snooze for a positive time")
    now = _aware(now, "now") if now else utcnow()
    activity = _get(session, activity_id)
    activity.reminder_at = now + delay
    session.flush()
    return get_activity(session=session, activity_id=activity_id)


def dismiss_reminder(*, session: Session, activity_id: uuid.UUID) -> ActivityRow:
    """Stop reminding (the activity itself stays planned)."""
    activity = _get(session, activity_id)
    activity.reminder_at = None
    session.flush()
    return get_activity(session=session, activity_id=activity_id)


# --------------------------------------------------------------------------- queries


def activities_in_range(
    *,
    session: Session,
    start: datetime,
    end: datetime,
    owner_ids: Iterable[uuid.UUID] | None = None,
    zone: ZoneInfo | None = None,
    kinds: Iterable[ActivityKind] | None = None,
    include_closed: bool = True,
) -> list[ActivityRow]:
    """Activities overlapping ``[start, end)``: timed, due and all-day ones, in start order.

    All-day entries are compared by the local dates of ``start``/``end`` in ``zone`` (default UTC):
    a holiday on 3 March is on 3 March wherever you stand. ``owner_ids=None`` means everyone's.
    """
    start = _aware(start, "start")
    end = _aware(end, "end")
    zone = zone or ZoneInfo("UTC")
    first_day = start.astimezone(zone).date()
    last_day = (end - timedelta(microseconds=1)).astimezone(zone).date()
    # Three queries, one per kind of placement, each a range on its own (owner_id, ...) index.
    # One query OR-ing them, with only an upper bound on start_at, scanned the whole table.
    # The lower bounds come from the longest span an entry may have (see _validate_times).
    timed = and_(
        Activity.all_day.is_(False),
        Activity.start_at >= start - MAX_SPAN,
        Activity.start_at < end,
        # An entry without an end (or of zero length) occupies its start instant only.
        or_(Activity.end_at > start, Activity.start_at >= start),
    )
    due = and_(
        Activity.all_day.is_(False),
        Activity.start_at.is_(None),
        Activity.due_at >= start,
        Activity.due_at < end,
    )
    all_day = and_(
        Activity.all_day.is_(True),
        Activity.start_date >= first_day - MAX_ALL_DAY_SPAN,
        Activity.start_date <= last_day,
        Activity.end_date > first_day,
    )
    filters: list[ColumnElement[bool]] = [Activity.deleted.is_(False)]
    if kinds is not None:
        filters.append(Activity.kind.in_(list(kinds)))
    if not include_closed:
        filters.append(Activity.status == ActivityStatus.PLANNED)
    found: dict[uuid.UUID, Activity] = {}
    for owners in _owner_conditions(session, owner_ids):
        for placement in (timed, due, all_day):
            for activity in session.scalars(select(Activity).where(owners, placement, *filters)):
                found[activity.id] = activity
    ordered = sorted(found.values(), key=lambda a: _sort_key(a, zone))
    return _rows(session, ordered)


def _owner_conditions(
    session: Session, owner_ids: Iterable[uuid.UUID] | None
) -> list[ColumnElement[bool]]:
    """``owner_id`` conditions covering ``owner_ids`` (``None``: every owner, and no owner).

    Each condition leads an index (``owner_id`` = / IN / IS NULL), so every range query stays a
    search. For "everyone" the owners present are listed first by a loose index scan: one
    index seek per distinct owner (a handful of users) instead of reading every row. The
    activity table's owners are taken, not the user table's, because sync may bring in
    activities of users who are not in this store.
    """
    if owner_ids is None:
        wanted = list(
            session.scalars(
                text(
                    "WITH RECURSIVE o(id) AS ("
                    " SELECT min(owner_id) FROM activity"
                    " UNION ALL"
                    " SELECT (SELECT min(owner_id) FROM activity WHERE owner_id > o.id)"
                    " FROM o WHERE o.id IS NOT NULL"
                    ") SELECT id FROM o WHERE id IS NOT NULL"
                ).columns(column("id", Uuid))
            )
        )
        conditions: list[ColumnElement[bool]] = [Activity.owner_id.is_(None)]
    else:
        wanted = list(dict.fromkeys(owner_ids))
        conditions = []
    for i in range(0, len(wanted), _IN_CHUNK):
        conditions.append(Activity.owner_id.in_(wanted[i : i + _IN_CHUNK]))
    return conditions


def _sort_key(activity: Activity, zone: ZoneInfo) -> tuple[datetime, str]:
    if activity.all_day and activity.start_date is not None:
        when = datetime.combine(activity.start_date, time(0), zone).astimezone(UTC)
    else:
        when = activity.start_at or activity.due_at or activity.created_at
    return when, activity.subject


def my_day(
    *,
    session: Session,
    user_id: uuid.UUID | None,
    day: date,
    zone: ZoneInfo,
    now: datetime | None = None,
) -> MyDay:
    """Today's entries for ``user_id`` plus their overdue open tasks (due before now)."""
    now = _aware(now, "now") if now else utcnow()
    day_start = datetime.combine(day, time(0), zone)
    day_end = datetime.combine(day + timedelta(days=1), time(0), zone)
    today = activities_in_range(
        session=session,
        start=day_start,
        end=day_end,
        owner_ids=[user_id] if user_id else None,
        zone=zone,
    )
    stmt = select(Activity).where(
        Activity.deleted.is_(False),
        Activity.kind == ActivityKind.TASK,
        Activity.status == ActivityStatus.PLANNED,
        Activity.due_at.is_not(None),
        Activity.due_at < now,
    )
    if user_id is not None:
        stmt = stmt.where(Activity.owner_id == user_id)
    today_ids = {row.id for row in today}
    overdue = [
        a for a in session.scalars(stmt.order_by(Activity.due_at)).all() if a.id not in today_ids
    ]
    return MyDay(day=day, today=tuple(today), overdue=tuple(_rows(session, overdue)))


def users(*, session: Session) -> list[UserRow]:
    """All active users, by name."""
    rows = session.scalars(
        select(User).where(User.deleted.is_(False), User.active.is_(True)).order_by(User.full_name)
    ).all()
    return [UserRow(u.id, u.full_name or u.username, Role(u.role), u.manager_id) for u in rows]


def subordinates(*, session: Session, manager_id: uuid.UUID) -> list[UserRow]:
    """Everyone below ``manager_id`` in the reporting hierarchy (direct and indirect), by name.

    Walks ``User.manager_id`` breadth-first with a visited set, so a cycle in bad data cannot
    loop forever.
    """
    everyone = users(session=session)
    by_manager: dict[uuid.UUID | None, list[UserRow]] = {}
    for u in everyone:
        by_manager.setdefault(u.manager_id, []).append(u)
    found: list[UserRow] = []
    seen = {manager_id}
    queue = [manager_id]
    while queue:
        current = queue.pop(0)
        for u in by_manager.get(current, []):
            if u.id not in seen:
                seen.add(u.id)
                found.append(u)
                queue.append(u.id)
    return sorted(found, key=lambda u: u.name.casefold())


def visible_calendar_owners(*, session: Session, user_id: uuid.UUID) -> list[UserRow]:
    """Whose calendars ``user_id`` may overlay: themselves first, then their subordinates.

    A rep has no subordinates, so sees only their own; a manager (or admin) sees their team.
    """
    me = session.get(User, user_id)
    if me is None or me.deleted:
        raise NotFound(User, user_id)
    own = UserRow(me.id, me.full_name or me.username, Role(me.role), me.manager_id)
    return [own, *subordinates(session=session, manager_id=user_id)]


def team_calendar(
    *,
    session: Session,
    viewer_id: uuid.UUID,
    owner_ids: Iterable[uuid.UUID],
    start: datetime,
    end: datetime,
    zone: ZoneInfo | None = None,
) -> list[ActivityRow]:
    """Activities of the chosen team members; refuses owners outside the viewer's team."""
    allowed = {u.id for u in visible_calendar_owners(session=session, user_id=viewer_id)}
    wanted = set(owner_ids)
    outside = wanted - allowed
    if outside:
        raise ValidationError("owner_ids", "you can only overlay your own team's calendars")
    return activities_in_range(session=session, start=start, end=end, owner_ids=wanted, zone=zone)
