"""When to sync, and what the status bar says about it.

:class:`SyncStatusController` owns the sync worker thread and drives the status bar's
:class:`~crm_desktop.ui.status_bar.SyncStatusWidget` (through its ``set_state``): online or
offline, last sync, changes waiting to be sent, and progress while a round runs. It syncs

* at start-up (when the profile is signed in),
* on a timer (every few minutes),
* when connectivity returns: while offline it probes the server with exponential back-off
  (5 s, 10 s, 20 s ... capped) and syncs as soon as the server answers,
* a few seconds after local edits (so colleagues see them soon), and
* on demand (:meth:`SyncStatusController.request_sync`: the Sync menu or a click on the
  indicator).

A request while a round runs is remembered and run once afterwards, never in parallel.

What needs the user's attention is announced by signal for the window to show in a dialog: the
device was revoked and wiped, an update is required, or no OS keyring can hold the token. Each
of those also stops the timer, so the dialog is not repeated every few minutes; asking for a
sync again retries.

Threading: everything here runs on the UI thread; network and database work happens in the
worker (:mod:`crm_desktop.sync.worker`), whose results arrive as queued signals, so the UI never
blocks and editing stays smooth while a round runs.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from PySide6.QtCore import QEvent, QObject, QTimer, Signal

from crm_desktop.models import ENTITIES
from crm_desktop.sync import worker as kinds
from crm_desktop.sync.engine import SyncProgress, SyncReport
from crm_desktop.sync.worker import SignedIn, SyncThread
from crm_desktop.ui.context import AppContext
from crm_desktop.ui.status_bar import SyncState, SyncStatusWidget

#: Defaults of the schedule (milliseconds).
SYNC_INTERVAL_MS = 5 * 60_000
PROBE_MIN_MS = 5_000
PROBE_MAX_MS = 5 * 60_000
#: Local edits are pushed this long after the last one (edits in a burst travel together).
PUSH_DELAY_MS = 10_000

_SIGN_IN_HINT = "Sign in to head office to sync (Sync menu → Sign in…)"


class SyncStatusController(QObject):
    """Schedules sync rounds and shows their state (see the module docstring).

    Signals:
        sync_finished(object): a round finished; its :class:`~crm_desktop.sync.engine.SyncReport`.
        device_wiped(str): head office revoked this device and its data was wiped; the message
            says so (show it in a dialog).
        update_required(str): client and server versions differ; sync stopped until updated.
        signed_in(object): a :class:`~crm_desktop.sync.worker.SignedIn` after sign-in.
        sign_in_failed(str): why a sign-in failed.
        signed_out(): the token was forgotten.
        online_changed(bool): the server became reachable or unreachable.
        sync_failed(str, str): a round did not finish: its kind (the ``crm_desktop.sync.worker``
            constants: ``offline``, ``signed_out``, ``wiped``, ...) and a message for the user.
        progress_reported(str, int, int): while a round runs: phase ("push"/"pull"), done,
            total (-1 if unknown).
        keyring_unavailable(str): no OS keyring could read or keep the device token; the message
            says how to configure one (show it in a dialog). Sync stops until asked again.
    """

    sync_finished = Signal(object)
    device_wiped = Signal(str)
    update_required = Signal(str)
    signed_in = Signal(object)
    sign_in_failed = Signal(str)
    signed_out = Signal()
    online_changed = Signal(bool)
    sync_failed = Signal(str, str)
    # object, not int: a download of more than 2 GiB does not fit a C++ int.
    progress_reported = Signal(str, object, object)
    keyring_unavailable = Signal(str)

    def __init__(
        self,
        context: AppContext,
        widget: SyncStatusWidget,
        *,
        interval_ms: int = SYNC_INTERVAL_MS,
        probe_min_ms: int = PROBE_MIN_MS,
        probe_max_ms: int = PROBE_MAX_MS,
        push_delay_ms: int = PUSH_DELAY_MS,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.context = context
        self.widget = widget
        self.sync_thread = SyncThread(context.profile, str(context.store.path), self)
        self.running = False
        self.online: bool | None = None
        self.last_sync: datetime | None = None
        self.pending = (0, 0)
        self.stopped_reason: str | None = None
        #: The settings still name the server and user after a sign-out (so the sign-in dialog
        #: can offer them again); this says the token behind them is gone.
        self._token_gone = False
        self._again = False
        self._notifying = False
        self._problem: tuple[SyncState, str, str] | None = None
        self._probe_min = probe_min_ms
        self._probe_max = probe_max_ms
        self._probe_delay = probe_min_ms
        self._interval = QTimer(self)
        self._interval.setInterval(interval_ms)
        self._interval.timeout.connect(self.on_interval_timeout)
        self._probe = QTimer(self)
        self._probe.setSingleShot(True)
        self._probe.timeout.connect(self.sync_thread.request_probe)
        self._push_soon = QTimer(self)
        self._push_soon.setSingleShot(True)
        self._push_soon.setInterval(push_delay_ms)
        self._push_soon.timeout.connect(self.sync_now)
        worker = self.sync_thread.worker
        worker.sync_started.connect(self.on_worker_sync_started)
        worker.progress_reported.connect(self.on_worker_progress_reported)
        worker.sync_finished.connect(self.on_worker_sync_finished)
        worker.sync_failed.connect(self.on_worker_sync_failed)
        worker.pending_counted.connect(self.on_worker_pending_counted)
        worker.signed_in.connect(self.on_worker_signed_in)
        worker.sign_in_failed.connect(self.sign_in_failed)
        worker.signed_out.connect(self.on_worker_signed_out)
        worker.probe_finished.connect(self.on_worker_probe_finished)
        context.data_changed.connect(self.on_context_data_changed)
        widget.installEventFilter(self)
        # Said at once, not after the first round: the window opens before sync starts.
        if self.signed_in_as is None:
            self._show(SyncState.OFFLINE, "Not signed in", _SIGN_IN_HINT)
        else:
            self._show(SyncState.OFFLINE, "Not synced yet")

    # --- public API (UI thread) ---------------------------------------------------------

    @property
    def signed_in_as(self) -> str | None:
        """The user name this profile syncs as, if signed in to a server."""
        if self._token_gone:
            return None
        settings = self.context.profile.settings()
        if settings.get("server_url") and settings.get("username"):
            return settings.get("username")
        return None

    def start(self) -> None:
        """Begin: count pending changes, sync now if signed in, then every interval."""
        self.sync_thread.request_pending()
        if self.signed_in_as is None:
            self._show_problem(SyncState.OFFLINE, "Not signed in", _SIGN_IN_HINT)
            return
        self._interval.start()
        self.sync_now()

    def sync_now(self) -> None:
        """Sync as soon as possible (after the running round, if any)."""
        if self.stopped_reason is not None:
            return
        self._push_soon.stop()
        if self.running:
            self._again = True
            return
        self.running = True
        self.sync_thread.request_sync()

    def request_sync(self) -> None:
        """A sync the user asked for (menu, indicator): also retries after sync was stopped."""
        self.stopped_reason = None
        self.sync_now()

    def sign_in(self, server_url: str, username: str, password: str, ca_file: str = "") -> None:
        """Sign in on the worker; :attr:`signed_in` or :attr:`sign_in_failed` follows."""
        self.sync_thread.request_sign_in(server_url, username, password, ca_file)

    def sign_out(self) -> None:
        """Forget the token (the local data stays); :attr:`signed_out` follows."""
        self._interval.stop()
        self._probe.stop()
        self.sync_thread.request_sign_out()

    def shutdown(self) -> None:
        """Stop timers and the worker thread (call before the store is disposed)."""
        self._interval.stop()
        self._probe.stop()
        self._push_soon.stop()
        self.sync_thread.stop()

    # --- the indicator ------------------------------------------------------------------

    def _pending_text(self) -> str:
        records = self.pending[1]
        if not records:
            return ""
        return f"{records:,} change{'s' if records != 1 else ''} to send"

    def _detail(self) -> str:
        parts = []
        if self.signed_in_as:
            parts.append(f"Signed in as {self.signed_in_as}")
        if self.last_sync is not None:
            parts.append(f"Last sync {self.last_sync:%Y-%m-%d %H:%M:%S}")
        else:
            parts.append("Never synced")
        pending = self._pending_text()
        parts.append(pending or "Nothing waiting to be sent")
        parts.append("Click to sync now")
        return "\n".join(parts)

    def _show(self, state: SyncState, text: str, detail: str | None = None) -> None:
        self.widget.set_state(state, text, detail if detail is not None else self._detail())

    def _show_problem(self, state: SyncState, text: str, detail: str) -> None:
        # Kept until the next good round, so a later idle refresh cannot paint over it.
        self._problem = (state, text, detail)
        self._show(state, text, detail)

    def _show_idle(self) -> None:
        if self._problem is not None:
            self._show(*self._problem)
            return
        pending = self._pending_text()
        if self.online is False:
            self._show(SyncState.OFFLINE, "Offline" + (f" — {pending}" if pending else ""))
        elif self.last_sync is not None:
            text = f"Synced {self.last_sync:%H:%M}" + (f" — {pending}" if pending else "")
            self._show(SyncState.SYNCED, text)

    # --- worker results (UI thread) -----------------------------------------------------

    def on_worker_sync_started(self) -> None:
        self.running = True
        self._show(SyncState.SYNCING, "Syncing…")

    def on_worker_progress_reported(self, phase: str, done: int, total: int) -> None:
        self.progress_reported.emit(phase, done, total)
        self._show(SyncState.SYNCING, SyncProgress(phase, done, total).describe())

    def on_worker_sync_finished(self, report: SyncReport) -> None:
        self.running = False
        self.last_sync = datetime.now()
        self._set_online(True)
        self._probe_delay = self._probe_min
        self._problem = None
        if not self._interval.isActive():
            self._interval.start()
        self._notify(report.changed)
        self._show_idle()
        self.sync_finished.emit(report)
        self._run_again()

    def on_worker_sync_failed(self, kind: str, message: str) -> None:
        self.running = False
        if kind == kinds.OFFLINE:
            self._problem = None
            self._set_online(False)
            self._show_idle()
            self._schedule_probe()
        elif kind == kinds.BUSY:
            self._show_problem(SyncState.ERROR, "Server busy — will retry", message)
            self._schedule_probe()
        elif kind == kinds.SIGNED_OUT:
            self._token_gone = True
            self._interval.stop()
            self._show_problem(SyncState.OFFLINE, "Not signed in", message)
        elif kind == kinds.WIPED:
            self._token_gone = True
            self._interval.stop()
            self._notify(set(ENTITIES))
            self._show_problem(SyncState.ERROR, "Device revoked — local data wiped", message)
            self.device_wiped.emit(message)
        elif kind == kinds.UPDATE_REQUIRED:
            # Retrying cannot help until the app (or the server) is updated.
            self.stopped_reason = message
            self._interval.stop()
            self._show_problem(SyncState.ERROR, "Update required", message)
            self.update_required.emit(message)
        elif kind == kinds.CANCELLED:
            self._show_idle()
        elif kind == kinds.KEYRING:
            self._interval.stop()
            self._show_problem(SyncState.ERROR, "No keyring for the sign-in", message)
            self.keyring_unavailable.emit(message)
        else:
            self._show_problem(SyncState.ERROR, "Sync problem", message)
        self.sync_failed.emit(kind, message)
        self._run_again()

    def on_worker_pending_counted(self, mutations: int, records: int) -> None:
        self.pending = (mutations, records)
        if not self.running:
            self._show_idle()

    def on_worker_signed_in(self, who: SignedIn) -> None:
        self._token_gone = False
        self.stopped_reason = None
        self._problem = None
        self.context.current_user_id = uuid.UUID(who.user_id)
        self.signed_in.emit(who)
        self.start()

    def on_worker_signed_out(self) -> None:
        self._token_gone = True
        self._push_soon.stop()
        self._show_problem(SyncState.OFFLINE, "Signed out", _SIGN_IN_HINT)
        self.signed_out.emit()

    def on_worker_probe_finished(self, online: bool) -> None:
        if online:
            self._set_online(True)
            self._probe_delay = self._probe_min
            self.sync_now()
        else:
            self._schedule_probe()

    def on_interval_timeout(self) -> None:
        # While offline the probe decides when to try; the interval only syncs when online.
        if self.online is not False:
            self.sync_now()

    def on_context_data_changed(self, _entity: str) -> None:
        if self._notifying:
            return  # our own refresh after a pull, not a local edit
        self.sync_thread.request_pending()
        if self.signed_in_as is not None and self.online is not False:
            self._push_soon.start()

    # --- helpers ------------------------------------------------------------------------

    def _run_again(self) -> None:
        if self._again:
            self._again = False
            self.sync_now()

    def _set_online(self, online: bool) -> None:
        if self.online != online:
            self.online = online
            self.online_changed.emit(online)

    def _schedule_probe(self) -> None:
        self._probe.start(self._probe_delay)
        self._probe_delay = min(self._probe_delay * 2, self._probe_max)

    def _notify(self, entities: set[str]) -> None:
        self._notifying = True
        try:
            for entity in sorted(entities):
                self.context.notify_changed(entity)
        finally:
            self._notifying = False

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """A click on the indicator syncs now."""
        if watched is self.widget and event.type() == QEvent.Type.MouseButtonRelease:
            self.request_sync()
            return True
        return super().eventFilter(watched, event)


__all__ = ["SyncStatusController"]
