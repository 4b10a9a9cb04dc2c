"""Where a profile's files live.

A profile is one folder holding one SQLite store (plus its backups and settings). The default
profile lives in the user's data directory (platformdirs); ``--profile DIR`` picks another, so
two salespeople, or a test, can each have their own on one machine.
"""

from __future__ import annotations

import configparser
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "FieldCRM"
APP_AUTHOR = "FieldCRM"
#: Environment variable that overrides the default profile directory (tests, scripted use).
PROFILE_ENV = "CRM_PROFILE"


@dataclass(frozen=True)
class Profile:
    """The files of one profile. Building one touches nothing on disk; :meth:`ensure` does."""

    directory: Path

    @property
    def database_path(self) -> Path:
        """The SQLite store."""
        return self.directory / "crm.sqlite3"

    @property
    def backup_directory(self) -> Path:
        """Copies of the store taken before each schema upgrade."""
        return self.directory / "backups"

    @property
    def settings_path(self) -> Path:
        """Per-profile settings shared by the CLI and the app (see :class:`Settings`)."""
        return self.directory / "settings.ini"

    @property
    def ui_state_path(self) -> Path:
        """Window geometry and column layouts, written by Qt's QSettings (INI format)."""
        return self.directory / "ui-state.ini"

    def settings(self) -> Settings:
        """Load this profile's settings (missing file: defaults)."""
        return Settings.load(self.settings_path)

    def ensure(self) -> Profile:
        """Create the profile folder if needed and return self."""
        self.directory.mkdir(parents=True, exist_ok=True)
        return self


def default_profile_dir() -> Path:
    """The default profile folder: ``$CRM_PROFILE`` if set, else the platform's user data dir."""
    env = os.environ.get(PROFILE_ENV)
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_data_dir(APP_NAME, APP_AUTHOR)) / "default"


def resolve_profile(directory: str | os.PathLike[str] | None) -> Profile:
    """Return the profile for an explicit ``--profile`` folder, or the default one."""
    path = Path(directory).expanduser() if directory else default_profile_dir()
    return Profile(path.resolve())


class Settings:
    """Profile settings in a small INI file, readable without Qt (the CLI uses them too).

    Known keys (section ``crm``): ``current_user_id`` (the local user this profile works as),
    ``server_url``, ``username``, ``company_name``, ``company_logo``, ``ca_file``,
    ``quote_discount_approval_threshold``.
    """

    SECTION = "crm"

    def __init__(self, path: Path, parser: configparser.ConfigParser) -> None:
        self.path = path
        self._parser = parser
        if not parser.has_section(self.SECTION):
            parser.add_section(self.SECTION)

    @classmethod
    def load(cls, path: Path) -> Settings:
        """Read ``path`` if it exists."""
        parser = configparser.ConfigParser(interpolation=None)
        if path.exists():
            parser.read(path, encoding="utf-8")
        return cls(path, parser)

    def get(self, key: str, default: str | None = None) -> str | None:
        """The value of ``key``, or ``default``."""
        return self._parser.get(self.SECTION, key, fallback=default)

    def set(self, key: str, value: str | None) -> None:
        """Set (or with ``None`` remove) ``key``; call :meth:`save` to write."""
        if value is None:
            self._parser.remove_option(self.SECTION, key)
        else:
            self._parser.set(self.SECTION, key, value)

    def save(self) -> None:
        """Write the file atomically (temp file + rename), so a crash never leaves half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            self._parser.write(handle)
        os.replace(tmp, self.path)

    @property
    def current_user_id(self) -> uuid.UUID | None:
        """The user this profile works as (set by demo data, sign-in or first run)."""
        value = self.get("current_user_id")
        return uuid.UUID(value) if value else None

    @current_user_id.setter
    def current_user_id(self, value: uuid.UUID | None) -> None:
        self.set("current_user_id", str(value) if value else None)
