"""``crm sync`` and ``crm conflicts`` in-process, against the real server."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from crm_desktop import cli
from crm_desktop.config import Profile
from crm_desktop.models import Account
from crm_desktop.store import open_store
from crm_desktop.sync.credentials import service_name

from .conftest import PASSWORD, Company, MemoryKeyring


def crm(monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return cli.main(list(argv))


def test_sync_signs_in_once_then_uses_the_keyring(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    server: Any,
    company: Company,
    devices: Any,
    memory_keyring: MemoryKeyring,
) -> None:
    profile = str(tmp_path / "cli")
    user = company.names["ann"]
    assert (
        crm(monkeypatch, "--profile", profile, "sync", "--server", server.url, "--user", user) == 1
    )
    assert "password on standard input" in capsys.readouterr().err
    code = crm(
        monkeypatch,
        "--profile",
        profile,
        "sync",
        "--server",
        server.url,
        "--user",
        user,
        stdin=PASSWORD + "\n",
    )
    assert code == 0, capsys.readouterr().err
    assert f"signed in to {server.url} as {user}" in capsys.readouterr().err
    token = memory_keyring.secrets[(service_name(Profile(Path(profile).resolve())), user)]
    settings_text = (Path(profile) / "settings.ini").read_text()
    assert token not in settings_text and PASSWORD not in settings_text

    # A conflict: this profile and a laptop both rename an account.
    laptop = devices(user)
    acme = laptop.add_account("Acme")
    laptop.sync()
    assert crm(monkeypatch, "--profile", profile, "sync") == 0  # no password needed now
    store = open_store(Path(profile) / "crm.sqlite3")
    with store.sessions.begin() as session:
        account = session.get(Account, acme)
        assert account is not None
        account.name = "Acme (CLI)"
    store.dispose()
    laptop.edit("account", acme, name="Acme (laptop)")
    laptop.sync()
    capsys.readouterr()
    assert crm(monkeypatch, "--profile", profile, "sync") == 0
    assert "1 conflicts" in capsys.readouterr().err

    assert crm(monkeypatch, "--profile", profile, "conflicts", "--format", "jsonl") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1
    entry = lines[0]
    assert entry["entity"] == "account" and entry["record_id"] == str(acme)
    assert entry["field"] == "name" and entry["rule"] == "lww"
    assert {entry["local"], entry["server"]} == {"Acme (CLI)", "Acme (laptop)"}

    assert crm(monkeypatch, "--profile", profile, "sign-out") == 0
    assert not memory_keyring.secrets.get((service_name(Profile(Path(profile).resolve())), user))


def test_sync_offline_exits_3_and_keeps_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from server.conftest import free_port

    code = crm(
        monkeypatch,
        "--profile",
        str(tmp_path / "p"),
        "sync",
        "--server",
        f"http://127.0.0.1:{free_port()}",
        "--user",
        "ann",
        stdin="pw\n",
    )
    assert code == 3
    assert "offline" in capsys.readouterr().err
