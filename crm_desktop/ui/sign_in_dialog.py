"""Sign-in dialog: server URL, user name, password, and optionally the company's CA file.

The dialog hands the details to :class:`~crm_desktop.ui.sync_status.SyncStatusController`,
which signs in on the sync worker (never blocking the UI thread) and keeps the device token in
the OS keyring. The password is cleared from the field as soon as it is sent and stored nowhere.
Plain ``http://`` is refused except to this machine (loopback), so a token never crosses a
network unencrypted; ``https://`` certificates are always verified, against the CA file if given.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from crm_desktop.config import Settings
from crm_desktop.sync.worker import SignedIn
from crm_desktop.ui.sync_status import SyncStatusController

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def check_server_url(url: str) -> str | None:
    """Why ``url`` cannot be used as the server address, or ``None`` if it can."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "Enter the server address, e.g. https://crm.example.com"
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        return "Use https:// — the sign-in must not travel unencrypted"
    return None


class SignInDialog(QDialog):
    """Asks for server, user and password and signs in through the sync controller.

    Accepted once signed in; a failure is shown in the dialog, which stays open to try again.
    """

    def __init__(
        self,
        controller: SyncStatusController,
        settings: Settings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Sign in to head office")
        self.setObjectName("signInDialog")
        # Wide enough for a full server address and the CA hint without eliding them.
        self.setMinimumWidth(460)
        self._controller = controller
        intro = QLabel(
            "Sign in with the account head office gave you. Your password is not stored; "
            "this computer keeps a sign-in token in the system keyring.",
            self,
        )
        intro.setWordWrap(True)
        self.server_edit = QLineEdit(settings.get("server_url") or "", self)
        self.server_edit.setObjectName("serverUrl")
        self.server_edit.setPlaceholderText("https://crm.example.com")
        self.user_edit = QLineEdit(settings.get("username") or "", self)
        self.user_edit.setObjectName("userName")
        self.password_edit = QLineEdit(self)
        self.password_edit.setObjectName("password")
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.ca_edit = QLineEdit(settings.get("ca_file") or "", self)
        self.ca_edit.setObjectName("caFile")
        self.ca_edit.setPlaceholderText("Optional: company CA certificate (.pem)")
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self.on_browse_clicked)
        ca_row = QHBoxLayout()
        ca_row.addWidget(self.ca_edit, 1)
        ca_row.addWidget(browse)
        form = QFormLayout()
        form.addRow("Server", self.server_edit)
        form.addRow("User name", self.user_edit)
        form.addRow("Password", self.password_edit)
        form.addRow("CA file", ca_row)
        self.message = QLabel("", self)
        self.message.setObjectName("signInMessage")
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel, self
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Sign in")
        self.buttons.accepted.connect(self.on_buttons_accepted)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(self.message)
        layout.addWidget(self.buttons)
        controller.signed_in.connect(self.on_controller_signed_in)
        controller.sign_in_failed.connect(self.on_controller_sign_in_failed)
        (self.password_edit if self.user_edit.text() else self.server_edit).setFocus()

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.server_edit, self.user_edit, self.password_edit, self.ca_edit):
            widget.setEnabled(not busy)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not busy)

    def on_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "CA certificate", "", "Certificates (*.pem *.crt);;All files (*)"
        )
        if path:
            self.ca_edit.setText(path)

    def on_buttons_accepted(self) -> None:
        url = self.server_edit.text().strip()
        problem = check_server_url(url)
        if problem is None and not self.user_edit.text().strip():
            problem = "Enter your user name"
        if problem is None and not self.password_edit.text():
            problem = "Enter your password"
        if problem is not None:
            self.message.setText(problem)
            return
        password = self.password_edit.text()
        # The password leaves the widget now and is kept nowhere (the worker drops it after use).
        self.password_edit.clear()
        self.message.setText("Signing in…")
        self._set_busy(True)
        self._controller.sign_in(
            url, self.user_edit.text().strip(), password, self.ca_edit.text().strip()
        )

    def on_controller_signed_in(self, _who: SignedIn) -> None:
        self._set_busy(False)
        self.accept()

    def on_controller_sign_in_failed(self, message: str) -> None:
        self._set_busy(False)
        self.message.setText(message)
        self.password_edit.setFocus()
