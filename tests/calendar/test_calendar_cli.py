"""``crm import-ics`` / ``crm export-ics`` run in-process against a real profile."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

import crm_desktop.cli_calendar  # registers the subcommands; local_zone_name is tested too
from crm_desktop import cli
from crm_desktop.models import Activity
from crm_desktop.store import open_store

DATA = Path(__file__).resolve().parent.parent / "data" / "ics"


def _count(profile_dir: Path) -> int:
    store = open_store(profile_dir / "crm.sqlite3")
    try:
        with store.sessions() as session:
            return session.scalar(select(func.count()).select_from(Activity)) or 0
    finally:
        store.dispose()


def test_import_then_export_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "p"
    source = DATA / "apple_macos_all_day_alarm.ics"
    assert (
        cli.main(["--profile", str(profile), "import-ics", str(source), "--zone", "Europe/Berlin"])
        == 0
    )
    assert "1 created" in capsys.readouterr().err
    out = tmp_path / "out.ics"
    assert (
        cli.main(
            [
                "--profile",
                str(profile),
                "export-ics",
                "--from",
                "2012-07-01",
                "--to",
                "2012-07-31",
                "--zone",
                "Europe/Berlin",
                str(out),
            ]
        )
        == 0
    )
    text = out.read_text(encoding="utf-8")
    assert text.count("BEGIN:VEVENT") == 1
    assert "SUMMARY:Start Vorbereitung" in text
    assert "DTSTART;VALUE=DATE:20120716" in text
    assert "BEGIN:VALARM" in text  # the reminder travels as an alarm
    other = tmp_path / "q"
    assert cli.main(["--profile", str(other), "import-ics", str(out)]) == 0
    assert _count(other) == 1
    store = open_store(other / "crm.sqlite3")
    try:
        with store.sessions() as session:
            again = session.scalars(select(Activity)).one()
            assert again.all_day and again.start_date == date(2012, 7, 16)
            # 15 hours before midnight in Berlin (CEST, UTC+2), kept through the round trip.
            assert again.reminder_at == datetime(2012, 7, 15, 7, 0, tzinfo=UTC)
    finally:
        store.dispose()


def test_bad_file_reports_line_and_imports_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = tmp_path / "p"
    code = cli.main(
        ["--profile", str(profile), "import-ics", str(DATA / "google_all_day_bad_exdate.ics")]
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "nothing was imported" in err and "line 13" in err and "EXDATE" in err
    assert _count(profile) == 0


def test_missing_file_and_reversed_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profile = str(tmp_path / "p")
    assert cli.main(["--profile", profile, "import-ics", str(tmp_path / "nope.ics")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "--profile",
                profile,
                "export-ics",
                "--from",
                "2026-02-01",
                "--to",
                "2026-01-01",
                "x.ics",
            ]
        )
        == 1
    )
    assert "--to is before --from" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("tz", "expected"),
    [(":Asia/Tokyo", "Asia/Tokyo"), ("W. Europe Standard Time", "Europe/Berlin")],
)
def test_local_zone_name_reads_tz_like_the_importer_reads_tzid(
    monkeypatch: pytest.MonkeyPatch, tz: str, expected: str
) -> None:
    # One rule for zone names (services.ical.iana_name): IANA, Windows names, path prefixes.
    monkeypatch.setenv("TZ", tz)
    assert crm_desktop.cli_calendar.local_zone_name() == expected


def test_local_zone_name_ignores_an_unknown_tz(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Mars/Olympus_Mons")
    assert crm_desktop.cli_calendar.local_zone_name() != "Mars/Olympus_Mons"
