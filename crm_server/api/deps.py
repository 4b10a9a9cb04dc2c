"""Request dependencies: version handshake, authentication and the shared services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crm_desktop.sync.protocol import (
    MIN_PROTOCOL_VERSION,
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    SCHEMA_HEADER,
)
from crm_server.api.errors import ApiError
from crm_server.auth import AuthService, DeviceAuth
from crm_server.snapshot import SnapshotService
from crm_server.sync import SyncService


@dataclass
class Services:
    """What the routes need, built once per worker by ``create_app``."""

    auth: AuthService
    sync: SyncService
    snapshots: SnapshotService
    schema_version: str


# The cheap dependencies are async so FastAPI runs them on the event loop instead of handing
# each to the thread pool (a thread hop per dependency per request adds up under load).
async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def require_protocol(
    services: ServicesDep,
    protocol: Annotated[str | None, Header(alias=PROTOCOL_HEADER)] = None,
) -> int:
    """The client's protocol version; outside what the server speaks -> 426 update required."""
    try:
        version = int(protocol) if protocol is not None else None
    except ValueError:
        version = None
    if version is None or not MIN_PROTOCOL_VERSION <= version <= PROTOCOL_VERSION:
        sent = "no" if protocol is None else repr(protocol[:20])
        side = "the server" if version is not None and version > PROTOCOL_VERSION else "this app"
        raise ApiError(
            426,
            "update_required",
            f"update required: {sent} {PROTOCOL_HEADER} sent, the server speaks protocol "
            f"{MIN_PROTOCOL_VERSION}..{PROTOCOL_VERSION}; update {side}",
            headers={"Upgrade": f"field-crm-sync/{PROTOCOL_VERSION}"},
            server_protocol=PROTOCOL_VERSION,
            server_schema=services.schema_version,
        )
    return version


async def require_schema(
    services: ServicesDep,
    _protocol: Annotated[int, Depends(require_protocol)],
    schema: Annotated[str | None, Header(alias=SCHEMA_HEADER)] = None,
) -> None:
    """The client's entity schema must equal the server's -> else 409 update required."""
    if schema != services.schema_version:
        raise ApiError(
            409,
            "update_required",
            f"update required: the app's data schema ({(schema or 'none')[:40]}) differs from "
            f"the server's ({services.schema_version}); install the matching version",
            server_protocol=PROTOCOL_VERSION,
            server_schema=services.schema_version,
        )


_bearer = HTTPBearer(auto_error=False, description="Device token from /v1/login")


def require_device(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> DeviceAuth:
    """The authenticated device (401 with a precise code otherwise)."""
    return services.auth.authenticate(credentials.credentials if credentials else None)


DeviceDep = Annotated[DeviceAuth, Depends(require_device)]


async def bearer_token(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str | None:
    """The raw bearer token; push and pull check it inside their own transaction."""
    return credentials.credentials if credentials else None


TokenDep = Annotated[str | None, Depends(bearer_token)]
