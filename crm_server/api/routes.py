"""The ``/v1`` endpoints: version, login/logout, push, pull, the first-sync snapshot and the
device's conflict log.

Handlers are plain ``def``: they run in the worker's thread pool because the database work
is synchronous SQLAlchemy.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import FileResponse, Response
from sqlalchemy import func, or_, select
from starlette.background import BackgroundTask

from crm_desktop.sync.protocol import (
    MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    Conflict,
    ConflictEntry,
    ConflictPage,
    ErrorResponse,
    LoginRequest,
    LoginResponse,
    PullRequest,
    PullResponse,
    PushRequest,
    PushResponse,
    VersionInfo,
)
from crm_server import __version__
from crm_server.api.deps import (
    DeviceDep,
    ServicesDep,
    TokenDep,
    require_protocol,
    require_schema,
)
from crm_server.db import conflict_log, read_transaction

_ERR = {"model": ErrorResponse}
_COMMON: dict[int | str, dict[str, Any]] = {
    413: _ERR,
    422: _ERR,
    426: _ERR,
    500: _ERR,
}
_AUTHED: dict[int | str, dict[str, Any]] = {**_COMMON, 401: _ERR, 409: _ERR, 503: _ERR}

router = APIRouter(prefix="/v1")


@router.get("/version", response_model=VersionInfo, tags=["handshake"])
def version(services: ServicesDep) -> VersionInfo:
    """What protocol and schema this server speaks (no authentication)."""
    return VersionInfo(
        protocol=PROTOCOL_VERSION,
        min_protocol=MIN_PROTOCOL_VERSION,
        schema_version=services.schema_version,
        server=f"field-crm-server {__version__}",
    )


@router.post(
    "/login",
    response_model=LoginResponse,
    responses={**_COMMON, 401: _ERR, 409: _ERR, 429: _ERR},
    dependencies=[Depends(require_protocol)],
    tags=["auth"],
)
def login(body: LoginRequest, services: ServicesDep) -> LoginResponse:
    """Exchange user name and password for a token bound to ``device_id``."""
    return services.auth.login(body)


@router.post(
    "/logout",
    status_code=204,
    responses={**_COMMON, 401: _ERR},
    dependencies=[Depends(require_protocol)],
    tags=["auth"],
)
def logout(services: ServicesDep, auth: DeviceDep) -> Response:
    """Forget this device's token (no wipe; sign in again to continue)."""
    services.auth.logout(auth)
    return Response(status_code=204)


@router.post(
    "/push",
    response_model=None,
    responses={**_AUTHED, 200: {"model": PushResponse}},
    dependencies=[Depends(require_schema)],
    tags=["sync"],
)
def push(body: PushRequest, services: ServicesDep, token: TokenDep) -> Response:
    """Apply a batch of mutations; one result per mutation, in order."""
    result = services.sync.push(token=token, request=body)
    # Serialised directly: the result is already a validated PushResponse, and letting
    # FastAPI re-validate it through the response model cost a tenth of a push's CPU.
    return Response(result.model_dump_json(), media_type="application/json")


@router.post(
    "/pull",
    response_model=None,
    responses={**_AUTHED, 200: {"model": PullResponse}},
    dependencies=[Depends(require_schema)],
    tags=["sync"],
)
def pull(body: PullRequest, services: ServicesDep, token: TokenDep) -> Response:
    """The next page of changes visible to the caller after ``cursor``."""
    page = services.sync.pull(token=token, request=body)
    # Built by hand: a page can hold thousands of rows and re-validating it through the
    # response model would cost more than producing it.
    return Response(
        json.dumps(page, ensure_ascii=False, separators=(",", ":")),
        media_type="application/json",
    )


SNAPSHOT_MEDIA_TYPE = "application/vnd.sqlite3"
CURSOR_HEADER = "X-CRM-Cursor"
RECORDS_HEADER = "X-CRM-Records"


@router.post(
    "/snapshot",
    response_model=None,
    responses={
        **_AUTHED,
        200: {
            "content": {SNAPSHOT_MEDIA_TYPE: {}},
            "description": "A SQLite database holding the caller's scope (see the protocol's"
            " 'Snapshot' section); the pull cursor to continue from is in X-CRM-Cursor.",
        },
    },
    dependencies=[Depends(require_schema)],
    tags=["sync"],
)
def first_sync_snapshot(services: ServicesDep, token: TokenDep) -> FileResponse:
    """Everything a pull from cursor 0 would send, as one SQLite file (first syncs)."""
    built = services.snapshots.build(token)
    return FileResponse(
        built.path,
        media_type=SNAPSHOT_MEDIA_TYPE,
        headers={CURSOR_HEADER: str(built.cursor), RECORDS_HEADER: str(built.records)},
        # The file is a per-request temporary: gone once sent (or the send failed), and only
        # then is its build slot free again (the disk holds at most that many copies).
        background=BackgroundTask(services.snapshots.finished, built),
    )


@router.get(
    "/conflicts",
    response_model=ConflictPage,
    responses=_AUTHED,
    dependencies=[Depends(require_schema)],
    tags=["sync"],
)
def conflicts(
    services: ServicesDep,
    auth: DeviceDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> ConflictPage:
    """Conflict-log entries involving this device, oldest first, after entry ``after``: those
    from its own pushes and those where another device's push met a value this device wrote
    (``device_id`` then names the other device)."""
    with read_transaction(services.sync.engine) as connection:
        rows = connection.execute(
            select(conflict_log)
            .where(
                conflict_log.c.id > after,
                or_(
                    conflict_log.c.device_id == auth.device_id,
                    # ...or the overruled/overwritten value was this device's (the stamp's
                    # node, after its 11-character time part, is the device id).
                    func.substr(conflict_log.c.server_stamp, 12) == auth.device_id.hex,
                ),
            )
            .order_by(conflict_log.c.id)
            .limit(limit)
        ).all()
    entries = [
        ConflictEntry(
            id=row.id,
            created_at_ms=int(row.created_at.timestamp() * 1000),
            device_id=row.device_id,
            mutation=row.mutation,
            conflict=Conflict(
                t=row.entity,
                id=row.record_id,
                field=row.field,
                rule=row.rule,
                winner=row.winner,
                local=json.loads(row.local) if row.local else None,
                server=json.loads(row.server) if row.server else None,
                value=json.loads(row.value) if row.value else None,
                base=json.loads(row.base) if row.base else None,
                base_known=row.base_known,
                server_stamp=row.server_stamp,
            ),
        )
        for row in rows
    ]
    return ConflictPage(
        entries=entries,
        next_after=entries[-1].id if entries else after,
        has_more=len(entries) == limit,
    )
