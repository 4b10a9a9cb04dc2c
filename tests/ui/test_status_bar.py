"""Status bar: sync state placeholder and a busy indicator that appears only for slow work."""

from __future__ import annotations

import threading

from pytestqt.qtbot import QtBot

from crm_desktop.ui.context import AppContext
from crm_desktop.ui.status_bar import MainStatusBar, SyncState


def test_sync_state_starts_offline_and_follows_the_sync_worker(
    qtbot: QtBot, ui_context: AppContext
) -> None:
    bar = MainStatusBar(ui_context.runner)
    qtbot.addWidget(bar)
    bar.show()
    assert bar.sync.text == "Offline — not connected"
    assert bar.sync.state is SyncState.OFFLINE
    bar.sync.set_state(SyncState.SYNCING, "Syncing…", "Last sync 2 minutes ago")
    assert bar.sync.text == "Syncing…"
    assert bar.sync.toolTip() == "Last sync 2 minutes ago"


def test_busy_indicator_shows_for_slow_work_only(qtbot: QtBot, ui_context: AppContext) -> None:
    bar = MainStatusBar(ui_context.runner)
    qtbot.addWidget(bar)
    bar.show()
    release = threading.Event()
    ui_context.runner.submit(lambda: release.wait(10))
    assert bar.busy.isHidden()  # not at once: quick work must not flicker
    qtbot.waitUntil(lambda: bar.busy.isVisible())
    release.set()
    qtbot.waitUntil(lambda: bar.busy.isHidden())
