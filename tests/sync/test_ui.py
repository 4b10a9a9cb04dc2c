"""The app side of sync, driven like a user: sign-in dialog, status indicator, automatic syncs
(start, connectivity probe with back-off), revocation, and the conflicts panel. Waits on
signals only, never on sleeps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox
from pytestqt.qtbot import QtBot
from server.conftest import PASSWORD, free_port

from crm_desktop.config import Profile
from crm_desktop.models import Account, User
from crm_desktop.store import Store
from crm_desktop.sync.credentials import service_name
from crm_desktop.ui.conflicts_panel import ConflictsPanel
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.sign_in_dialog import SignInDialog, check_server_url
from crm_desktop.ui.status_bar import SyncState, SyncStatusWidget
from crm_desktop.ui.sync_status import SyncStatusController

from .conftest import Company, MemoryKeyring


@pytest.fixture
def app_sync(
    qtbot: QtBot, store: Store, profile: Profile
) -> Iterator[tuple[AppContext, SyncStatusWidget, SyncStatusController]]:
    context = AppContext(store=store, profile=profile)
    widget = SyncStatusWidget()
    qtbot.addWidget(widget)
    controller = SyncStatusController(
        context, widget, probe_min_ms=20, probe_max_ms=200, push_delay_ms=50
    )
    yield context, widget, controller
    controller.shutdown()
    qtbot.waitUntil(lambda: context.runner.pending == 0, timeout=10_000)
    context.runner.shutdown()


def sign_in(
    qtbot: QtBot, controller: SyncStatusController, profile: Profile, url: str, user: str
) -> None:
    dialog = SignInDialog(controller, profile.settings())
    qtbot.addWidget(dialog)
    fill_in_and_sign_in(qtbot, dialog, controller, url, user)


def fill_in_and_sign_in(
    qtbot: QtBot,
    dialog: SignInDialog,
    controller: SyncStatusController,
    url: str,
    user: str,
    password: str = PASSWORD,
) -> None:
    """Type into the dialog like a user, click "Sign in" and wait for the first sync."""
    qtbot.keyClicks(dialog.server_edit, url)
    qtbot.keyClicks(dialog.user_edit, user)
    qtbot.keyClicks(dialog.password_edit, password)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    with qtbot.waitSignal(controller.sync_finished, timeout=20_000):
        qtbot.mouseClick(ok, Qt.MouseButton.LeftButton)
    assert dialog.result() == SignInDialog.DialogCode.Accepted
    assert dialog.password_edit.text() == ""


def test_server_url_must_be_https_off_this_machine() -> None:
    assert check_server_url("https://crm.example.com") is None
    assert check_server_url("http://127.0.0.1:8400") is None
    assert "https" in (check_server_url("http://crm.example.com") or "")
    assert check_server_url("crm") is not None


def test_sign_in_keeps_the_token_in_the_keyring_and_syncs(
    qtbot: QtBot,
    app_sync: Any,
    profile: Profile,
    server: Any,
    company: Company,
    memory_keyring: MemoryKeyring,
) -> None:
    context, widget, controller = app_sync
    controller.start()
    assert widget.text == "Not signed in"
    sign_in(qtbot, controller, profile, server.url, company.names["ann"])
    assert widget.state == SyncState.SYNCED and widget.text.startswith("Synced")
    assert memory_keyring.secrets[(service_name(profile), company.names["ann"])]
    saved = profile.settings_path.read_text()
    assert (
        PASSWORD not in saved
        and memory_keyring.secrets[(service_name(profile), company.names["ann"])] not in saved
    )
    assert context.current_user_id == company.ids["ann"]

    # A local edit is pushed by itself shortly afterwards, and lists are told to refresh.
    with context.store.sessions.begin() as session:
        session.add(Account(name="Typed offline", owner_id=company.ids["ann"]))
    with qtbot.waitSignal(controller.sync_finished, timeout=10_000) as finished:
        context.notify_changed("account")
    assert finished.args[0].pushed == 1
    qtbot.waitUntil(lambda: controller.pending == (0, 0), timeout=5_000)

    with qtbot.waitSignal(controller.signed_out, timeout=10_000):
        controller.sign_out()
    assert (service_name(profile), company.names["ann"]) not in memory_keyring.secrets


def test_connectivity_probe_resumes_sync_when_the_server_is_back(
    qtbot: QtBot, app_sync: Any, profile: Profile, server: Any, company: Company
) -> None:
    _context, widget, controller = app_sync
    sign_in(qtbot, controller, profile, server.url, company.names["ann"])
    settings = profile.settings()
    settings.set("server_url", f"http://127.0.0.1:{free_port()}")  # nobody listens there
    settings.save()
    with qtbot.waitSignal(controller.online_changed, timeout=10_000) as offline:
        controller.sync_now()
    assert offline.args == [False]
    assert widget.state == SyncState.OFFLINE
    settings.set("server_url", server.url)  # the network is back
    settings.save()
    with qtbot.waitSignal(controller.sync_finished, timeout=10_000):
        pass
    assert controller.online is True and widget.state == SyncState.SYNCED


def test_revoked_device_is_wiped_and_says_so(
    qtbot: QtBot, app_sync: Any, profile: Profile, server: Any, company: Company, server_db: Any
) -> None:
    from crm_server import admin

    _context, widget, controller = app_sync
    sign_in(qtbot, controller, profile, server.url, company.names["ann"])
    admin.revoke_devices(server_db, username=company.names["ann"])
    with qtbot.waitSignal(controller.device_wiped, timeout=10_000) as wiped:
        controller.sync_now()
    assert "revoked" in wiped.args[0]
    assert widget.state == SyncState.ERROR


# The offscreen platform says this on every top-level show (see tests/ui/conftest.py).
@pytest.mark.qt_log_ignore("This plugin does not support propagateSizeHints")
def test_conflicts_panel_shows_both_values_and_takes_the_other_one(
    qtbot: QtBot,
    app_sync: Any,
    profile: Profile,
    server: Any,
    company: Company,
    devices: Any,
) -> None:
    context, _widget, controller = app_sync
    laptop = devices(company.names["ann"])
    acme = laptop.add_account("Acme")
    laptop.sync()
    sign_in(qtbot, controller, profile, server.url, company.names["ann"])
    with context.store.sessions.begin() as session:
        account = session.get(Account, acme)
        assert account is not None
        account.industry = "Mining"  # edited here first...
    laptop.edit("account", acme, industry="Energy")  # ...and later on the laptop
    laptop.sync()

    panel = ConflictsPanel(context, controller)
    qtbot.addWidget(panel)
    panel.show()  # a hidden panel (a closed dock) reloads only when shown again
    with qtbot.waitSignal(panel.load_finished, timeout=10_000, check_params_cb=lambda n: n == 1):
        controller.sync_now()
    assert panel.table.item(0, 4).text() == "Mining"  # this device
    assert panel.table.item(0, 5).text() == "Energy"  # head office
    assert panel.table.item(0, 6).text() == "Energy"  # stands now
    panel.table.selectRow(0)
    assert panel.take_button.isEnabled()
    with (
        qtbot.waitSignal(controller.sync_finished, timeout=10_000),
        qtbot.waitSignal(panel.value_taken, timeout=10_000),
    ):
        qtbot.mouseClick(panel.take_button, Qt.MouseButton.LeftButton)
    laptop.sync()
    assert laptop.get("account", acme).industry == "Mining"


def test_first_sync_reports_the_download_then_the_records(
    qtbot: QtBot, app_sync: Any, profile: Profile, server: Any, company: Company
) -> None:
    context, widget, controller = app_sync
    controller.start()
    seen: list[tuple[str, int, int]] = []
    controller.progress_reported.connect(lambda *progress: seen.append(progress))
    sign_in(qtbot, controller, profile, server.url, company.names["ann"])
    phases = [phase for phase, _done, _total in seen]
    # A new profile downloads its records in one file (bytes, with the size), then pulls on.
    assert phases[0] == "download" and "pull" in phases[phases.index("download") :]
    downloads = [(done, total) for phase, done, total in seen if phase == "download"]
    assert downloads[-1][0] > 0 and downloads[-1][0] == downloads[-1][1]
    assert widget.state == SyncState.SYNCED
    with context.store.sessions() as session:
        # The public catalog came with it: every colleague is known on this laptop.
        assert set(company.ids.values()) <= {user.id for user in session.query(User)}

    # What the status bar says while a big first sync runs.
    controller.on_worker_progress_reported("download", 23_400_000, 58_000_000)
    assert widget.text == "Downloading your records… 23 of 58 MB"
    seen.clear()
    controller.on_worker_progress_reported("download", 3_100_000_000, 5_400_000_000)
    assert widget.text == "Downloading your records… 3,100 of 5,400 MB"
    assert seen == [("download", 3_100_000_000, 5_400_000_000)]  # past 2 GiB, intact
    controller.on_worker_progress_reported("download", 5_000_000, -1)
    assert widget.text == "Downloading your records… 5 MB"
    controller.on_worker_progress_reported("pull", 125_000, -1)
    assert widget.text == "Receiving… 125,000 records"
    controller.on_worker_progress_reported("push", 3, 10)
    assert widget.text == "Sending changes… 3 of 10"
