"""Where a profile's files live.

A profile is one folder holding one SQLite store (plus its backups and settings). The default
profile lives in the user's data directory (platformdirs); ``--profile DIR`` picks another, so
two salespeople, or a test, can each have their own on one machine.
"""

from __future__ import annotations

import os
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
        """Per-profile settings (window layout, server URL) in INI form."""
        return self.directory / "settings.ini"

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
