"""Head-office administration: users, the manager hierarchy, reassignment, device revocation.

Every change to synced records goes through :class:`crm_server.sync.Batch` with an admin actor
and the ``server`` clock node, exactly like a device's push: the records get new sequence
numbers, scopes cascade to dependents, and users who lose sight of a record get a removal at
their next pull. Each command is one transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, select, update

from crm_desktop.models import Base, new_id
from crm_desktop.models.enums import LeadStatus, Role
from crm_desktop.sync.clock import Hlc, wall_clock_ms
from crm_desktop.sync.protocol import MAX_CHANGES_PER_MUTATION, Change, Mutation, Scalar
from crm_server.auth import make_hasher, set_password
from crm_server.db import device, write_transaction
from crm_server.scopes import Actor, Hierarchy
from crm_server.settings import Settings
from crm_server.sync import SERVER_NODE, Batch, publish_pending, read_cursor

#: The actor of admin commands: sees and writes everything; not a row in the user table.
ADMIN_USER_ID = uuid.UUID(int=0)

users = Base.metadata.tables["user"]
accounts = Base.metadata.tables["account"]
contacts = Base.metadata.tables["contact"]
leads = Base.metadata.tables["lead"]
opportunities = Base.metadata.tables["opportunity"]
stages = Base.metadata.tables["sales_stage"]


class AdminError(Exception):
    """An admin command that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class ReassignResult:
    """How many records of each kind moved to the new owner."""

    accounts: int
    contacts: int
    opportunities: int
    leads: int


def _user_id(connection: Connection, username: str) -> uuid.UUID:
    found = connection.execute(
        select(users.c.id).where(users.c.username == username, users.c.deleted.is_(False))
    ).scalar()
    if found is None:
        raise AdminError(f"no user named {username!r}")
    return uuid.UUID(str(found))


def _server_batch(connection: Connection, hierarchy: Hierarchy | None = None) -> Batch:
    actor = Actor(
        ADMIN_USER_ID, lambda: Hierarchy.load(connection), admin=True, hierarchy=hierarchy
    )
    return Batch(connection, actor, node=SERVER_NODE)


def _publish(engine: Engine) -> None:
    """Number what the command just committed, so devices see it at their next pull."""
    with write_transaction(engine) as connection:
        publish_pending(connection)


@contextmanager
def _publishing(engine: Engine) -> Iterator[Connection]:
    """The command's write transaction, then a publishing pass whether it committed or not.

    A failed command may have held sync rows locked while another writer committed an edit of
    them; that writer's own pass skipped the locked rows, so someone must number them once the
    lock is gone (the same rule as pushes, ``SyncService.publish_after_commit``).
    """
    try:
        with write_transaction(engine) as connection:
            yield connection
    finally:
        _publish(engine)


def _apply(connection: Connection, batch: Batch, changes: list[Change]) -> None:
    """Apply server-made changes in mutations of at most the protocol's size."""
    base = read_cursor(connection)
    stamp = Hlc(wall_clock_ms(), 0).compact()
    for start in range(0, len(changes), MAX_CHANGES_PER_MUTATION):
        mutation = Mutation(n=1, h=stamp, c=changes[start : start + MAX_CHANGES_PER_MUTATION])
        result = batch.apply(mutation, base)
        if result.status == "rejected":
            raise AdminError(result.reason or result.code or "refused")


def create_user(
    engine: Engine,
    settings: Settings,
    *,
    username: str,
    role: str,
    password: str,
    manager: str | None = None,
    full_name: str = "",
    email: str | None = None,
) -> uuid.UUID:
    """Create a user with a password; returns the new user's id."""
    if role not in {r.value for r in Role}:
        raise AdminError(f"role must be one of rep, manager, admin (got {role!r})")
    if not password:
        raise AdminError("the password may not be empty")
    hasher = make_hasher(settings)
    with _publishing(engine) as connection:
        taken = connection.execute(select(users.c.id).where(users.c.username == username)).first()
        if taken is not None:
            raise AdminError(f"a user named {username!r} already exists")
        manager_id = _user_id(connection, manager) if manager else None
        user_id = new_id()
        fields: dict[str, Any] = {
            "username": username,
            "role": role,
            "full_name": full_name or username,
            "manager_id": str(manager_id) if manager_id else None,
        }
        if email:
            fields["email"] = email
        batch = _server_batch(connection)
        _apply(connection, batch, [Change(t="user", id=user_id, f=fields)])
        set_password(connection, hasher, user_id, password)
        batch.finish()
    return user_id


def set_password_for(engine: Engine, settings: Settings, *, username: str, password: str) -> None:
    """Replace a user's password."""
    if not password:
        raise AdminError("the password may not be empty")
    with write_transaction(engine) as connection:
        set_password(connection, make_hasher(settings), _user_id(connection, username), password)


def set_manager(engine: Engine, *, username: str, manager: str | None) -> None:
    """Move a user under another manager (or none).

    The user's whole subtree moves with them: their old managers lose those records at the
    next pull, the new ones receive them.
    """
    with _publishing(engine) as connection:
        before = Hierarchy.load(connection)
        user_id = _user_id(connection, username)
        manager_id = _user_id(connection, manager) if manager else None
        if manager_id == user_id or before.would_cycle(user_id, manager_id):
            raise AdminError(f"{manager!r} reports to {username!r}; that would make a loop")
        batch = _server_batch(connection, before)
        change = Change(
            t="user", id=user_id, f={"manager_id": str(manager_id) if manager_id else None}
        )
        _apply(connection, batch, [change])
        # finish() renumbers the records of the moved subtree and sends removals.
        batch.finish()


def reassign(engine: Engine, *, from_user: str, to_user: str) -> ReassignResult:
    """Hand a (departed) rep's accounts, contacts, open leads and open opportunities to another.

    Everything hanging off the accounts (contacts links, quotes, activities, closed
    opportunities...) follows the accounts' scope; the old owner's devices get removals.
    """
    with _publishing(engine) as connection:
        source = _user_id(connection, from_user)
        target = _user_id(connection, to_user)
        if source == target:
            raise AdminError("--from and --to name the same user")
        active = connection.execute(select(users.c.active).where(users.c.id == target)).scalar()
        if not active:
            raise AdminError(f"{to_user!r} is not an active user")

        def owned(table: Any, *conditions: Any) -> list[uuid.UUID]:
            query = select(table.c.id).where(
                table.c.owner_id == source, table.c.deleted.is_(False), *conditions
            )
            return [uuid.UUID(str(i)) for i in connection.execute(query).scalars()]

        account_ids = owned(accounts)
        contact_ids = owned(contacts)
        lead_ids = owned(
            leads, leads.c.status.not_in([LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED])
        )
        open_stage = select(stages.c.id).where(
            and_(stages.c.is_closed.is_(False), stages.c.id == opportunities.c.stage_id)
        )
        opportunity_ids = owned(opportunities, open_stage.exists())
        owner: dict[str, Scalar] = {"owner_id": str(target)}

        def changes(entity: Any, ids: Iterable[uuid.UUID]) -> list[Change]:
            return [Change(t=entity, id=record_id, f=owner) for record_id in ids]

        batch = _server_batch(connection)
        all_changes = (
            changes("account", account_ids)
            + changes("contact", contact_ids)
            + changes("lead", lead_ids)
            + changes("opportunity", opportunity_ids)
        )
        if all_changes:
            _apply(connection, batch, all_changes)
        batch.finish()
    return ReassignResult(len(account_ids), len(contact_ids), len(opportunity_ids), len(lead_ids))


def revoke_devices(
    engine: Engine, *, device_id: uuid.UUID | None = None, username: str | None = None
) -> int:
    """Revoke one device, or every device of a user; returns how many were revoked.

    A revoked device is told ``device_revoked`` at its next contact and wipes its data.
    """
    if (device_id is None) == (username is None):
        raise AdminError("name either a device id or a user")
    with write_transaction(engine) as connection:
        query = update(device).where(device.c.revoked_at.is_(None))
        if device_id is not None:
            query = query.where(device.c.id == device_id)
        else:
            assert username is not None
            query = query.where(device.c.user_id == _user_id(connection, username))
        count = connection.execute(query.values(revoked_at=datetime.now(UTC))).rowcount
    if device_id is not None and not count:
        raise AdminError(f"no active device {device_id}")
    return int(count)


def list_devices(engine: Engine, *, username: str | None = None) -> list[dict[str, Any]]:
    """Devices with their owner, last contact and state, newest first."""
    with engine.connect() as connection:
        query = (
            select(
                device.c.id,
                users.c.username,
                device.c.name,
                device.c.created_at,
                device.c.last_seen_at,
                device.c.revoked_at,
                device.c.last_mutation,
                device.c.token_hash.is_not(None).label("signed_in"),
            )
            .join(users, users.c.id == device.c.user_id)
            .order_by(device.c.created_at.desc())
        )
        if username:
            query = query.where(users.c.username == username)
        return [dict(row._mapping) for row in connection.execute(query)]
