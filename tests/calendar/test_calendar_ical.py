"""iCalendar import/export: round trip, files written by other programs, and bad files."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from calendar_helpers import Team, make_team
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_desktop.config import Profile
from crm_desktop.models import Activity
from crm_desktop.models.enums import ActivityKind, ActivityStatus, Priority
from crm_desktop.services import activities as svc
from crm_desktop.services import ical
from crm_desktop.store import Store, open_store

DATA = Path(__file__).resolve().parent.parent / "data" / "ics"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
COMPARED = [
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
    "status",
    "priority",
    "reminder_at",
    "outcome",
    "completed_at",
]


def _load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _snapshot(session: Session) -> list[tuple[object, ...]]:
    rows = session.scalars(select(Activity).where(Activity.deleted.is_(False))).all()
    return sorted((tuple(getattr(a, f) for f in COMPARED) for a in rows), key=repr)


def _make_week(session: Session, team: Team) -> None:
    """A week with every kind of entry the exporter must carry."""
    svc.create_activity(
        session=session,
        kind=ActivityKind.MEETING,
        subject="Besuch Acme, Linie 3; Angebot \\ Preise",
        description="Agenda:\n1. Preise\n2. Lieferzeit",
        location="Werk Süd, Tor 2",
        owner_id=team.rep_a,
        start_at=T0,
        end_at=T0 + timedelta(minutes=90),
        time_zone="Europe/Berlin",
        priority=Priority.HIGH,
        reminder_at=T0 - timedelta(minutes=15),
    )
    svc.create_activity(
        session=session,
        kind=ActivityKind.CALL,
        subject="東京の顧客に電話",
        owner_id=team.rep_a,
        start_at=T0 + timedelta(days=1, hours=-7),
        end_at=T0 + timedelta(days=1, hours=-6, minutes=-30),
        time_zone="Asia/Tokyo",
        status=ActivityStatus.DONE,
        completed_at=T0 + timedelta(days=1, hours=-6),
        outcome="Interested; send brochure,\nthen call back",
    )
    svc.create_activity(
        session=session,
        kind=ActivityKind.CALL,
        subject="Outlook user",
        owner_id=team.rep_a,
        start_at=T0 + timedelta(days=2),
        end_at=T0 + timedelta(days=2, minutes=20),
        time_zone="America/New_York",
        priority=Priority.LOW,
    )
    svc.create_activity(
        session=session,
        kind=ActivityKind.NOTE,
        subject="Trade fair",
        owner_id=team.rep_a,
        all_day=True,
        start_date=date(2026, 3, 4),
        end_date=date(2026, 3, 7),
        time_zone="Europe/Berlin",
    )
    svc.create_activity(
        session=session,
        kind=ActivityKind.TASK,
        subject="Send quote",
        owner_id=team.rep_a,
        due_at=T0 + timedelta(days=3),
        time_zone="Europe/Berlin",
        reminder_at=T0 + timedelta(days=3, hours=-1),
    )
    cancelled = svc.create_activity(
        session=session,
        kind=ActivityKind.MEETING,
        subject="Cancelled lunch",
        owner_id=team.rep_a,
        start_at=T0 + timedelta(days=4, hours=3),
    )
    svc.cancel_activity(session=session, activity_id=cancelled.id)
    svc.create_activity(
        session=session,
        kind=ActivityKind.MEETING,
        subject="UTC meeting without zone",
        owner_id=team.rep_a,
        start_at=T0 + timedelta(days=4),
    )


def test_round_trip_into_fresh_profile_is_exact(store: Store, tmp_path: Path) -> None:
    with store.sessions.begin() as session:
        team = make_team(session)
        _make_week(session, team)
        before = _snapshot(session)
        data = ical.export_ics(
            session=session, start=T0 - timedelta(days=1), end=T0 + timedelta(days=7)
        )
    assert data.count(b"BEGIN:VEVENT") == 6 and data.count(b"BEGIN:VTODO") == 1
    assert b"BEGIN:VTIMEZONE" in data and b"TZID=Europe/Berlin" in data

    fresh_profile = Profile(tmp_path / "fresh").ensure()
    fresh = open_store(fresh_profile.database_path)
    try:
        with fresh.sessions.begin() as session:
            result = ical.import_ics(session=session, data=data, owner_id=None)
            assert (result.created, result.updated) == (7, 0)
        with fresh.sessions() as session:
            assert _snapshot(session) == before
        # Importing the same file again updates in place instead of duplicating.
        with fresh.sessions.begin() as session:
            again = ical.import_ics(session=session, data=data, owner_id=None)
            assert (again.created, again.updated) == (0, 7)
            assert _snapshot(session) == before
    finally:
        fresh.dispose()


def test_export_filtered_set(session: Session, team: Team) -> None:
    _make_week(session, team)
    calls = session.scalars(select(Activity.id).where(Activity.kind == ActivityKind.CALL)).all()
    data = ical.export_ics(session=session, activity_ids=list(calls))
    assert data.count(b"BEGIN:VEVENT") == 2
    assert b"X-CRM-KIND:call" in data and b"Trade fair" not in data
    only_tasks = ical.export_ics(
        session=session,
        start=T0 - timedelta(days=1),
        end=T0 + timedelta(days=7),
        kinds=[ActivityKind.TASK],
    )
    assert only_tasks.count(b"BEGIN:VTODO") == 1 and b"BEGIN:VEVENT" not in only_tasks


def test_outlook_windows_zone_names(session: Session) -> None:
    ical.import_ics(session=session, data=_load("outlook_exchange_2010_pacific.ics"), owner_id=None)
    ical.import_ics(session=session, data=_load("outlook_exchange_2010_tzid.ics"), owner_id=None)
    by_subject = {a.subject: a for a in session.scalars(select(Activity))}
    pst = by_subject["Test 4"]
    assert pst.time_zone == "America/Los_Angeles"
    assert (pst.start_at, pst.end_at) == (
        datetime(2017, 2, 24, 20, 0, tzinfo=UTC),
        datetime(2017, 2, 24, 20, 30, tzinfo=UTC),
    )
    est = by_subject["Anonymous Test Event for TZID"]
    assert est.time_zone == "America/New_York"
    assert est.start_at == datetime(2024, 10, 28, 21, 0, tzinfo=UTC)  # 17:00 EDT


def test_google_reminder_and_utc(session: Session) -> None:
    ical.import_ics(session=session, data=_load("google_alarm.ics"), owner_id=None)
    a = session.scalars(select(Activity)).one()
    assert a.ical_uid == "79fs7pkqvht9m5igs0vjv1sfra@google.com"
    assert a.start_at == datetime(2024, 10, 4, 18, 15, tzinfo=UTC)
    assert a.reminder_at == datetime(2024, 10, 4, 18, 5, tzinfo=UTC)  # first alarm: 10 min before


def test_google_recurring_with_exdates(session: Session) -> None:
    ical.import_ics(session=session, data=_load("google_recurring_exdate.ics"), owner_id=None)
    starts = sorted(a.start_at for a in session.scalars(select(Activity)) if a.start_at)
    # Fridays and Saturdays 7 Sep - 24 Oct 2013 at 12:00 New York: 13, minus 2 EXDATEs.
    assert len(starts) == 11
    assert datetime(2013, 10, 11, 16, 0, tzinfo=UTC) not in starts
    assert datetime(2013, 10, 12, 16, 0, tzinfo=UTC) not in starts
    assert starts[0] == datetime(2013, 9, 7, 16, 0, tzinfo=UTC)
    assert starts[-1] == datetime(2013, 10, 19, 16, 0, tzinfo=UTC)


def test_weekly_series_keeps_wall_time_across_dst(session: Session) -> None:
    ical.import_ics(session=session, data=_load("weekly_exdates_vienna.ics"), owner_id=None)
    rows = session.scalars(select(Activity).order_by(Activity.start_at)).all()
    assert len(rows) == 15 - 5
    vienna = ZoneInfo("Europe/Vienna")
    assert {a.start_at.astimezone(vienna).hour for a in rows if a.start_at} == {10}
    assert all(a.time_zone == "Europe/Vienna" for a in rows)


def test_apple_all_day_with_audio_alarm(session: Session) -> None:
    result = ical.import_ics(
        session=session, data=_load("apple_macos_all_day_alarm.ics"), owner_id=None
    )
    assert (result.created, result.updated) == (1, 0)
    a = session.scalars(select(Activity)).one()
    assert a.subject == "Start Vorbereitung"
    assert a.all_day and (a.start_date, a.end_date) == (date(2012, 7, 16), date(2012, 7, 17))
    assert a.start_at is None and a.time_zone is None
    assert a.ical_uid == "D6716295-C10F-4B20-82F9-E1A3026C7DCF"
    # Apple's default alarm, an AUDIO one 15 hours before the day starts (in the importer's
    # zone, UTC here), becomes the reminder: 09:00 the day before.
    assert a.reminder_at == datetime(2012, 7, 15, 9, 0, tzinfo=UTC)


def test_endless_google_series_is_bounded_by_horizon(session: Session) -> None:
    result = ical.import_ics(
        session=session,
        data=_load("google_weekly_zurich.ics"),
        owner_id=None,
        horizon_start=datetime(2016, 11, 1, tzinfo=UTC),
        horizon_end=datetime(2016, 11, 15, tzinfo=UTC),
    )
    rows = session.scalars(select(Activity)).all()
    assert result.created == len(rows) == 10  # weekdays 1-14 November
    assert {a.location for a in rows} == {"Roadstar 16\n12764 Happyville\nDenmark"}


def test_thunderbird_zone_and_alarm(session: Session) -> None:
    ical.import_ics(session=session, data=_load("thunderbird_alarm_london.ics"), owner_id=None)
    a = session.scalars(select(Activity)).one()
    assert a.time_zone == "Europe/London"
    assert a.start_at == datetime(2024, 10, 23, 14, 0, tzinfo=UTC)
    assert a.reminder_at == datetime(2024, 10, 23, 13, 45, tzinfo=UTC)


def test_all_day_event(session: Session) -> None:
    ical.import_ics(session=session, data=_load("blackberry_all_day.ics"), owner_id=None)
    a = session.scalars(select(Activity)).one()
    assert a.all_day and (a.start_date, a.end_date) == (date(2012, 8, 14), date(2012, 8, 15))
    assert a.start_at is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("google_all_day_bad_exdate.ics", "line 13, VEVENT: EXDATE is invalid"),
        ("exchange_cdo_bad_rrule.ics", "RRULE is invalid"),
    ],
)
def test_bad_file_imports_nothing(session: Session, name: str, expected: str) -> None:
    with pytest.raises(ical.IcsError, match=expected):
        ical.import_ics(session=session, data=_load(name), owner_id=None)
    assert session.scalar(select(func.count()).select_from(Activity)) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("hello", "not an iCalendar file"),
        (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "line 3, VEVENT a: the event has no start",
        ),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:b\r\nDTSTART:20260101T100000Z\r\n"
            "DTEND:20260101T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "ends before it starts",
        ),
        (
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:c\r\nDTSTART:20260101T100000Z\r\n"
            "DTEND:20260301T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "line 2, VEVENT c: the event lasts longer than 31 days",
        ),
    ],
)
def test_bad_text_gives_clear_message(session: Session, text: str, expected: str) -> None:
    with pytest.raises(ical.IcsError, match=expected):
        ical.import_ics(session=session, data=text, owner_id=None)


def test_every_sample_file_is_accounted_for() -> None:
    names = Counter(p.suffix for p in DATA.iterdir())
    assert names[".ics"] >= 8
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    for path in DATA.glob("*.ics"):
        assert path.name in readme, f"{path.name} has no origin note in README.md"


def _cal(*lines: str) -> str:
    return "\r\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN", *lines, "END:VCALENDAR", ""]
    )


def test_all_day_series_with_date_exdate(session: Session) -> None:
    text = _cal(
        "BEGIN:VEVENT",
        "UID:holiday-series",
        "SUMMARY:Stand at the fair",
        "DTSTART;VALUE=DATE:20260302",
        "DTEND;VALUE=DATE:20260303",
        "RRULE:FREQ=DAILY;COUNT=5",
        "EXDATE;VALUE=DATE:20260304",
        "END:VEVENT",
    )
    ical.import_ics(session=session, data=text, owner_id=None)
    rows = session.scalars(select(Activity).order_by(Activity.start_date)).all()
    assert [(a.start_date, a.end_date) for a in rows] == [
        (date(2026, 3, d), date(2026, 3, d + 1)) for d in (2, 3, 5, 6)
    ]
    assert all(a.all_day and a.start_at is None for a in rows)
    assert rows[0].ical_uid == "holiday-series#20260302"


def test_moved_occurrence_replaces_the_generated_one(session: Session) -> None:
    text = _cal(
        "BEGIN:VEVENT",
        "UID:weekly",
        "SUMMARY:Weekly",
        "DTSTART;TZID=Europe/Berlin:20260302T090000",
        "DTEND;TZID=Europe/Berlin:20260302T100000",
        "RRULE:FREQ=WEEKLY;COUNT=3",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:weekly",
        "RECURRENCE-ID;TZID=Europe/Berlin:20260309T090000",
        "SUMMARY:Weekly (moved)",
        "DTSTART;TZID=Europe/Berlin:20260310T140000",
        "DTEND;TZID=Europe/Berlin:20260310T150000",
        "END:VEVENT",
    )
    ical.import_ics(session=session, data=text, owner_id=None)
    rows = session.scalars(select(Activity).order_by(Activity.start_at)).all()
    assert [(a.subject, a.start_at) for a in rows] == [
        ("Weekly", datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
        ("Weekly (moved)", datetime(2026, 3, 10, 13, 0, tzinfo=UTC)),
        ("Weekly", datetime(2026, 3, 16, 8, 0, tzinfo=UTC)),
    ]


def test_floating_time_is_read_in_the_importers_zone(session: Session) -> None:
    text = _cal("BEGIN:VEVENT", "UID:f", "SUMMARY:Lunch", "DTSTART:20260302T120000", "END:VEVENT")
    ical.import_ics(session=session, data=text, owner_id=None, zone=ZoneInfo("Asia/Tokyo"))
    a = session.scalars(select(Activity)).one()
    assert a.start_at == datetime(2026, 3, 2, 3, 0, tzinfo=UTC) and a.time_zone == "Asia/Tokyo"


def test_todo_becomes_a_task(session: Session) -> None:
    text = _cal(
        "BEGIN:VTODO",
        "UID:t1",
        "SUMMARY:Send contract",
        "DUE;TZID=America/New_York:20260305T170000",
        "PRIORITY:1",
        "STATUS:COMPLETED",
        "COMPLETED:20260305T150000Z",
        "END:VTODO",
    )
    ical.import_ics(session=session, data=text, owner_id=None)
    a = session.scalars(select(Activity)).one()
    assert a.kind == ActivityKind.TASK and a.priority == Priority.HIGH
    assert a.due_at == datetime(2026, 3, 5, 22, 0, tzinfo=UTC)
    assert a.status == ActivityStatus.DONE and a.completed_at == datetime(
        2026, 3, 5, 15, 0, tzinfo=UTC
    )


def test_runaway_recurrence_is_refused(session: Session) -> None:
    text = _cal(
        "BEGIN:VEVENT",
        "UID:r",
        "SUMMARY:Every minute",
        "DTSTART:20260302T090000Z",
        "RRULE:FREQ=MINUTELY;COUNT=100000",
        "END:VEVENT",
    )
    with pytest.raises(ical.IcsError, match="more than 1000 occurrences"):
        ical.import_ics(session=session, data=text, owner_id=None)
    assert session.scalar(select(func.count()).select_from(Activity)) == 0


@pytest.mark.parametrize("bogus", ["Mars/Olympus_Mons", "../../etc/passwd", "Europe/"])
def test_unknown_crm_zone_is_ignored_and_the_tzid_used(session: Session, bogus: str) -> None:
    text = _cal(
        "BEGIN:VEVENT",
        "UID:z1",
        "SUMMARY:Visit",
        "DTSTART;TZID=Europe/Berlin:20260302T090000",
        "DTEND;TZID=Europe/Berlin:20260302T100000",
        f"X-CRM-TIME-ZONE:{bogus}",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:z2",
        "SUMMARY:Holiday",
        "DTSTART;VALUE=DATE:20260303",
        f"X-CRM-TIME-ZONE:{bogus}",
        "END:VEVENT",
    )
    ical.import_ics(session=session, data=text, owner_id=None)
    timed, all_day = session.scalars(select(Activity).order_by(Activity.ical_uid)).all()
    assert timed.start_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    assert timed.time_zone == "Europe/Berlin"
    assert all_day.all_day and all_day.time_zone is None


def test_reimport_matches_the_importers_own_entries_only(session: Session, team: Team) -> None:
    def invite(summary: str) -> str:
        return _cal(
            "BEGIN:VEVENT",
            "UID:shared-invite@example.com",
            f"SUMMARY:{summary}",
            "DTSTART:20260302T090000Z",
            "DTEND:20260302T100000Z",
            "END:VEVENT",
        )

    first = ical.import_ics(session=session, data=invite("Kick-off"), owner_id=team.rep_a)
    # The same invitation in a colleague's calendar: a new entry of theirs, not a takeover.
    other = ical.import_ics(session=session, data=invite("Kick-off (B)"), owner_id=team.rep_b)
    assert (other.created, other.updated) == (1, 0)
    assert set(other.activity_ids).isdisjoint(first.activity_ids)
    again = ical.import_ics(session=session, data=invite("Kick-off, moved"), owner_id=team.rep_a)
    assert (again.created, again.updated) == (0, 1)
    assert again.activity_ids == first.activity_ids
    by_owner = {
        a.owner_id: a.subject
        for a in session.scalars(
            select(Activity).where(Activity.ical_uid == "shared-invite@example.com")
        )
    }
    assert by_owner == {team.rep_a: "Kick-off, moved", team.rep_b: "Kick-off (B)"}
