"""Server settings, read from the environment (``DATABASE_URL`` and ``CRM_*``) by the CLI and workers.

Nothing here opens a connection: :func:`crm_server.app.create_app` builds the engine from a
:class:`Settings`, so importing the package never touches a database.
"""

from __future__ import annotations

import getpass
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///./crm_server.sqlite3"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc


def default_snapshot_dir() -> str:
    """A folder for first-sync snapshots in the system's temporary directory, one per system
    user (another user's server could neither write in it nor should clean it)."""
    try:
        owner = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        owner = str(os.getuid()) if hasattr(os, "getuid") else "server"
    return str(Path(tempfile.gettempdir()) / f"crm-server-snapshots-{owner}")


@dataclass(frozen=True)
class Settings:
    """Everything the server needs to run; one instance per process."""

    database_url: str = DEFAULT_DATABASE_URL
    #: Lifetime of a device token from login.
    token_ttl_days: int = 180
    #: argon2id cost (argon2-cffi defaults are the RFC 9106 low-memory profile).
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    #: Failed logins tolerated before each further attempt must wait 2^(n - free) seconds.
    login_free_failures: int = 5
    login_max_delay_s: int = 900
    #: Connection pool per worker process (PostgreSQL).
    pool_size: int = 10
    pool_overflow: int = 20
    #: Threads per worker running requests (they do the blocking database work). Few threads
    #: keep the GIL uncontended, so a thread holding the sequence-counter lock gets back to
    #: COMMIT quickly; waiting requests queue cheaply on the event loop instead.
    worker_threads: int = 8
    #: How often a push retries after a deadlock or serialization failure before answering 503.
    transient_retries: int = 5
    #: Where first-sync snapshots are built (one temporary file per request, deleted once
    #: sent); by default a folder in the system's temporary directory. Put it on a disk with
    #: room for a few copies of the largest user's scope.
    snapshot_dir: str = field(default_factory=lambda: default_snapshot_dir())
    #: Snapshots one worker builds at the same time (more wait, then get 503 busy).
    snapshot_concurrency: int = 2

    @classmethod
    def from_env(cls) -> Settings:
        """Settings from ``DATABASE_URL`` and ``CRM_*`` variables, defaults elsewhere."""
        return cls(
            database_url=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            token_ttl_days=_env_int("CRM_TOKEN_TTL_DAYS", cls.token_ttl_days),
            argon2_time_cost=_env_int("CRM_ARGON2_TIME_COST", cls.argon2_time_cost),
            argon2_memory_kib=_env_int("CRM_ARGON2_MEMORY_KIB", cls.argon2_memory_kib),
            argon2_parallelism=_env_int("CRM_ARGON2_PARALLELISM", cls.argon2_parallelism),
            login_free_failures=_env_int("CRM_LOGIN_FREE_FAILURES", cls.login_free_failures),
            login_max_delay_s=_env_int("CRM_LOGIN_MAX_DELAY_S", cls.login_max_delay_s),
            pool_size=_env_int("CRM_DB_POOL_SIZE", cls.pool_size),
            pool_overflow=_env_int("CRM_DB_POOL_OVERFLOW", cls.pool_overflow),
            worker_threads=_env_int("CRM_WORKER_THREADS", cls.worker_threads),
            snapshot_concurrency=_env_int("CRM_SNAPSHOT_CONCURRENCY", cls.snapshot_concurrency),
            snapshot_dir=os.environ.get("CRM_SNAPSHOT_DIR") or default_snapshot_dir(),
        )
