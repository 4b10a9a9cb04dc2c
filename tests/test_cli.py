"""The ``crm`` command line: exit codes, messages, and each subcommand end to end on real files."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event

from crm_desktop import cli
from crm_desktop.config import Profile
from crm_desktop.models import User
from crm_desktop.models.enums import Role
from crm_desktop.store import Store, open_store


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def filled(profile: Profile, capsys: pytest.CaptureFixture[str]) -> Profile:
    """A profile holding a small demo data set."""
    code, _, _ = _run(capsys, "--profile", str(profile.directory), "demo-data", "--contacts", "40")
    assert code == 0
    return profile


def test_demo_data_fills_the_profile_and_makes_a_rep_the_current_user(
    profile: Profile, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys, "--profile", str(profile.directory), "demo-data", "--contacts", "30", "--seed", "9"
    )
    assert code == 0
    assert out == ""  # stdout is for data; the summary goes to stderr
    assert "30 contact" in err and "current user: dchen" in err
    user_id = profile.settings().current_user_id
    assert user_id is not None
    store = open_store(profile.database_path)
    try:
        with store.sessions() as session:
            user = session.get(User, user_id)
            assert user is not None and user.role is Role.REP
    finally:
        store.dispose()


def test_demo_data_into_a_profile_with_data_is_a_clear_user_error(
    filled: Profile, capsys: pytest.CaptureFixture[str]
) -> None:
    before = filled.database_path.stat().st_size
    code, out, err = _run(capsys, "--profile", str(filled.directory), "demo-data")
    assert code == 1
    assert err.startswith("crm demo-data: error: the store already holds data")
    assert str(filled.directory) in err
    assert "Traceback" not in err and out == ""
    assert filled.database_path.stat().st_size == before


def test_export_to_stdout_and_to_a_file_are_the_same(
    filled: Profile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(capsys, "--profile", str(filled.directory), "export", "--format", "jsonl")
    assert code == 0
    target = tmp_path / "all.jsonl"
    code, _, err = _run(capsys, "--profile", str(filled.directory), "export", "-o", str(target))
    assert code == 0 and f"to {target}" in err
    assert target.read_text(encoding="utf-8") == out
    records = [json.loads(line) for line in out.splitlines()]
    assert {"user", "account", "contact", "opportunity", "activity", "quote"} <= {
        r["type"] for r in records
    }
    assert not list(tmp_path.glob("*.partial"))


def test_export_then_import_into_a_new_profile_round_trips(
    filled: Profile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.jsonl"
    second = tmp_path / "second.jsonl"
    other = str(tmp_path / "other")
    assert _run(capsys, "--profile", str(filled.directory), "export", "-o", str(first))[0] == 0
    code, _, err = _run(capsys, "--profile", other, "import", str(first))
    assert code == 0
    assert "created" in err and "0 updated" in err
    assert _run(capsys, "--profile", other, "export", "-o", str(second))[0] == 0
    assert second.read_bytes() == first.read_bytes()
    # Importing again is a no-op that says so.
    code, _, err = _run(capsys, "--profile", other, "import", str(first))
    assert code == 0 and "0 created, 0 updated" in err


def test_import_of_a_bad_file_names_the_line_and_writes_nothing(
    filled: Profile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, before, _ = _run(capsys, "--profile", str(filled.directory), "export")
    lines = before.splitlines()
    edited = json.loads(lines[10])
    edited["deleted"] = True  # a good change that must not survive the bad line below
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        "\n".join([json.dumps(edited), '{"type": "contact", "id": "nope"}', *lines[:3]]) + "\n",
        encoding="utf-8",
    )
    code, _, err = _run(capsys, "--profile", str(filled.directory), "import", str(bad))
    assert code == 1
    assert "nothing was imported" in err
    assert "line 2: id: not a UUID: 'nope'" in err
    assert "Traceback" not in err
    assert _run(capsys, "--profile", str(filled.directory), "export")[1] == before


def test_import_of_a_missing_file_is_a_user_error(
    profile: Profile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(capsys, "--profile", str(profile.directory), "import", str(tmp_path / "x"))
    assert code == 1
    assert err.startswith("crm import: error: cannot read") and "Traceback" not in err


def test_export_to_an_unwritable_place_is_a_user_error(
    filled: Profile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "out.jsonl"
    code, _, err = _run(capsys, "--profile", str(filled.directory), "export", "-o", str(target))
    assert code == 1 and "cannot write" in err


def test_a_store_busy_with_another_writer_is_a_user_error(
    profile: Profile,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def quick_open(path: Path, **kwargs: object) -> Store:
        store = open_store(path, **kwargs)  # type: ignore[arg-type]
        # Give up on the lock after 0.1 s instead of the store's 5 s, to keep the test quick.
        event.listen(
            store.engine, "connect", lambda conn, _: conn.execute("PRAGMA busy_timeout = 100")
        )
        store.engine.dispose()
        return store

    open_store(profile.database_path).dispose()
    line = json.dumps({"type": "account", "id": str(uuid.uuid4()), "name": "Blocked Ltd"})
    source = tmp_path / "one.jsonl"
    source.write_text(line + "\n", encoding="utf-8")
    monkeypatch.setattr(cli, "open_store", quick_open)
    other = sqlite3.connect(profile.database_path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # the app's store worker, in the middle of a write
        code, _, err = _run(capsys, "--profile", str(profile.directory), "import", str(source))
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert code == 1
    assert "is busy" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["no-such-command"],
        ["export", "--format", "csv"],
        ["demo-data", "--contacts", "many"],
        ["demo-data", "--contacts", "-5"],
        ["import"],
    ],
)
def test_usage_errors_exit_with_2(
    argv: list[str], profile: Profile, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(capsys, "--profile", str(profile.directory), *argv)
    assert code == 2
    assert "usage: crm" in err and out == ""
    assert not profile.database_path.exists()  # nothing opened for a usage error


def test_help_lists_every_command_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0
    for name in ("demo-data", "export", "import", "--profile"):
        assert name in out


def test_the_profile_defaults_to_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRM_PROFILE", str(tmp_path / "from-env"))
    code, out, _ = _run(capsys, "export")
    assert code == 0 and out == ""
    assert (tmp_path / "from-env" / "crm.sqlite3").exists()  # created and migrated


@pytest.fixture
def extra_command() -> Iterator[str]:
    """A subcommand registered the way later issues add theirs, removed afterwards."""
    name = "test-hello"

    @cli.command(name, help="say hello")
    @cli.argument("who", help="whom to greet")
    @cli.argument("--shout", action="store_true")
    def hello(ctx: cli.Context, args: argparse.Namespace) -> int:
        if args.who == "nobody":
            raise cli.UserError("nobody to greet")
        greeting = f"hello {args.who}"
        ctx.stdout.write((greeting.upper() if args.shout else greeting) + "\n")
        return 0

    yield name
    del cli._COMMANDS[name]


def test_later_issues_add_subcommands_with_decorators(
    extra_command: str, profile: Profile, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--profile", str(profile.directory), extra_command]
    assert _run(capsys, *base, "world", "--shout") == (0, "HELLO WORLD\n", "")
    assert _run(capsys, *base, "nobody") == (
        1,
        "",
        f"crm {extra_command}: error: nobody to greet\n",
    )
    assert "say hello" in _run(capsys, "--help")[1]
    # A command that never touches the store does not create one.
    assert not profile.database_path.exists()
    with pytest.raises(ValueError, match="registered twice"):
        cli.command(extra_command, help="again")(lambda ctx, args: 0)


def test_the_console_script_runs_in_a_subprocess(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("crm")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "crm_desktop.cli"]
    env = {**os.environ, "CRM_PROFILE": str(tmp_path / "env-profile")}
    profile = str(tmp_path / "sub")
    made = subprocess.run(
        [*command, "--profile", profile, "demo-data", "--contacts", "15", "--seed", "3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stderr
    exported = subprocess.run(
        [*command, "--profile", profile, "export"],
        capture_output=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert exported.returncode == 0
    lines = exported.stdout.decode("utf-8").splitlines()
    assert sum(json.loads(line)["type"] == "contact" for line in lines) == 15
    failed = subprocess.run(
        [*command, "--profile", profile, "import", str(tmp_path / "missing.jsonl")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert failed.returncode == 1
    assert "cannot read" in failed.stderr and "Traceback" not in failed.stderr
    assert not (tmp_path / "env-profile").exists()  # --profile wins over the environment
