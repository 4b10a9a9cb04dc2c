"""Edits that used to be lost between two laptops, against the real server: a contact re-linked
to an account after the link was removed, edits made in a profile restored from a backup, and a
record page saved with values read before a sync brought a colleague's edit."""

from __future__ import annotations

import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, select

from crm_desktop.models import Account, AccountContact, Contact
from crm_desktop.services import record_views as rv
from crm_desktop.store import open_store
from crm_desktop.store.migrate import upgrade
from crm_desktop.sync import state
from crm_desktop.sync.engine import SyncEngine
from crm_desktop.sync.outbox import BASE_CURSOR
from crm_desktop.sync.protocol import PushResponse
from crm_desktop.sync.tables import sync_outbox
from crm_desktop.sync.transport import NetworkError, Transport
from crm_server.db import mutation_log

from .conftest import Device


def conflicts_of(device: Device) -> list[state.ConflictRecord]:
    with device.store.engine.connect() as connection:
        return state.list_conflicts(connection)


def live_links(device: Device, contact_id: uuid.UUID) -> list[tuple[uuid.UUID, str | None]]:
    """(account, job title) of every account the contact works at, as the contact page lists them."""
    with device.store.sessions() as session:
        links = session.scalars(
            select(AccountContact).where(
                AccountContact.contact_id == contact_id, AccountContact.deleted.is_(False)
            )
        )
        return [(link.account_id, link.title) for link in links]


# --- a removed link brought back ----------------------------------------------------------------


def test_contact_relinked_offline_is_still_linked_after_sync_on_both_laptops(
    company: Any, devices: Any
) -> None:
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    with laptop.store.sessions.begin() as session:
        zoe = Contact(first_name="Zoë", last_name="Adams", owner_id=laptop.user_id)
        session.add(zoe)
        session.flush()
        link = rv.link_contact_to_account(
            session=session, contact_id=zoe.id, account_id=acme, title="Buyer"
        )
    laptop.sync()
    desktop.sync()
    assert live_links(desktop, zoe.id) == [(acme, "Buyer")]

    # She left Acme (removed on the laptop, seen by the desktop)...
    with laptop.store.sessions.begin() as session:
        rv.unlink_contact_from_account(session=session, link_id=link)
    laptop.sync()
    desktop.sync()
    assert live_links(desktop, zoe.id) == []

    # ...and came back: re-linked on the desktop while offline, which revives the same row.
    with desktop.store.sessions.begin() as session:
        again = rv.link_contact_to_account(
            session=session, contact_id=zoe.id, account_id=acme, title="Head of purchasing"
        )
    assert again == link
    desktop.sync()
    laptop.sync()
    desktop.sync()

    for device in (laptop, desktop):
        assert live_links(device, zoe.id) == [(acme, "Head of purchasing")]
    # Nothing was overruled: no "edited after it was deleted" entry on either side.
    for device in (laptop, desktop):
        assert [c for c in conflicts_of(device) if c.record_id == link] == []


def test_a_relink_made_before_a_colleague_removed_the_link_does_not_bring_it_back(
    company: Any, devices: Any
) -> None:
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    with laptop.store.sessions.begin() as session:
        zoe = Contact(first_name="Zoë", last_name="Adams", owner_id=laptop.user_id)
        session.add(zoe)
        session.flush()
        link = rv.link_contact_to_account(session=session, contact_id=zoe.id, account_id=acme)
    laptop.sync()
    desktop.sync()
    # Offline on the desktop: removed by mistake, then put back.
    with desktop.store.sessions.begin() as session:
        rv.unlink_contact_from_account(session=session, link_id=link)
    with desktop.store.sessions.begin() as session:
        rv.link_contact_to_account(session=session, contact_id=zoe.id, account_id=acme)
    # Later, on the laptop, she is removed for good.
    with laptop.store.sessions.begin() as session:
        rv.unlink_contact_from_account(session=session, link_id=link)
    laptop.sync()
    desktop.sync()
    laptop.sync()
    for device in (laptop, desktop):
        assert live_links(device, zoe.id) == []  # the later removal stands everywhere
    assert any(c.record_id == link and c.rule == "edit_after_delete" for c in conflicts_of(desktop))


# --- a profile restored from a backup -----------------------------------------------------------


class LosingTransport(Transport):
    """A real transport whose next ``lose`` pushes reach the server, which answers, but the
    answer never arrives (the connection drops after the server committed)."""

    def __init__(self, base_url: str, *, token: str | None = None, lose: int = 0) -> None:
        super().__init__(base_url, token=token)
        self.lose = lose

    def push(self, body: bytes) -> PushResponse:
        answer = super().push(body)
        if self.lose:
            self.lose -= 1
            raise NetworkError("connection reset after the server answered (injected)")
        return answer


class RestoredDevice(Device):
    """A profile reopened from its database file as the app does after a restore: the device
    token is still in the keyring, so it syncs without signing in again."""

    def __init__(
        self,
        path: Path,
        server_url: str,
        token: str,
        user_id: uuid.UUID,
        transport: Transport | None = None,
    ) -> None:
        self.store = open_store(path)
        self.server_url = server_url
        self.transport = transport or Transport(server_url, token=token)
        self.engine = SyncEngine(self.store.path, self.transport)
        self.user_id = user_id


def back_up(device: Device, target: Path) -> None:
    """Copy the profile's database while it is open (SQLite's online backup, WAL included)."""
    with sqlite3.connect(device.store.path) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    copy.close()
    source.close()


def restore(device: Device, backup: Path, *, lose: int = 0) -> RestoredDevice:
    """The laptop's disk fails; its profile is restored from ``backup`` (a copy of the file)
    and reopened. The first ``lose`` push answers of the restored profile get lost."""
    path, token, user_id = device.store.path, device.transport.token, device.user_id
    assert token is not None
    device.close()
    for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(backup, path)
    transport = LosingTransport(device.server_url, token=token, lose=lose)
    return RestoredDevice(path, device.server_url, token, user_id, transport)


def test_edits_made_after_restoring_a_backup_reach_the_server_and_a_second_laptop(
    company: Any, devices: Any, tmp_path: Path
) -> None:
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    backup = tmp_path / "backup.sqlite3"
    back_up(laptop, backup)

    # Work done after the backup uses the next mutation numbers on the server...
    laptop.edit("account", acme, phone="+1 555 0100")
    globex = laptop.add_account("Globex")
    laptop.sync()

    # ...then the laptop's disk fails and the profile is restored from the backup.
    restored = restore(laptop, backup)
    try:
        # Three transactions numbered like the two the server already applied, and one more;
        # the phone is edited in the first and the last, so their order matters.
        restored.edit("account", acme, phone="+1 555 0111")
        initech = restored.add_account("Initech")
        restored.edit("account", acme, phone="+1 555 0199", website="acme.example")
        restored.sync()
        assert restored.engine.pending() == (0, 0)
        desktop.sync()
        restored.sync()

        for device in (restored, desktop):
            account = device.get("account", acme)
            assert (account.phone, account.website) == ("+1 555 0199", "acme.example")
            assert {globex, initech} <= device.ids("account")  # before and after the restore
        assert conflicts_of(restored) == []
    finally:
        restored.close()


def test_a_restored_profiles_edit_whose_first_answer_was_lost_still_reaches_everyone(
    company: Any, devices: Any, tmp_path: Path
) -> None:
    """The restored edit is flagged sent before its first request; that request's answer
    (``taken``) is lost, so the next round resends it as a sent mutation. The server still
    tells it from the mutation that took its number (by stamp) and it is renumbered, not
    dropped as a duplicate."""
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    backup = tmp_path / "backup.sqlite3"
    back_up(laptop, backup)
    laptop.edit("account", acme, industry="Retail")  # takes the next number on the server
    laptop.sync()

    restored = restore(laptop, backup, lose=1)
    try:
        # The first is numbered like the edit the server applied, the second one above it;
        # both set the phone, so they must land in their order.
        restored.edit("account", acme, phone="+1 555 0111")
        restored.edit("account", acme, phone="+1 555 0199", website="acme.example")
        with pytest.raises(NetworkError):
            restored.sync()
        assert restored.engine.pending()[0] == 2  # nothing was dropped meanwhile
        report = restored.sync()
        assert (report.pushed, report.rejected) == (2, 0)
        assert restored.engine.pending() == (0, 0)
        desktop.sync()
        restored.sync()
        for device in (restored, desktop):
            account = device.get("account", acme)
            assert (account.phone, account.website, account.industry) == (
                "+1 555 0199",
                "acme.example",
                "Retail",
            )
        assert conflicts_of(restored) == []
    finally:
        restored.close()


@pytest.mark.parametrize("refused_is_last", [True, False], ids=["refused-last", "applied-after"])
def test_a_restored_edit_numbered_like_a_refused_one_is_not_undone(
    company: Any, devices: Any, tmp_path: Path, refused_is_last: bool
) -> None:
    """The server answers a resent number it once refused with that refusal, but only for
    the same mutation (same stamp): the restored profile's edit carrying that number is
    another one (``taken``) and must be applied, not rolled back."""
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    backup = tmp_path / "backup.sqlite3"
    back_up(laptop, backup)
    # After the backup: a hand-over head office refuses (Carl is not in Ann's team), the
    # server's last number of the device, or followed by an edit it applies.
    laptop.edit("account", acme, owner_id=company.ids["carl"])
    if not refused_is_last:
        laptop.edit("account", acme, industry="Mining")
    assert laptop.sync().rejected == 1

    restored = restore(laptop, backup)
    try:
        restored.edit("account", acme, phone="+1 555 0111")  # the refused hand-over's number
        restored.edit("account", acme, website="acme.example")
        report = restored.sync()
        assert (report.pushed, report.rejected) == (2, 0)
        assert [c for c in conflicts_of(restored) if c.rule == "rejected"] == []
        desktop.sync()
        for device in (restored, desktop):
            account = device.get("account", acme)
            assert (account.phone, account.website) == ("+1 555 0111", "acme.example")
            assert account.owner_id == restored.user_id
    finally:
        restored.close()


def test_a_restored_profile_still_renumbers_when_the_server_forgot_its_numbers(
    company: Any, devices: Any, server_db: Engine, tmp_path: Path
) -> None:
    """Past the server's retention (or from before it stored stamps) a taken number answers
    ``duplicate``: a mutation never sent before is still renumbered, not dropped."""
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    backup = tmp_path / "backup.sqlite3"
    back_up(laptop, backup)
    laptop.edit("account", acme, industry="Retail")
    laptop.sync()
    device_id = laptop.engine.state().device_id
    with server_db.begin() as connection:
        connection.execute(delete(mutation_log).where(mutation_log.c.device_id == device_id))

    restored = restore(laptop, backup)
    try:
        restored.edit("account", acme, phone="+1 555 0111")
        restored.sync()
        assert restored.engine.pending() == (0, 0)
        desktop.sync()
        assert desktop.get("account", acme).phone == "+1 555 0111"
    finally:
        restored.close()


def test_a_resent_edit_whose_answer_was_lost_is_not_applied_twice(
    company: Any, devices: Any
) -> None:
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    desktop.sync()
    laptop.edit("account", acme, phone="+1 555 0100")
    real_push = laptop.transport.push

    def push_then_lose_answer(body: bytes) -> Any:
        real_push(body)
        raise NetworkError("connection reset after the server committed (injected)")

    laptop.transport.push = push_then_lose_answer  # type: ignore[method-assign]
    with pytest.raises(NetworkError):
        laptop.sync()
    laptop.transport.push = real_push  # type: ignore[method-assign]
    # Meanwhile a colleague changes the phone again.
    desktop.edit("account", acme, phone="+1 555 0200")
    desktop.sync()
    laptop.sync()  # the resend is a duplicate: dropped, not pushed again over the colleague's
    desktop.sync()
    for device in (laptop, desktop):
        assert device.get("account", acme).phone == "+1 555 0200"


# --- a record page saved with values read before a sync -----------------------------------------


def test_save_of_a_page_loaded_before_a_colleagues_edit_is_a_logged_conflict_on_both_laptops(
    company: Any, devices: Any
) -> None:
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme", phone="+1 555 0100")
    laptop.sync()
    desktop.sync()

    # The laptop opens Acme's page; the cursor of what it shows is recorded with it.
    loaded_at = laptop.engine.state().cursor
    desktop.edit("account", acme, phone="+1 555 0200")
    desktop.sync()
    laptop.sync()  # the automatic sync brings the colleague's phone while the page stays open
    # The user types a phone into the page's (old) form and saves.
    with laptop.store.sessions.begin() as session:
        session.info[BASE_CURSOR] = loaded_at
        account = session.get(Account, acme)
        assert account is not None
        account.phone = "+1 555 0300"
    laptop.sync()
    desktop.sync()

    for device in (laptop, desktop):
        assert device.get("account", acme).phone == "+1 555 0300"  # the later edit stands
        [conflict] = [c for c in conflicts_of(device) if c.field == "phone"]
        assert conflict.rule == "lww"
        assert {conflict.local, conflict.server} == {"+1 555 0300", "+1 555 0200"}
    # The colleague can see what was overwritten and take it back.
    [on_desktop] = [c for c in conflicts_of(desktop) if c.field == "phone"]
    assert on_desktop.this_device_value == "+1 555 0200" and on_desktop.can_take_other


def test_pending_mutations_of_an_upgraded_profile_count_as_sent(tmp_path: Path) -> None:
    path = tmp_path / "crm.sqlite3"
    upgrade(path, revision="0005")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO sync_outbox (n, stamp, base, changes, change_count, created_at)"
            " VALUES (7, '0lx2a3b4c00', 0, '[]', 0, '2026-11-25 10:00:00.000000')"
        )
    db.close()
    upgrade(path)
    store = open_store(path)
    try:
        with store.engine.connect() as connection:
            # Unknown whether it went out: a duplicate answer drops it, as before the upgrade.
            assert connection.execute(select(sync_outbox.c.sent)).scalar_one() is True
    finally:
        store.dispose()


def test_a_restored_edit_the_original_laptop_already_pushed_is_not_applied_again(
    company: Any, devices: Any, tmp_path: Path
) -> None:
    """The backup was taken while an edit waited in the outbox; the laptop pushed it later and
    then changed the same field again. The restored copy sends the old edit (never sent, as far
    as it knows): the server recognises it by its stamp, and it is dropped, not renumbered and
    applied over the newer value."""
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    laptop.edit("account", acme, phone="+1 555 0100")  # waiting in the outbox...
    backup = tmp_path / "backup.sqlite3"
    back_up(laptop, backup)  # ...when the backup is taken
    laptop.sync()
    laptop.edit("account", acme, phone="+1 555 0200")
    laptop.sync()

    restored = restore(laptop, backup)
    try:
        report = restored.sync()
        assert report.rejected == 0 and restored.engine.pending() == (0, 0)
        desktop.sync()
        for device in (restored, desktop):
            assert device.get("account", acme).phone == "+1 555 0200"
        assert conflicts_of(restored) == []
    finally:
        restored.close()
