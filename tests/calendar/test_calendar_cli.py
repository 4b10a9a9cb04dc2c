"""``crm import-ics`` / ``crm export-ics`` run in-process against a real profile."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

import crm_desktop.cli_calendar  # noqa: F401  (registers the subcommands)
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
    source = DATA / "apple_macos_weekly_exdate.ics"
    assert (
        cli.main(["--profile", str(profile), "import-ics", str(source), "--zone", "Europe/Berlin"])
        == 0
    )
    assert "4 created" in capsys.readouterr().err
    out = tmp_path / "out.ics"
    assert (
        cli.main(
            [
                "--profile",
                str(profile),
                "export-ics",
                "--from",
                "2016-09-01",
                "--to",
                "2016-10-31",
                "--zone",
                "Europe/Berlin",
                str(out),
            ]
        )
        == 0
    )
    text = out.read_text(encoding="utf-8")
    assert text.count("BEGIN:VEVENT") == 3  # the 2 November occurrence is outside the range
    assert "DTSTART;TZID=Europe/Berlin:20161026T090000" in text
    other = tmp_path / "q"
    assert cli.main(["--profile", str(other), "import-ics", str(out)]) == 0
    assert _count(other) == 3


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
