"""Fixtures of the sync tests: a real server process on loopback, real client profiles, and an
in-memory keyring backend.

One server process (one worker) serves the whole session on its own SQLite database; each test
makes its own users (unique names), so tests stay independent without paying a server start
each. :class:`Device` is one client profile: a migrated store, a transport and the engine.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from server.conftest import PASSWORD, ServerProcess, make_settings
from sqlalchemy import Engine, select

from crm_desktop.config import Profile
from crm_desktop.models import ENTITIES, Account
from crm_desktop.store import Store, open_store
from crm_desktop.sync.engine import SyncEngine, SyncReport
from crm_desktop.sync.transport import Transport
from crm_server import admin
from crm_server.db import make_engine
from crm_server.migrate import upgrade
from crm_server.settings import Settings

_names = itertools.count(1)


class MemoryKeyring(KeyringBackend):
    """A real keyring backend that keeps secrets in a dict (tests only)."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.secrets.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.secrets[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if self.secrets.pop((service, username), None) is None:
            raise PasswordDeleteError("no such secret")


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Every sync test runs against a fresh in-memory keyring."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture(scope="session")
def server_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    path = tmp_path_factory.mktemp("server") / "server.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    return make_settings(url)


@pytest.fixture(scope="session")
def server(server_settings: Settings) -> Iterator[ServerProcess]:
    """The real ``crm-server serve`` process on a free loopback port (one worker)."""
    process = ServerProcess(server_settings, workers=1)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def server_db(server_settings: Settings) -> Iterator[Engine]:
    """The server's database, for admin commands and checks."""
    engine = make_engine(server_settings.database_url, pool_size=1, pool_overflow=2)
    yield engine
    engine.dispose()


class Company:
    """Users made for one test: a manager with reps, all with unique names."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        tag = next(_names)
        self.names: dict[str, str] = {}
        self.ids: dict[str, uuid.UUID] = {}
        self.add("mia", role="manager")
        for rep in ("ann", "bob"):
            self.add(rep, role="rep", manager="mia")
        self.add("carl", role="rep")
        self.tag = tag

    def add(self, short: str, *, role: str, manager: str | None = None) -> None:
        name = f"{short}{uuid.uuid4().hex[:8]}"
        self.names[short] = name
        self.ids[short] = admin.create_user(
            self.engine,
            self.settings,
            username=name,
            role=role,
            password=PASSWORD,
            manager=self.names[manager] if manager else None,
        )


@pytest.fixture
def company(server: ServerProcess, server_db: Engine, server_settings: Settings) -> Company:
    return Company(server_db, server_settings)


class Device:
    """One client profile signed in to the test server."""

    def __init__(self, directory: Path, server_url: str, username: str) -> None:
        self.profile = Profile(directory).ensure()
        self.store: Store = open_store(self.profile.database_path)
        self.server_url = server_url
        self.username = username
        self.transport = Transport(server_url)
        self.engine = SyncEngine(self.store.path, self.transport)
        response = self.engine.sign_in(
            server_url=server_url, username=username, password=PASSWORD, device_name="test"
        )
        self.user_id = response.user_id
        # Users come with the first pull; records reference them (foreign keys are on locally).
        self.engine.sync()

    def sync(self) -> SyncReport:
        return self.engine.sync()

    def add_account(self, name: str, **fields: Any) -> uuid.UUID:
        with self.store.sessions.begin() as session:
            account = Account(name=name, owner_id=fields.pop("owner_id", self.user_id), **fields)
            session.add(account)
            session.flush()
            return account.id

    def edit(self, entity: str, record_id: uuid.UUID, **fields: Any) -> None:
        with self.store.sessions.begin() as session:
            record = session.get(ENTITIES[entity], record_id)
            assert record is not None
            for name, value in fields.items():
                setattr(record, name, value)

    def delete(self, entity: str, record_id: uuid.UUID) -> None:
        self.edit(entity, record_id, deleted=True)

    def get(self, entity: str, record_id: uuid.UUID) -> Any:
        with self.store.sessions() as session:
            return session.get(ENTITIES[entity], record_id)

    def ids(self, entity: str, *, include_deleted: bool = False) -> set[uuid.UUID]:
        model: Any = ENTITIES[entity]
        query = select(model.id)
        if not include_deleted:
            query = query.where(model.deleted.is_(False))
        with self.store.sessions() as session:
            return set(session.scalars(query))

    def close(self) -> None:
        self.engine.close()
        self.transport.close()
        self.store.dispose()


@pytest.fixture
def devices(tmp_path: Path, server: ServerProcess) -> Iterator[Any]:
    """``devices(username)`` makes a new signed-in client profile; all closed at the end."""
    made: list[Device] = []

    def make(username: str) -> Device:
        device = Device(tmp_path / f"profile{len(made)}", server.url, username)
        made.append(device)
        return device

    yield make
    for device in made:
        device.close()
