"""The one Qt piece of sync: a worker object living in its own thread that runs the engine.

Threading contract: :class:`SyncWorker` is moved to a dedicated ``QThread`` by
:class:`SyncThread`; its slots run there, one at a time, so the engine, the transport and the
keyring are only ever touched from that thread and the UI thread never waits on the network or on
a sync transaction. The UI talks to it only through queued signals (the ``SyncThread`` methods
emit them) and hears back through the worker's signals, which Qt delivers on the UI thread.
:meth:`SyncThread.cancel` is the one direct call: it sets a ``threading.Event`` the engine checks
between pages, so "stop" needs no event loop turn on the worker.

Transactions: the engine opens its own short transactions on the store file (see
:mod:`crm_desktop.sync.engine`); the worker holds no session.
"""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from sqlalchemy import Engine

from crm_desktop.config import Profile
from crm_desktop.store.db import create_sqlite_engine
from crm_desktop.sync import outbox
from crm_desktop.sync.credentials import KeyringUnavailable, TokenStore
from crm_desktop.sync.engine import (
    LocalDataWiped,
    ProfileMismatch,
    SyncCancelled,
    SyncEngine,
    SyncError,
    SyncProgress,
    SyncReport,
)
from crm_desktop.sync.transport import (
    AuthenticationError,
    NetworkError,
    ServerBusy,
    ServerError,
    Transport,
    UpdateRequired,
)

log = logging.getLogger(__name__)

#: Failure kinds of :attr:`SyncWorker.sync_failed` (the UI picks its wording and retry policy).
OFFLINE = "offline"
SIGNED_OUT = "signed_out"
WIPED = "wiped"
UPDATE_REQUIRED = "update_required"
BUSY = "busy"
ERROR = "error"
#: No usable OS keyring can read or keep the device token (KeyringUnavailable).
KEYRING = "keyring"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class SignedIn:
    """Who the profile is signed in as, after a successful sign-in."""

    server_url: str
    username: str
    user_id: str


class SyncWorker(QObject):
    """Runs sync rounds, sign-in, sign-out and connectivity probes off the UI thread.

    Signals:
        sync_started(): a round began.
        progress_reported(str, int, int): phase ("push", "download" or "pull"), done, total (-1 if
            unknown).
        sync_finished(object): a :class:`~crm_desktop.sync.engine.SyncReport` of a finished round.
        sync_failed(str, str): kind (``offline``, ``signed_out``, ``wiped``, ``update_required``,
            ``busy``, ``cancelled``, ``error``) and a message for the user.
        pending_counted(int, int): mutations and records waiting in the outbox.
        signed_in(object): a :class:`SignedIn` after a successful sign-in.
        sign_in_failed(str): why the sign-in did not work, in words for the user.
        signed_out(): the token is forgotten.
        probe_finished(bool): whether the server answered the connectivity probe.
    """

    sync_started = Signal()
    # object, not int: a download of more than 2 GiB does not fit a C++ int.
    progress_reported = Signal(str, object, object)
    sync_finished = Signal(object)
    sync_failed = Signal(str, str)
    pending_counted = Signal(int, int)
    signed_in = Signal(object)
    sign_in_failed = Signal(str)
    signed_out = Signal()
    probe_finished = Signal(bool)

    def __init__(self, profile: Profile, database_path: str, cancel: threading.Event) -> None:
        super().__init__()
        self._profile = profile
        self._database_path = database_path
        self._cancel = cancel
        self._tokens = TokenStore(profile)
        self._engine: SyncEngine | None = None
        self._transport: Transport | None = None
        self._key: tuple[str, str | None] | None = None
        self._reader: Engine | None = None

    # --- helpers (worker thread) --------------------------------------------------------

    def _connect(self, server_url: str, ca_file: str | None) -> SyncEngine:
        """The engine for ``server_url``, rebuilt when the server or CA file changed."""
        key = (server_url, ca_file)
        if self._engine is None or self._key != key:
            self._close()
            self._transport = Transport(server_url, ca_file=ca_file)
            self._engine = SyncEngine(self._database_path, self._transport)
            self._key = key
        assert self._engine is not None
        return self._engine

    def _close(self) -> None:
        if self._reader is not None:
            self._reader.dispose()
            self._reader = None
        if self._engine is not None:
            self._engine.close()
        if self._transport is not None:
            self._transport.close()
        self._engine = self._transport = None
        self._key = None

    def _emit_progress(self, progress: SyncProgress) -> None:
        total = progress.total if progress.total is not None else -1
        self.progress_reported.emit(progress.phase, progress.done, total)

    # --- slots (worker thread) ----------------------------------------------------------

    @Slot()
    def run_sync(self) -> None:
        """One round with the profile's server and token."""
        settings = self._profile.settings()
        server, username = settings.get("server_url"), settings.get("username")
        if not server or not username:
            self.sync_failed.emit(SIGNED_OUT, "Not signed in to head office")
            return
        try:
            token = self._tokens.get(username)
        except KeyringUnavailable as exc:
            self.sync_failed.emit(KEYRING, str(exc))
            return
        if token is None:
            self.sync_failed.emit(SIGNED_OUT, "Signed out — sign in to sync")
            return
        engine = self._connect(server, settings.get("ca_file"))
        assert self._transport is not None
        self._transport.token = token
        self._cancel.clear()
        self.sync_started.emit()
        report: SyncReport | None = None
        try:
            report = engine.sync(progress=self._emit_progress, cancel=self._cancel)
        except NetworkError as exc:
            self.sync_failed.emit(OFFLINE, str(exc))
        except LocalDataWiped as exc:
            self._tokens.delete(username)
            self.sync_failed.emit(WIPED, str(exc))
        except UpdateRequired as exc:
            self.sync_failed.emit(UPDATE_REQUIRED, exc.explain())
        except AuthenticationError as exc:
            self._tokens.delete(username)
            self.sync_failed.emit(SIGNED_OUT, f"Sign in again ({exc.message})")
        except ServerBusy as exc:
            self.sync_failed.emit(BUSY, f"Head office is busy; will retry ({exc.message})")
        except SyncCancelled as exc:
            self.sync_failed.emit(CANCELLED, str(exc))
        except KeyringUnavailable as exc:
            self.sync_failed.emit(KEYRING, str(exc))
        except (ServerError, SyncError) as exc:
            self.sync_failed.emit(ERROR, str(exc))
        except Exception as exc:
            # Unexpected: log the traceback and tell the UI, never leave it spinning.
            log.exception("sync failed")
            self.sync_failed.emit(ERROR, f"Sync failed: {exc}")
        if report is not None:
            self.sync_finished.emit(report)
        self.count_pending()

    @Slot()
    def count_pending(self) -> None:
        """Emit how much waits in the outbox."""
        if self._reader is None:
            self._reader = create_sqlite_engine(self._database_path)
        with self._reader.connect() as connection:
            mutations, records = outbox.pending(connection)
        self.pending_counted.emit(mutations, records)

    @Slot(str, str, str, str)
    def sign_in(self, server_url: str, username: str, password: str, ca_file: str) -> None:
        """Log in, keep the token in the keyring and remember server and user in the settings."""
        server_url = server_url.strip().rstrip("/")
        try:
            engine = self._connect(server_url, ca_file or None)
            response = engine.sign_in(
                server_url=server_url,
                username=username,
                password=password,
                device_name=socket.gethostname()[:200],
            )
            self._tokens.set(username, response.token)
        except AuthenticationError as exc:
            self.sign_in_failed.emit(f"Wrong user name or password ({exc.message})")
            return
        except NetworkError as exc:
            self.sign_in_failed.emit(f"Cannot reach {server_url}: {exc}")
            return
        except UpdateRequired as exc:
            self.sign_in_failed.emit(exc.explain())
            return
        except (ServerError, ProfileMismatch, KeyringUnavailable) as exc:
            self.sign_in_failed.emit(str(exc))
            return
        settings = self._profile.settings()
        settings.set("server_url", server_url)
        settings.set("username", username)
        settings.set("ca_file", ca_file or None)
        settings.current_user_id = response.user_id
        settings.save()
        self.signed_in.emit(SignedIn(server_url, response.username, str(response.user_id)))

    @Slot()
    def sign_out(self) -> None:
        """Tell the server (when reachable) and forget the token; local data stays."""
        settings = self._profile.settings()
        server, username = settings.get("server_url"), settings.get("username")
        if server and username:
            try:
                token = self._tokens.get(username)
                if token is not None:
                    self._connect(server, settings.get("ca_file"))
                    assert self._transport is not None
                    self._transport.token = token
                    try:
                        self._transport.logout()
                    except (NetworkError, ServerError) as exc:
                        # Signing out must work offline too; the token is forgotten here anyway.
                        log.info("server not told about the sign-out: %s", exc)
                    self._tokens.delete(username)
            except KeyringUnavailable as exc:
                self.sync_failed.emit(ERROR, str(exc))
                return
        self.signed_out.emit()

    @Slot()
    def probe(self) -> None:
        """Ask the server for its version: the cheapest "are we online?" question."""
        settings = self._profile.settings()
        server = settings.get("server_url")
        if not server:
            self.probe_finished.emit(False)
            return
        self._connect(server, settings.get("ca_file"))
        assert self._transport is not None
        try:
            self._transport.version()
        except (NetworkError, ServerError) as exc:
            log.debug("probe failed: %s", exc)
            self.probe_finished.emit(False)
            return
        self.probe_finished.emit(True)

    @Slot()
    def shutdown(self) -> None:
        """Close connections (called once the worker thread has ended)."""
        self._close()


class SyncThread(QObject):
    """Owns the worker thread; the UI's handle on sync. Call its methods from the UI thread.

    Signals:
        sync_requested(), sign_in_requested(str, str, str, str), sign_out_requested(),
        probe_requested(), pending_requested(): internal, queued to the worker.
    """

    sync_requested = Signal()
    sign_in_requested = Signal(str, str, str, str)
    sign_out_requested = Signal()
    probe_requested = Signal()
    pending_requested = Signal()

    def __init__(self, profile: Profile, database_path: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._cancel = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName("crm-sync")
        self.worker = SyncWorker(profile, database_path, self._cancel)
        self.worker.moveToThread(self._thread)
        self.sync_requested.connect(self.worker.run_sync)
        self.sign_in_requested.connect(self.worker.sign_in)
        self.sign_out_requested.connect(self.worker.sign_out)
        self.probe_requested.connect(self.worker.probe)
        self.pending_requested.connect(self.worker.count_pending)
        self._thread.start()

    def request_sync(self) -> None:
        """Queue one round."""
        self.sync_requested.emit()

    def request_sign_in(self, server_url: str, username: str, password: str, ca_file: str) -> None:
        """Queue a sign-in (the password lives only in this queued call)."""
        self.sign_in_requested.emit(server_url, username, password, ca_file)

    def request_sign_out(self) -> None:
        """Queue a sign-out."""
        self.sign_out_requested.emit()

    def request_probe(self) -> None:
        """Queue a connectivity probe."""
        self.probe_requested.emit()

    def request_pending(self) -> None:
        """Queue a count of the outbox."""
        self.pending_requested.emit()

    def cancel(self) -> None:
        """Stop a running round at the next page boundary (thread-safe, immediate)."""
        self._cancel.set()

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Cancel, end the thread, then close the worker's connections; returns whether it ended.

        The running round stops at its next page boundary; work still queued is dropped.
        """
        self._cancel.set()
        self._thread.quit()
        ended = bool(self._thread.wait(timeout_ms))
        if ended:
            # The thread is gone, so touching the worker from here cannot race with it.
            self.worker.shutdown()
        return ended

    def is_running(self) -> bool:
        """Whether the worker thread is alive."""
        return bool(self._thread.isRunning())


__all__: list[Any] = ["SignedIn", "SyncThread", "SyncWorker"]
