"""iCalendar (.ics) import and export of activities, with the ``icalendar`` library.

Export
    One VEVENT per timed or all-day activity, one VTODO per task that has only a due time.
    Times are written in the zone the activity was planned in (``DTSTART;TZID=Europe/Berlin``)
    with a VTIMEZONE for every zone used, so other programs show the right wall-clock time;
    activities without a zone are written in UTC. CRM fields that iCalendar has no property for
    travel as ``X-CRM-*`` properties (kind, status, outcome, completion time, the exact zone
    name), so a round trip through a file keeps every field. Times have whole-second precision
    (iCalendar has no fractions).

Import
    All or nothing: the whole file is parsed and checked first; any problem raises
    :class:`IcsError` naming the line and component, and nothing is written. Accepted:

    * ``TZID`` values that are IANA names, Windows zone names as Outlook and Exchange write them
      ("W. Europe Standard Time", mapped with icalendar's Windows-to-Olson table), or custom
      VTIMEZONE definitions (used as defined; ``time_zone`` stays empty because there is no
      IANA name to keep); floating times are read in the importer's zone.
    * All-day events (``VALUE=DATE``), with an exclusive ``DTEND`` as RFC 5545 says; a missing
      end means one day.
    * Recurring events (RRULE, RDATE, EXDATE, and RECURRENCE-ID overrides) are **expanded** into
      one activity per occurrence, because the CRM's activities are single entries (logging a
      call against one occurrence must not touch the others, and sync merges per record). The
      expansion is bounded: a finite series (COUNT/UNTIL) is expanded whole up to
      :data:`MAX_OCCURRENCES`; an endless one from ``horizon_start`` (default 90 days ago, or
      the series start if later) to ``horizon_end`` (default one year ahead). Each occurrence's
      ``ical_uid`` is ``UID#<start>`` (UTC ``YYYYMMDDTHHMMSSZ`` or ``YYYYMMDD`` for all-day),
      so importing the same file again updates instead of duplicating.
    * VTODO becomes a task (``DUE``, ``COMPLETED``); a VALARM's first display/audio trigger
      becomes the reminder.

    Re-import matches on ``(owner_id, ical_uid)``: the importing owner's existing activity with
    the same UID is updated in place; other people's copies of the event are never touched.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
from dateutil import rrule as du_rrule
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_desktop.models import Activity
from crm_desktop.models.base import utcnow
from crm_desktop.models.enums import ActivityKind, ActivityStatus, Priority
from crm_desktop.services.activities import (
    MAX_ALL_DAY_SPAN,
    MAX_SPAN,
    ActivityRow,
    activities_in_range,
    to_row,
)
from crm_desktop.services.errors import ServiceError

PRODID = "-//Field CRM//Calendar export//EN"
#: Most occurrences one recurring event may expand to (a typo like FREQ=MINUTELY stays harmless).
MAX_OCCURRENCES = 1000
#: How far ahead an endless series is expanded by default.
DEFAULT_HORIZON = timedelta(days=365)
#: How far back an endless series is expanded by default.
DEFAULT_LOOKBACK = timedelta(days=90)

_PRIORITY_TO_ICAL = {Priority.HIGH: 1, Priority.NORMAL: 5, Priority.LOW: 9}


class IcsError(ServiceError):
    """A file that cannot be imported; ``line`` (1-based) and ``component`` say where, if known."""

    def __init__(
        self, message: str, *, line: int | None = None, component: str | None = None
    ) -> None:
        where = ", ".join(p for p in (f"line {line}" if line else "", component or "") if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.message = message
        self.line = line
        self.component = component


@dataclass(frozen=True)
class ParsedEntry:
    """One activity read from a file, before it touches the store."""

    ical_uid: str
    kind: ActivityKind
    subject: str
    description: str | None = None
    location: str | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    all_day: bool = False
    start_date: date | None = None
    end_date: date | None = None
    due_at: datetime | None = None
    time_zone: str | None = None
    status: ActivityStatus = ActivityStatus.PLANNED
    priority: Priority = Priority.NORMAL
    reminder_at: datetime | None = None
    outcome: str | None = None
    completed_at: datetime | None = None


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    created: int
    updated: int
    activity_ids: tuple[uuid.UUID, ...] = field(default=())

    @property
    def total(self) -> int:
        """Activities written."""
        return self.created + self.updated


# =========================================================================== export


def _ical_dt(value: datetime, zone_name: str | None) -> datetime:
    """Whole seconds, in the planning zone when it is known (else UTC)."""
    value = value.replace(microsecond=0)
    if zone_name:
        try:
            return value.astimezone(ZoneInfo(zone_name))
        except ZoneInfoNotFoundError:
            pass
    return value.astimezone(UTC)


def _utc(value: datetime) -> datetime:
    return value.replace(microsecond=0).astimezone(UTC)


def _component_for(activity: ActivityRow, stamp: datetime) -> icalendar.Component | None:
    zone = activity.time_zone
    is_todo = (
        activity.kind == ActivityKind.TASK and activity.start_at is None and not activity.all_day
    )
    if is_todo:
        comp: icalendar.Component = icalendar.Todo()
        if activity.due_at is not None:
            comp.add("DUE", _ical_dt(activity.due_at, zone))
        if activity.status == ActivityStatus.DONE:
            comp.add("STATUS", "COMPLETED")
        elif activity.status == ActivityStatus.CANCELLED:
            comp.add("STATUS", "CANCELLED")
        else:
            comp.add("STATUS", "NEEDS-ACTION")
        if activity.completed_at is not None:
            comp.add("COMPLETED", _utc(activity.completed_at))
    else:
        if activity.all_day:
            if activity.start_date is None:
                return None
            comp = icalendar.Event()
            comp.add("DTSTART", activity.start_date)
            comp.add("DTEND", activity.end_date or activity.start_date + timedelta(days=1))
        elif activity.start_at is not None:
            comp = icalendar.Event()
            comp.add("DTSTART", _ical_dt(activity.start_at, zone))
            if activity.end_at is not None:
                comp.add("DTEND", _ical_dt(activity.end_at, zone))
        else:
            return None  # a note or e-mail with no time has no place in a calendar
        comp.add(
            "STATUS", "CANCELLED" if activity.status == ActivityStatus.CANCELLED else "CONFIRMED"
        )
        if activity.due_at is not None:
            comp.add("X-CRM-DUE", icalendar.vDatetime(_utc(activity.due_at)))
        if activity.completed_at is not None:
            comp.add("X-CRM-COMPLETED", icalendar.vDatetime(_utc(activity.completed_at)))
    comp.add("UID", activity.ical_uid or f"{activity.id}@field-crm")
    comp.add("DTSTAMP", stamp)
    comp.add("SUMMARY", activity.subject)
    if activity.description:
        comp.add("DESCRIPTION", activity.description)
    if activity.location:
        comp.add("LOCATION", activity.location)
    comp.add("PRIORITY", _PRIORITY_TO_ICAL[activity.priority])
    comp.add("CATEGORIES", [activity.kind.value.capitalize()])
    comp.add("X-CRM-KIND", activity.kind.value)
    comp.add("X-CRM-STATUS", activity.status.value)
    if zone:
        comp.add("X-CRM-TIME-ZONE", icalendar.vText(zone))
    if activity.outcome:
        comp.add("X-CRM-OUTCOME", icalendar.vText(activity.outcome))
    if activity.reminder_at is not None:
        alarm = icalendar.Alarm()
        alarm.add("ACTION", "DISPLAY")
        alarm.add("DESCRIPTION", activity.subject)
        alarm.add("TRIGGER", _utc(activity.reminder_at), parameters={"VALUE": "DATE-TIME"})
        comp.add_component(alarm)
    return comp


def export_rows(rows: Iterable[ActivityRow], *, now: datetime | None = None) -> bytes:
    """Write the given activities as one VCALENDAR (no database access)."""
    stamp = _utc(now or utcnow())
    cal = icalendar.Calendar()
    cal.add("PRODID", PRODID)
    cal.add("VERSION", "2.0")
    cal.add("CALSCALE", "GREGORIAN")
    for row in rows:
        comp = _component_for(row, stamp)
        if comp is not None:
            cal.add_component(comp)
    # A VTIMEZONE per zone used, so programs without an IANA database read the same times.
    cal.add_missing_timezones()
    return cal.to_ical()


def export_ics(
    *,
    session: Session,
    start: datetime | None = None,
    end: datetime | None = None,
    activity_ids: Sequence[uuid.UUID] | None = None,
    owner_ids: Sequence[uuid.UUID] | None = None,
    kinds: Sequence[ActivityKind] | None = None,
    zone: ZoneInfo | None = None,
) -> bytes:
    """Export a date range (``start``..``end``) and/or a chosen set of activities.

    With ``activity_ids`` only those are written (still filtered by the other arguments when
    given); otherwise everything overlapping the range. Tombstones are never exported.
    """
    if activity_ids is not None:
        rows = [
            to_row(a)
            for a in session.scalars(
                select(Activity).where(
                    Activity.id.in_(list(activity_ids)), Activity.deleted.is_(False)
                )
            ).all()
        ]
        if owner_ids is not None:
            rows = [r for r in rows if r.owner_id in set(owner_ids)]
        if kinds is not None:
            rows = [r for r in rows if r.kind in set(kinds)]
        rows.sort(
            key=lambda r: (r.start_at or r.due_at or datetime.min.replace(tzinfo=UTC), r.subject)
        )
    else:
        if start is None or end is None:
            raise IcsError("give a date range or a set of activities to export")
        rows = activities_in_range(
            session=session, start=start, end=end, owner_ids=owner_ids, zone=zone, kinds=kinds
        )
    return export_rows(rows)


# =========================================================================== import


def _line_index(text: str) -> list[tuple[int, str, str]]:
    """(line, component name, UID) of each BEGIN:VEVENT/VTODO, in file order, for messages."""
    found: list[tuple[int, str, str]] = []
    stack: list[list[Any]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        upper = line.upper()
        if upper.startswith("BEGIN:"):
            name = upper[6:]
            entry = [number, name, ""]
            stack.append(entry)
            if name in ("VEVENT", "VTODO"):
                found.append((number, name, ""))
        elif upper.startswith("UID:") and stack and stack[-1][1] in ("VEVENT", "VTODO"):
            for i in range(len(found) - 1, -1, -1):
                if found[i][0] == stack[-1][0]:
                    found[i] = (found[i][0], found[i][1], line[4:])
                    break
        elif upper.startswith("END:") and stack:
            stack.pop()
    return found


def _resolve_zone(prop: Any, value: datetime, fallback: ZoneInfo) -> tuple[datetime, str | None]:
    """An aware UTC instant and the IANA zone name it was written in (None if not IANA)."""
    tzid = None
    params = getattr(prop, "params", None)
    if params is not None:
        tzid = params.get("TZID")
    if value.tzinfo is None:
        return value.replace(tzinfo=fallback).astimezone(UTC), fallback.key
    name = iana_name(tzid, value.tzinfo)
    if name is not None and tzid is not None:
        # Re-read the wall time in the real IANA zone: an Outlook VTIMEZONE only carries the
        # current rule, the IANA database also knows past changes.
        return value.replace(tzinfo=ZoneInfo(name)).astimezone(UTC), name
    if name in ("UTC", "Etc/UTC"):
        return value.astimezone(UTC), None
    return value.astimezone(UTC), name


def iana_name(tzid: str | None, tz: tzinfo | None = None) -> str | None:
    """The IANA zone name meant by ``tzid`` (or by ``tz``'s key), or None if there is none.

    Accepts IANA names, Windows names as Outlook writes them ("W. Europe Standard Time") and
    path-prefixed names ("/mozilla.org/20050126_1/Europe/Berlin"); only names this machine's
    zone database knows are returned, so the result is always safe to pass to ``ZoneInfo``.
    """
    candidates = []
    if tzid:
        cleaned = tzid.strip().strip('"')
        candidates += [cleaned, WINDOWS_TO_OLSON.get(cleaned, "")]
        # Some writers prefix a path ("/mozilla.org/20050126_1/Europe/Berlin").
        m = re.search(r"([A-Za-z_]+/[A-Za-z_+\-]+(?:/[A-Za-z_+\-]+)?)$", cleaned)
        if m:
            candidates.append(m.group(1))
    key = getattr(tz, "key", None)
    if isinstance(key, str):
        candidates.append(key)
    for name in candidates:
        if not name:
            continue
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return name
    return None


def _unescape(text: str) -> str:
    """RFC 5545 TEXT unescaping: backslash-n is a newline, backslash-x is x."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), text)


def _text(comp: icalendar.Component, name: str) -> str | None:
    value = comp.get(name)
    if value is None:
        return None
    if isinstance(value, list):
        value = value[0]
    if name.startswith("X-") and hasattr(value, "to_ical"):
        # Unknown X- properties come back raw: undo the TEXT escaping (\\n, \\;, \\,) we wrote.
        raw = value.to_ical()
        value = _unescape(raw.decode() if isinstance(raw, bytes) else str(raw))
    text = str(value).strip()
    return text or None


def _dt_list(comp: icalendar.Component, name: str) -> list[date | datetime]:
    values = comp.get(name)
    if values is None:
        return []
    if not isinstance(values, list):
        values = [values]
    out: list[date | datetime] = []
    for v in values:
        for item in getattr(v, "dts", []):
            d = item.dt
            if isinstance(d, tuple):  # a PERIOD: its start is the occurrence
                d = d[0]
            out.append(d)
    return out


def _kind_of(comp: icalendar.Component) -> ActivityKind:
    crm = _text(comp, "X-CRM-KIND")
    if crm:
        try:
            return ActivityKind(crm.lower())
        except ValueError:
            pass
    return ActivityKind.TASK if comp.name == "VTODO" else ActivityKind.MEETING


def _status_of(comp: icalendar.Component) -> ActivityStatus:
    crm = _text(comp, "X-CRM-STATUS")
    if crm:
        try:
            return ActivityStatus(crm.lower())
        except ValueError:
            pass
    status = (_text(comp, "STATUS") or "").upper()
    if status == "CANCELLED":
        return ActivityStatus.CANCELLED
    if status == "COMPLETED" or comp.get("COMPLETED") is not None:
        return ActivityStatus.DONE
    return ActivityStatus.PLANNED


def _priority_of(comp: icalendar.Component) -> Priority:
    raw = comp.get("PRIORITY")
    try:
        value = int(raw) if raw is not None else 0
    except (TypeError, ValueError):
        value = 0
    if 1 <= value <= 4:
        return Priority.HIGH
    if 6 <= value <= 9:
        return Priority.LOW
    return Priority.NORMAL


def _utc_of(comp: icalendar.Component, name: str) -> datetime | None:
    prop = comp.get(name)
    if prop is None:
        return None
    value = getattr(prop, "dt", None)
    if value is None:
        # X- properties arrive as text: parse them as the UTC date-times we wrote.
        try:
            raw = prop.to_ical() if hasattr(prop, "to_ical") else prop
            value = icalendar.vDatetime.from_ical(
                raw.decode() if isinstance(raw, bytes) else str(raw)
            )
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _reminder_offset(comp: icalendar.Component) -> tuple[timedelta | None, datetime | None, bool]:
    """The first alarm: a relative offset (and whether from the end) or an absolute time."""
    for alarm in comp.walk("VALARM"):
        trigger = alarm.get("TRIGGER")
        if trigger is None:
            continue
        value = trigger.dt
        if isinstance(value, timedelta):
            related_end = str(trigger.params.get("RELATED", "START")).upper() == "END"
            return value, None, related_end
        if isinstance(value, datetime):
            return None, value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC), False
    return None, None, False


@dataclass
class _Series:
    comp: icalendar.Component
    line: int
    uid: str
    overrides: dict[str, icalendar.Component] = field(default_factory=dict)


def _occurrence_key(value: date | datetime, fallback: ZoneInfo) -> str:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=fallback)
        return aware.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return value.strftime("%Y%m%d")


def parse_ics(
    data: bytes | str,
    *,
    zone: ZoneInfo | None = None,
    horizon_start: datetime | None = None,
    horizon_end: datetime | None = None,
) -> list[ParsedEntry]:
    """Read every event and to-do of a file into :class:`ParsedEntry` items, or raise IcsError.

    ``zone`` reads floating times (default UTC). The horizon bounds endless recurrences.
    """
    zone = zone or ZoneInfo("UTC")
    text = data.decode("utf-8-sig", errors="replace") if isinstance(data, bytes) else data
    if not text.strip():
        raise IcsError("the file is empty")
    if "BEGIN:VCALENDAR" not in text.upper():
        raise IcsError("not an iCalendar file (no BEGIN:VCALENDAR)", line=1)
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except ValueError as exc:
        line = _guess_line(text, str(exc))
        raise IcsError(f"cannot be read: {exc}", line=line) from None
    if not calendars:
        raise IcsError("no calendar found in the file")

    positions = _line_index(text)
    components: list[tuple[icalendar.Component, int]] = []
    index = 0
    for cal in calendars:
        if cal.errors:
            name, message = cal.errors[0]
            raise IcsError(
                f"{name or 'a line'}: {message}",
                line=_guess_line(text, name),
                component="VCALENDAR",
            )
        for comp in cal.walk():
            if comp.name in ("VEVENT", "VTODO"):
                line = positions[index][0] if index < len(positions) else 0
                index += 1
                components.append((comp, line))

    now = utcnow()
    h_start = horizon_start or now - DEFAULT_LOOKBACK
    h_end = horizon_end or now + DEFAULT_HORIZON

    series: dict[str, _Series] = {}
    order: list[str] = []
    entries: list[ParsedEntry] = []
    for comp, line in components:
        label = f"{comp.name} {_text(comp, 'UID') or ''}".strip()
        if comp.errors:
            prop, message = comp.errors[0]
            raise IcsError(
                f"{prop or 'a property'} is invalid: {message}", line=line, component=label
            )
        uid = _text(comp, "UID") or f"line-{line}@import"
        if comp.get("RECURRENCE-ID") is not None:
            rid = comp.get("RECURRENCE-ID").dt
            series.setdefault(uid, _Series(comp=comp, line=line, uid=uid))
            series[uid].overrides[_occurrence_key(rid, zone)] = comp
            continue
        if comp.name == "VEVENT" and comp.get("DTSTART") is None:
            raise IcsError("the event has no start (DTSTART)", line=line, component=label)
        if comp.get("RRULE") is not None or comp.get("RDATE") is not None:
            if uid in series and series[uid].comp.get("RECURRENCE-ID") is None:
                raise IcsError("two recurring events share one UID", line=line, component=label)
            existing = series.get(uid)
            series[uid] = _Series(
                comp=comp, line=line, uid=uid, overrides=existing.overrides if existing else {}
            )
            order.append(uid)
            continue
        entries.append(_single(comp, uid, zone, line, label))

    for uid in order:
        entries.extend(_expand(series[uid], zone, h_start, h_end))
    # Overrides whose master is not in the file are still real meetings: keep them.
    for uid, s in series.items():
        if uid not in order:
            for key, comp in s.overrides.items():
                entries.append(_single(comp, f"{uid}#{key}", zone, s.line, f"{comp.name} {uid}"))
    return entries


def _guess_line(text: str, needle: str | None) -> int | None:
    if not needle:
        return None
    for number, line in enumerate(text.splitlines(), start=1):
        if needle.upper() in line.upper():
            return number
    return None


def _single(
    comp: icalendar.Component, uid: str, zone: ZoneInfo, line: int, label: str
) -> ParsedEntry:
    """One component, not recurring (or one override), as an entry."""
    try:
        return _entry_at(comp, uid, zone, None)
    except (ValueError, TypeError, AttributeError) as exc:
        raise IcsError(str(exc), line=line, component=label) from None


def _entry_at(
    comp: icalendar.Component,
    uid: str,
    zone: ZoneInfo,
    occurrence: date | datetime | None,
) -> ParsedEntry:
    """Build the entry for ``comp``; with ``occurrence`` the start moves there, length kept."""
    kind = _kind_of(comp)
    subject = _text(comp, "SUMMARY") or "(no subject)"
    # Our own export's hint at the zone the activity was planned in. A name this machine does
    # not know (a typo, a hand-edited file, a zone newer than the local tz database) is
    # ignored: the times are still read in their TZID, and only real IANA names are stored.
    crm_zone = iana_name(_text(comp, "X-CRM-TIME-ZONE"))
    base = ParsedEntry(
        ical_uid=uid,
        kind=kind,
        subject=subject,
        description=_text(comp, "DESCRIPTION"),
        location=_text(comp, "LOCATION"),
        status=_status_of(comp),
        priority=_priority_of(comp),
        outcome=_text(comp, "X-CRM-OUTCOME"),
        completed_at=_utc_of(comp, "COMPLETED") or _utc_of(comp, "X-CRM-COMPLETED"),
        due_at=_utc_of(comp, "X-CRM-DUE"),
    )
    offset, absolute, from_end = _reminder_offset(comp)

    if comp.name == "VTODO" and comp.get("DTSTART") is None:
        due_prop = comp.get("DUE")
        due = None
        tz_name = crm_zone
        if due_prop is not None:
            value = due_prop.dt
            if isinstance(value, datetime):
                due, found = _resolve_zone(due_prop, value, zone)
                tz_name = crm_zone or found
            else:
                due = datetime.combine(value, time(0), zone).astimezone(UTC)
        reminder = absolute or (due + offset if offset is not None and due is not None else None)
        return replace(base, due_at=due, time_zone=tz_name, reminder_at=reminder)

    start_prop = comp.get("DTSTART")
    start_value = start_prop.dt
    end_prop = comp.get("DTEND") if comp.name == "VEVENT" else comp.get("DUE")
    duration_prop = comp.get("DURATION")
    if isinstance(start_value, datetime):
        start_utc, found = _resolve_zone(start_prop, start_value, zone)
        tz_name = crm_zone or found
        if end_prop is not None and isinstance(end_prop.dt, datetime):
            end_utc, _ = _resolve_zone(end_prop, end_prop.dt, zone)
        elif duration_prop is not None:
            end_utc = start_utc + duration_prop.dt
        else:
            end_utc = start_utc
        length = end_utc - start_utc
        if length < timedelta(0):
            raise ValueError("the event ends before it starts (DTEND before DTSTART)")
        if length > MAX_SPAN:
            # The calendar finds entries by start within this span, so a longer one would
            # vanish from views of its later days; refuse it as the app's editor does.
            raise ValueError(f"the event lasts longer than {MAX_SPAN.days} days")
        if occurrence is not None:
            assert isinstance(occurrence, datetime)
            start_utc = occurrence.astimezone(UTC)
            end_utc = start_utc + length
        if absolute is not None:
            reminder = absolute + (start_utc - _resolve_zone(start_prop, start_value, zone)[0])
        elif offset is not None:
            reminder = (end_utc if from_end else start_utc) + offset
        else:
            reminder = None
        return replace(
            base, start_at=start_utc, end_at=end_utc, time_zone=tz_name, reminder_at=reminder
        )

    # All-day: DTEND is exclusive; no DTEND means one day (RFC 5545 3.6.1).
    start_day: date = start_value
    if end_prop is not None and not isinstance(end_prop.dt, datetime):
        end_day = end_prop.dt
    elif duration_prop is not None:
        end_day = start_day + timedelta(days=max(duration_prop.dt.days, 1))
    else:
        end_day = start_day + timedelta(days=1)
    if end_day <= start_day:
        end_day = start_day + timedelta(days=1)  # some writers repeat DTSTART as DTEND
    if end_day - start_day > MAX_ALL_DAY_SPAN:
        raise ValueError(f"the all-day event spans more than {MAX_ALL_DAY_SPAN.days} days")
    if occurrence is not None:
        assert not isinstance(occurrence, datetime)
        end_day = occurrence + (end_day - start_day)
        start_day = occurrence
    day_zone = ZoneInfo(crm_zone) if crm_zone else zone
    start_local = datetime.combine(start_day, time(0), day_zone)
    if absolute is not None:
        reminder = absolute
    elif offset is not None:
        reminder = start_local.astimezone(UTC) + offset
    else:
        reminder = None
    return replace(
        base,
        all_day=True,
        start_date=start_day,
        end_date=end_day,
        time_zone=crm_zone,
        reminder_at=reminder,
    )


def _expand(s: _Series, zone: ZoneInfo, h_start: datetime, h_end: datetime) -> list[ParsedEntry]:
    """The occurrences of a recurring component as entries (see module doc for the bounds)."""
    comp = s.comp
    label = f"{comp.name} {s.uid}"
    start_prop = comp.get("DTSTART")
    if start_prop is None:
        raise IcsError("a recurring entry needs a start (DTSTART)", line=s.line, component=label)
    dtstart = start_prop.dt
    is_dt = isinstance(dtstart, datetime)
    # Expand in the series' own wall-clock time, then attach the zone: a 9:00 weekly meeting
    # stays at 9:00 across a daylight-saving change, which is what every calendar does.
    if is_dt:
        tzid = start_prop.params.get("TZID")
        iana = iana_name(tzid, dtstart.tzinfo)
        local_zone: tzinfo = ZoneInfo(iana) if iana else (dtstart.tzinfo or zone)
        naive_start = dtstart.replace(tzinfo=None)
    else:
        local_zone = zone
        naive_start = datetime.combine(dtstart, time(0))

    def localize(naive: datetime) -> datetime:
        return naive.replace(tzinfo=local_zone)

    rules = comp.get("RRULE")
    rules = rules if isinstance(rules, list) else ([rules] if rules is not None else [])
    rset = du_rrule.rruleset()
    finite = True
    try:
        for rule in rules:
            text = rule.to_ical().decode()
            if "UNTIL=" in text.upper():
                # dateutil wants UNTIL in the same (naive, local) terms as DTSTART.
                until = rule.get("UNTIL")[0]
                if isinstance(until, datetime):
                    if until.tzinfo is not None:
                        until = until.astimezone(local_zone).replace(tzinfo=None)
                else:
                    until = datetime.combine(until, time(23, 59, 59))
                text = re.sub(
                    r"UNTIL=[^;]+", "UNTIL=" + until.strftime("%Y%m%dT%H%M%S"), text, flags=re.I
                )
            elif "COUNT=" not in text.upper():
                finite = False
            rset.rrule(du_rrule.rrulestr(text, dtstart=naive_start, ignoretz=True))
    except (ValueError, TypeError) as exc:
        raise IcsError(
            f"the recurrence rule cannot be read: {exc}", line=s.line, component=label
        ) from None
    if not rules:
        rset.rdate(naive_start)
    for extra in _dt_list(comp, "RDATE"):
        rset.rdate(_naive_local(extra, local_zone))
    excluded = {_naive_local(x, local_zone) for x in _dt_list(comp, "EXDATE")}

    if finite:
        lo, hi = naive_start, None
    else:
        lo = max(naive_start, h_start.astimezone(local_zone).replace(tzinfo=None))
        hi = h_end.astimezone(local_zone).replace(tzinfo=None)
    entries: list[ParsedEntry] = []
    for naive in rset.xafter(lo, inc=True) if hi is None else rset.between(lo, hi, inc=True):
        if hi is not None and naive > hi:
            break
        if naive in excluded or (
            not is_dt and naive.replace(hour=0, minute=0, second=0) in excluded
        ):
            continue
        if len(entries) >= MAX_OCCURRENCES:
            raise IcsError(
                f"the recurrence has more than {MAX_OCCURRENCES} occurrences",
                line=s.line,
                component=label,
            )
        occurrence: date | datetime = localize(naive) if is_dt else naive.date()
        key = _occurrence_key(occurrence, zone)
        override = s.overrides.get(key)
        try:
            if override is not None:
                entries.append(_entry_at(override, f"{s.uid}#{key}", zone, None))
            else:
                entries.append(_entry_at(comp, f"{s.uid}#{key}", zone, occurrence))
        except (ValueError, TypeError, AttributeError) as exc:
            raise IcsError(str(exc), line=s.line, component=label) from None
    return entries


def _naive_local(value: date | datetime, local_zone: tzinfo) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(local_zone).replace(tzinfo=None)
        return value
    return datetime.combine(value, time(0))


def import_ics(
    *,
    session: Session,
    data: bytes | str,
    owner_id: uuid.UUID | None,
    zone: ZoneInfo | None = None,
    horizon_start: datetime | None = None,
    horizon_end: datetime | None = None,
) -> ImportResult:
    """Parse ``data`` and write its entries for ``owner_id``; nothing is written if it fails.

    Entries whose ``ical_uid`` already exists for the same owner (not deleted) are updated in
    place; another owner's copy of the same event is left alone.
    """
    entries = parse_ics(data, zone=zone, horizon_start=horizon_start, horizon_end=horizon_end)
    uids = [e.ical_uid for e in entries]
    existing: dict[str, Activity] = {}
    for chunk_start in range(0, len(uids), 500):
        chunk = uids[chunk_start : chunk_start + 500]
        # Matched per owner: two people importing the same invitation (one UID) each get
        # their own entry; matching on the UID alone rewrote a colleague's activity.
        for a in session.scalars(
            select(Activity).where(
                Activity.owner_id == owner_id,
                Activity.ical_uid.in_(chunk),
                Activity.deleted.is_(False),
            )
        ):
            if a.ical_uid is not None:
                existing[a.ical_uid] = a
    created = updated = 0
    ids: list[uuid.UUID] = []
    for entry in entries:
        values = {k: getattr(entry, k) for k in ParsedEntry.__dataclass_fields__}
        activity = existing.get(entry.ical_uid)
        if activity is None:
            activity = Activity(owner_id=owner_id, **values)
            session.add(activity)
            existing[entry.ical_uid] = activity
            created += 1
        else:
            for key, value in values.items():
                setattr(activity, key, value)
            updated += 1
        if activity.status == ActivityStatus.DONE and activity.completed_at is None:
            activity.completed_at = activity.end_at or activity.due_at or utcnow()
    session.flush()
    ids = [existing[e.ical_uid].id for e in entries]
    return ImportResult(created=created, updated=updated, activity_ids=tuple(dict.fromkeys(ids)))
