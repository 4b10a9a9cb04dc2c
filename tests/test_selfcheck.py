"""``--self-check`` as CI runs it on the packaged build: a separate process, exit code 0."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from crm_desktop.config import Profile
from crm_desktop.store import open_store
from crm_desktop.store.migrate import current_revision, head_revision


def test_self_check_passes_in_a_fresh_process() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "crm_desktop", "--self-check"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("self-check: ok")


def test_start_up_skips_alembic_only_when_the_store_is_at_head(profile: Profile) -> None:
    from crm_desktop.app import schema_is_current

    assert not schema_is_current(profile.database_path)  # no store yet
    open_store(profile.database_path).dispose()
    assert current_revision(profile.database_path) == head_revision()
    assert schema_is_current(profile.database_path)
    with sqlite3.connect(profile.database_path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0001'")
    assert not schema_is_current(profile.database_path)


def test_cold_start_does_not_import_alembic_for_a_current_store(profile: Profile) -> None:
    open_store(profile.database_path).dispose()
    code = (
        "import sys; from pathlib import Path; from crm_desktop.app import schema_is_current;"
        f" assert schema_is_current(Path({str(profile.database_path)!r}));"
        " print('alembic' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_app_survives_a_binding_that_drops_references_to_none() -> None:
    # 30,000 model resets: on PySide6 6.12 with Python 3.11 this aborts the interpreter
    # ("deallocating None") unless the app's shield is up; on a sound binding it is a no-op.
    code = (
        "from PySide6.QtCore import QStringListModel;"
        "from crm_desktop.app import shield_binding_refcounts;"
        "shield_binding_refcounts(); m = QStringListModel();"
        "[(m.beginResetModel(), m.endResetModel()) for _ in range(30000)];"
        "print('survived')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "survived"
