"""The device token in the OS keyring, one keyring entry per profile (DESIGN.md, principle 9).

The token is the only secret sync keeps, and it goes to the OS keyring (Keychain, Windows
Credential Locker, Secret Service/KWallet) through ``keyring``, never to a file. The service name
is ``"FieldCRM:" + a hash of the profile folder``, so two profiles on one machine (two users, or a
test) never see each other's token. The password is never stored anywhere.

Where no usable backend exists (a headless Linux box without a Secret Service: keyring then
picks its ``fail`` backend, or a chainer with nothing in it), :class:`KeyringUnavailable` is
raised with the way out: choose a backend with ``PYTHON_KEYRING_BACKEND`` or keyring's
``keyringrc.cfg``. There is deliberately no fallback to a plain file.
"""

from __future__ import annotations

import hashlib

import keyring
import keyring.errors
from keyring.backend import KeyringBackend
from keyring.backends import chainer, fail

from crm_desktop.config import Profile

SERVICE_PREFIX = "FieldCRM:"


class KeyringUnavailable(RuntimeError):
    """No OS keyring to keep the device token in; the message says how to configure one."""


def service_name(profile: Profile) -> str:
    """The keyring service of ``profile`` (stable for the folder, distinct between folders)."""
    digest = hashlib.sha256(str(profile.directory.resolve()).encode()).hexdigest()[:16]
    return SERVICE_PREFIX + digest


def _config_path() -> str:
    try:
        from keyring.util import platform_

        return str(platform_.config_root()) + "/keyringrc.cfg"
    except (ImportError, AttributeError):  # pragma: no cover - keyring layout changed
        return "keyringrc.cfg in keyring's configuration folder"


def usable_backend() -> KeyringBackend:
    """The active keyring backend, or :class:`KeyringUnavailable` if it cannot keep secrets."""
    backend = keyring.get_keyring()
    empty_chain = isinstance(backend, chainer.ChainerBackend) and not backend.backends
    if isinstance(backend, fail.Keyring) or empty_chain:
        raise KeyringUnavailable(
            "No OS keyring is available to keep the sign-in token (Field CRM never stores it in "
            "a plain file). Install and unlock a keyring service (GNOME Keyring, KWallet, "
            "macOS Keychain, Windows Credential Locker), or choose a keyring backend with the "
            "PYTHON_KEYRING_BACKEND environment variable or in " + _config_path() + "."
        )
    return backend


class TokenStore:
    """The device token of one profile (see the module docstring).

    Threading: keyring backends are called from whichever thread asks; calls are short.
    """

    def __init__(self, profile: Profile) -> None:
        self.service = service_name(profile)

    def get(self, username: str) -> str | None:
        """The stored token for ``username``, or ``None`` (signed out)."""
        backend = usable_backend()
        try:
            return backend.get_password(self.service, username)
        except keyring.errors.KeyringError as exc:
            raise KeyringUnavailable(
                f"cannot read the sign-in token from the keyring: {exc}"
            ) from exc

    def set(self, username: str, token: str) -> None:
        """Keep ``token`` for ``username`` (replacing any older one)."""
        backend = usable_backend()
        try:
            backend.set_password(self.service, username, token)
        except keyring.errors.KeyringError as exc:
            raise KeyringUnavailable(
                f"cannot save the sign-in token in the keyring: {exc}"
            ) from exc

    def delete(self, username: str) -> bool:
        """Forget the token (sign-out); returns whether there was one."""
        backend = usable_backend()
        try:
            backend.delete_password(self.service, username)
        except keyring.errors.PasswordDeleteError:
            return False
        return True
