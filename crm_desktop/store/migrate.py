"""Schema migrations of the local store, run automatically at start-up.

Before upgrading an existing file that is behind, a consistent copy is taken with SQLite's
online backup API (safe even with a WAL file beside it), so a failed or buggy upgrade can be
undone by hand.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from crm_desktop.store.db import create_sqlite_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_path: Path) -> Config:
    """An Alembic configuration for the store at ``database_path`` (no ini file needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{database_path}")
    return config


def head_revision() -> str:
    """The newest schema revision this build knows."""
    head = ScriptDirectory.from_config(alembic_config(Path("unused"))).get_current_head()
    assert head is not None
    return head


def current_revision(database_path: Path) -> str | None:
    """The schema revision of the file, or ``None`` for a new or empty file."""
    if not database_path.exists():
        return None
    engine = create_sqlite_engine(database_path)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def backup(database_path: Path, backup_dir: Path, label: str) -> Path:
    """Copy the store into ``backup_dir`` and return the copy's path."""
    backup_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = backup_dir / f"{database_path.stem}-{label}-{stamp}.sqlite3"
    source = sqlite3.connect(database_path)
    try:
        destination = sqlite3.connect(target)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
    return target


def upgrade(
    database_path: Path, *, revision: str = "head", backup_dir: Path | None = None
) -> Path | None:
    """Bring the file to ``revision``; returns the backup taken, if any.

    A file already at the wanted revision is left alone (no backup, no write).
    """
    database_path = Path(database_path)
    current = current_revision(database_path)
    target = head_revision() if revision == "head" else revision
    if current == target:
        return None
    copy = None
    if current is not None:
        copy = backup(database_path, backup_dir or database_path.parent / "backups", f"r{current}")
    database_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_sqlite_engine(database_path)
    try:
        with engine.begin() as connection:
            config = alembic_config(database_path)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()
    return copy
