"""People and access: password hashes, device tokens, login throttling, revocation.

* Passwords are hashed with argon2id (argon2-cffi); hashes made with older parameters are
  upgraded at the next successful login.
* A login returns a random 32-byte token bound to one device; the server stores only its
  SHA-256 (a fast hash is right here: the token has 256 bits of entropy, nothing to brute-force).
* Failed logins per user name are counted in the database, so the slow-down holds across
  worker processes and server instances. The argon2 check runs outside any write transaction,
  so a login never holds SQLite's write lock for the length of a hash.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, Engine, String, bindparam, delete, insert, select, update

from crm_desktop.models import Base
from crm_desktop.sync.clock import wall_clock_ms
from crm_desktop.sync.protocol import LoginRequest, LoginResponse
from crm_server.db import (
    credential,
    device,
    login_throttle,
    read_transaction,
    sync_counter,
    write_transaction,
)
from crm_server.settings import Settings

users = Base.metadata.tables["user"]


class AuthError(Exception):
    """An authentication failure with its HTTP status, stable code and message."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class DeviceAuth:
    """The authenticated caller of a request: which device, which user."""

    device_id: uuid.UUID
    user_id: uuid.UUID
    #: Admins see everything (the role is re-read on every request, never cached).
    admin: bool = False
    #: The device's highest applied mutation number when the token was checked.
    last_mutation: int = 0
    #: The sync sequence counter read by the same statement (``read_counter=True``), else 0.
    counter: int = 0


def hash_token(token: str) -> str:
    """The stored form of a device token."""
    return hashlib.sha256(token.encode()).hexdigest()


def make_hasher(settings: Settings) -> PasswordHasher:
    """The argon2id hasher configured by ``settings``."""
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def set_password(
    connection: Connection, hasher: PasswordHasher, user_id: uuid.UUID, password: str
) -> None:
    """Store (or replace) a user's password hash."""
    hashed = hasher.hash(password)
    now = datetime.now(UTC)
    updated = connection.execute(
        update(credential)
        .where(credential.c.user_id == user_id)
        .values(password_hash=hashed, changed_at=now)
    ).rowcount
    if not updated:
        connection.execute(
            insert(credential).values(user_id=user_id, password_hash=hashed, changed_at=now)
        )


class AuthService:
    """Login, logout and per-request token checks."""

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.hasher = make_hasher(settings)
        # Verified against when the user does not exist, so timing does not reveal names.
        self._dummy_hash = self.hasher.hash(secrets.token_hex(16))

    def _throttle_wait(self, failures: int, last_failure: datetime) -> int:
        over = failures - self.settings.login_free_failures
        if over < 0:
            return 0
        delay = min(2**over, self.settings.login_max_delay_s)
        remaining = (last_failure + timedelta(seconds=delay)) - datetime.now(UTC)
        return max(0, int(remaining.total_seconds() + 0.999))

    def login(self, request: LoginRequest) -> LoginResponse:
        """Check the password and issue a device token, or raise :class:`AuthError`."""
        username = request.username
        with read_transaction(self.engine) as connection:
            throttle = connection.execute(
                select(login_throttle).where(login_throttle.c.username == username)
            ).first()
            if throttle is not None:
                wait = self._throttle_wait(throttle.failures, throttle.last_failure_at)
                if wait:
                    raise AuthError(
                        429,
                        "too_many_attempts",
                        f"too many failed logins for {username!r}; try again in {wait} s",
                        retry_after=wait,
                    )
            user = connection.execute(
                select(
                    users.c.id, users.c.username, users.c.role, users.c.active, users.c.deleted
                ).where(users.c.username == username)
            ).first()
            stored = None
            if user is not None:
                stored = connection.execute(
                    select(credential.c.password_hash).where(credential.c.user_id == user.id)
                ).scalar()
        ok = self._verify(stored or self._dummy_hash, request.password) and stored is not None
        if not ok or user is None:
            self._record_failure(username)
            raise AuthError(401, "bad_credentials", "unknown user name or wrong password")
        if user.deleted or not user.active:
            raise AuthError(401, "account_disabled", f"the account {username!r} is disabled")
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        expires = now + timedelta(days=self.settings.token_ttl_days)
        with write_transaction(self.engine) as connection:
            connection.execute(delete(login_throttle).where(login_throttle.c.username == username))
            existing = connection.execute(
                select(device.c.user_id, device.c.revoked_at, device.c.last_mutation)
                .where(device.c.id == request.device_id)
                .with_for_update()
            ).first()
            if existing is not None and (
                existing.user_id != user.id or existing.revoked_at is not None
            ):
                raise AuthError(
                    409,
                    "device_conflict",
                    "this device id belongs to another user or was revoked; "
                    "wipe local data and sign in with a new device id",
                )
            values = {
                "token_hash": hash_token(token),
                "token_expires_at": expires,
                "name": request.device_name,
                "last_seen_at": now,
            }
            if existing is None:
                connection.execute(
                    insert(device).values(
                        id=request.device_id,
                        user_id=user.id,
                        created_at=now,
                        last_mutation=0,
                        clock_offset_ms=0,
                        **values,
                    )
                )
                last_mutation = 0
            else:
                connection.execute(
                    update(device).where(device.c.id == request.device_id).values(**values)
                )
                last_mutation = int(existing.last_mutation)
            if stored is not None and self.hasher.check_needs_rehash(stored):
                set_password(connection, self.hasher, user.id, request.password)
        role = getattr(user.role, "value", user.role)
        return LoginResponse(
            token=token,
            user_id=user.id,
            username=user.username,
            role=role,
            device_id=request.device_id,
            expires_at_ms=int(expires.timestamp() * 1000),
            server_time_ms=wall_clock_ms(),
            last_mutation=last_mutation,
        )

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self.hasher.verify(stored, password)
        except VerifyMismatchError:
            return False
        except (VerificationError, InvalidHashError):
            # A corrupt stored hash is a failed login, never a server error.
            return False

    def _record_failure(self, username: str) -> None:
        now = datetime.now(UTC)
        with write_transaction(self.engine) as connection:
            updated = connection.execute(
                update(login_throttle)
                .where(login_throttle.c.username == username)
                .values(failures=login_throttle.c.failures + 1, last_failure_at=now)
            ).rowcount
            if not updated:
                connection.execute(
                    insert(login_throttle).values(
                        username=username, failures=1, last_failure_at=now
                    )
                )

    def authenticate(self, token: str | None) -> DeviceAuth:
        """The device and user behind a bearer token, or :class:`AuthError` (401)."""
        if not token:
            raise AuthError(401, "unauthenticated", "missing bearer token (Authorization header)")
        # One autocommit statement: no BEGIN/ROLLBACK round trips.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            return authenticate_on(connection, token)

    def logout(self, auth: DeviceAuth) -> None:
        """Forget the device's token (the device keeps its data and mutation counter)."""
        with write_transaction(self.engine) as connection:
            connection.execute(
                update(device)
                .where(device.c.id == auth.device_id)
                .values(token_hash=None, token_expires_at=None)
            )


@functools.cache
def _token_query(*, lock: bool, read_counter: bool) -> Any:
    """The token check, built once per variant (constructing it per request cost CPU on
    every push and pull); the token's hash is the bound parameter ``token_hash``."""
    columns: list[Any] = [
        device.c.id,
        device.c.user_id,
        device.c.revoked_at,
        device.c.token_expires_at,
        device.c.last_mutation,
        users.c.active,
        users.c.deleted,
        users.c.role,
    ]
    if read_counter:
        counter = select(sync_counter.c.value).where(sync_counter.c.name == "seq")
        columns.append(counter.scalar_subquery().label("counter"))
    query = (
        select(*columns)
        .join(users, users.c.id == device.c.user_id)
        .where(device.c.token_hash == bindparam("token_hash", type_=String))
    )
    if lock:
        query = query.with_for_update(of=device)
    return query


def authenticate_on(
    connection: Connection, token: str | None, *, lock: bool = False, read_counter: bool = False
) -> DeviceAuth:
    """Check a bearer token inside the caller's transaction (one statement).

    Push and pull call this as the first statement of their own transaction, which saves a
    connection checkout and a round trip per request; with ``lock`` the device row is locked
    too (push: serialises a device's concurrent retries) and its last mutation number read.
    With ``read_counter`` the same statement also reads the sync sequence counter (pull: the
    first statement of its snapshot must read the counter, and one round trip fewer matters
    under load).
    """
    if not token:
        raise AuthError(401, "unauthenticated", "missing bearer token (Authorization header)")
    query = _token_query(lock=lock, read_counter=read_counter)
    row = connection.execute(query, {"token_hash": hash_token(token)}).first()
    if row is None:
        raise AuthError(401, "unauthenticated", "unknown or signed-out device token")
    if row.revoked_at is not None:
        raise AuthError(
            401, "device_revoked", "this device was revoked by head office; wipe local data"
        )
    if row.deleted or not row.active:
        raise AuthError(401, "account_disabled", "this user account is disabled")
    if row.token_expires_at is not None and row.token_expires_at < datetime.now(UTC):
        raise AuthError(401, "token_expired", "the device token expired; sign in again")
    role = getattr(row.role, "value", row.role)
    return DeviceAuth(
        device_id=row.id,
        user_id=row.user_id,
        admin=role == "admin",
        last_mutation=int(row.last_mutation),
        counter=int(row.counter) if read_counter else 0,
    )
