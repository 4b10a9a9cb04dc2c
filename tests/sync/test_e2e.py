"""End-to-end: real server process, several real client profiles, offline edits on both sides."""

from __future__ import annotations

from typing import Any

import pytest
from server.conftest import PASSWORD
from sqlalchemy import select

from crm_desktop.models import Account, Contact
from crm_desktop.store import search
from crm_desktop.sync import state
from crm_desktop.sync.engine import LocalDataWiped, SyncProgress
from crm_desktop.sync.protocol import PROTOCOL_HEADER, SCHEMA_HEADER
from crm_desktop.sync.tables import sync_outbox
from crm_desktop.sync.transport import NetworkError, UpdateRequired
from crm_server import admin


def conflicts_of(device: Any) -> list[state.ConflictRecord]:
    with device.store.engine.connect() as connection:
        return state.list_conflicts(connection)


def test_offline_edits_on_two_devices_converge(company: Any, devices: Any) -> None:
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme", phone="+1 555 0100", notes="Met at the fair.")
    laptop.sync()
    desktop.sync()
    assert desktop.get("account", acme).name == "Acme"
    with desktop.store.sessions() as session:  # pulled records are searchable at once
        assert [hit.id for hit in search.search(session, "acm")] == [acme]

    # Both offline: different fields, the same field, and the long-text notes.
    laptop.edit(
        "account",
        acme,
        phone="+1 555 0199",
        name="Acme Ltd",
        notes="Met at the fair. Wants 20 units.",
    )
    desktop.edit(
        "account",
        acme,
        website="acme.example",
        name="ACME Limited",
        notes="Met at the fair. Budget in Q3.",
    )
    laptop.sync()
    desktop.sync()
    laptop.sync()

    for device in (laptop, desktop):
        account = device.get("account", acme)
        assert account.phone == "+1 555 0199"  # only the laptop changed it
        assert account.website == "acme.example"  # only the desktop changed it
        assert account.name == "ACME Limited"  # same field: the later edit wins
        assert "Wants 20 units." in account.notes and "Budget in Q3." in account.notes
    assert laptop.get("account", acme).notes == desktop.get("account", acme).notes
    for device in (laptop, desktop):
        with device.store.sessions() as session:
            assert [hit.id for hit in search.search(session, "ACME Limited")] == [acme]

    logged = {(c.field, c.rule, c.winner) for c in conflicts_of(desktop)}
    assert ("name", "lww", "local") in logged
    assert ("notes", "text_keep_both", "both") in logged
    name_conflict = next(c for c in conflicts_of(desktop) if c.field == "name")
    assert name_conflict.local == "ACME Limited" and name_conflict.server == "Acme Ltd"
    assert name_conflict.base_known and name_conflict.base == "Acme"


def test_conflict_lands_in_the_log_of_the_other_device_too(company: Any, devices: Any) -> None:
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    desktop.sync()
    laptop.edit("account", acme, name="Acme Ltd")
    desktop.edit("account", acme, name="ACME Limited")
    laptop.sync()
    desktop.sync()
    laptop.sync()
    assert any(c.field == "name" for c in conflicts_of(laptop))


def test_losing_edit_is_overwritten_locally_and_can_be_taken_back(
    company: Any, devices: Any
) -> None:
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    desktop.sync()
    desktop.edit("account", acme, industry="Mining")  # earlier stamp
    laptop.edit("account", acme, industry="Energy")  # later stamp: wins
    laptop.sync()
    desktop.sync()
    assert desktop.get("account", acme).industry == "Energy"
    conflict = next(c for c in conflicts_of(desktop) if c.field == "industry")
    assert conflict.winner == "server" and conflict.other_value == "Mining"

    with desktop.store.sessions.begin() as session:
        state.take_other_value(session, conflict.id)
    desktop.sync()
    laptop.sync()
    assert laptop.get("account", acme).industry == "Mining"
    assert next(c for c in conflicts_of(desktop) if c.id == conflict.id).restored_at


def test_deletes_win_and_never_come_back(company: Any, devices: Any) -> None:
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    with laptop.store.sessions.begin() as session:
        contact = Contact(first_name="Zoë", last_name="Adams", owner_id=laptop.user_id)
        session.add(contact)
    laptop.sync()
    desktop.sync()
    laptop.delete("contact", contact.id)
    desktop.edit("contact", contact.id, phone="+44 20 7946 0000")
    laptop.sync()
    desktop.sync()
    laptop.sync()
    for _ in range(2):
        for device in (laptop, desktop):
            device.sync()
            assert contact.id not in device.ids("contact")
            assert device.get("contact", contact.id).deleted
    assert any(c.rule == "edit_after_delete" for c in conflicts_of(desktop))


def test_reassigned_account_is_removed_from_the_old_owners_device(
    company: Any, devices: Any, server_db: Any
) -> None:
    ann = devices(company.names["ann"])
    carl = devices(company.names["carl"])
    acme = ann.add_account("Acme")
    ann.sync()
    carl.sync()
    assert acme not in carl.ids("account")
    admin.reassign(server_db, from_user=company.names["ann"], to_user=company.names["carl"])
    report = ann.sync()
    carl.sync()
    assert report.removed >= 1
    assert acme not in ann.ids("account", include_deleted=True)
    assert acme in carl.ids("account")
    with ann.store.engine.connect() as connection:
        assert connection.execute(select(sync_outbox)).first() is None


def test_revoked_device_that_signs_in_again_starts_empty(
    company: Any, devices: Any, server_db: Any
) -> None:
    """Revocation must wipe even when the device's next contact is a sign-in, not a sync."""
    laptop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    laptop.add_account("Unsynced Ltd")
    admin.revoke_devices(server_db, username=company.names["ann"])
    old_device = laptop.engine.state().device_id

    laptop.engine.sign_in(
        server_url=laptop.server_url,
        username=laptop.username,
        password=PASSWORD,
        device_name="test",
    )

    current = laptop.engine.state()
    assert current.device_id != old_device
    assert current.wiped_reason and "revoked" in current.wiped_reason
    assert laptop.ids("account", include_deleted=True) == set()
    assert laptop.engine.pending() == (0, 0)
    # As a new device it receives what head office holds, and nothing that was never synced.
    laptop.sync()
    names = {laptop.get("account", i).name for i in laptop.ids("account")}
    assert acme in laptop.ids("account") and "Unsynced Ltd" not in names


def test_revoked_device_wipes_its_data(company: Any, devices: Any, server_db: Any) -> None:
    laptop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    laptop.add_account("Unsynced Ltd")
    # A first-sync download a killed process left in the profile folder: a copy of the
    # whole scope, which a stolen laptop must not keep either.
    leftover = laptop.store.path.parent / ".snapshot-killed.sqlite3"
    leftover.write_bytes(b"SQLite format 3\0" + b"\0" * 4096)
    admin.revoke_devices(server_db, username=company.names["ann"])
    with pytest.raises(LocalDataWiped, match="revoked"):
        laptop.sync()
    assert not leftover.exists()
    assert laptop.ids("account", include_deleted=True) == set()
    assert acme not in laptop.ids("account", include_deleted=True)
    current = laptop.engine.state()
    assert current.user_id is None and current.cursor == 0 and current.wiped_reason
    assert laptop.engine.pending() == (0, 0)


@pytest.mark.parametrize(
    ("header", "value", "words"),
    [(SCHEMA_HEADER, "0000000000000000", "record layouts"), (PROTOCOL_HEADER, "99", "protocol")],
)
def test_version_mismatch_says_update_required(
    company: Any, devices: Any, header: str, value: str, words: str
) -> None:
    laptop = devices(company.names["ann"])
    laptop.add_account("Acme")
    laptop.transport._http.headers[header] = value
    with pytest.raises(UpdateRequired) as raised:
        laptop.sync()
    assert "Update required" in raised.value.explain()
    assert words in raised.value.explain()
    assert laptop.engine.pending() == (1, 1)  # nothing lost


def test_a_lost_push_answer_still_brings_the_decision_home(company: Any, devices: Any) -> None:
    """The losing value's push answer is lost; the resend is a duplicate without conflicts and
    the server record did not change, so only the conflict feed can correct the local row."""
    laptop = devices(company.names["ann"])
    desktop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    desktop.sync()

    def meanwhile(progress: SyncProgress) -> None:
        if progress.phase == "pull" and desktop.get("account", acme).industry is None:
            desktop.edit("account", acme, industry="Mining")  # earlier stamp, not yet pushed
            laptop.edit("account", acme, industry="Energy")  # later stamp, pushed first
            laptop.sync()

    desktop.engine.sync(progress=meanwhile)  # pulls Energy while Mining is pending: kept
    assert desktop.get("account", acme).industry == "Mining"

    real_push = desktop.transport.push

    def push_then_lose_answer(body: bytes) -> Any:
        real_push(body)
        raise NetworkError("connection reset after the server committed (injected)")

    desktop.transport.push = push_then_lose_answer  # type: ignore[method-assign]
    with pytest.raises(NetworkError):
        desktop.sync()
    desktop.transport.push = real_push  # type: ignore[method-assign]
    desktop.sync()
    assert desktop.get("account", acme).industry == "Energy"
    assert laptop.get("account", acme).industry == "Energy"
    assert any(c.field == "industry" and c.winner == "server" for c in conflicts_of(desktop))


def test_a_rejected_save_lists_every_record_it_rolled_back(company: Any, devices: Any) -> None:
    """A save touching two accounts is one mutation; when head office refuses it, both records
    go back to the server's values and both appear in the conflict log, not only the first."""
    laptop = devices(company.names["ann"])
    first = laptop.add_account("Acme")
    second = laptop.add_account("Globex")
    laptop.sync()
    with laptop.store.sessions.begin() as session:
        for record_id, industry in ((first, "Mining"), (second, "Energy")):
            account = session.get(Account, record_id)
            assert account is not None
            account.industry = industry
        invalid = session.get(Account, second)
        assert invalid is not None
        invalid.name = "G" * 5000  # longer than the column allows: refused as a whole

    laptop.sync()

    rejected = [c for c in conflicts_of(laptop) if c.rule == "rejected"]
    assert {c.record_id for c in rejected} == {first, second}
    assert laptop.get("account", first).industry is None
    assert laptop.get("account", second).industry is None
