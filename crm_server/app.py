"""Application factory: ``create_app(settings)`` builds one worker's app and its engine.

Stateless apart from the database: every worker (and every server instance behind a proxy)
builds its own engine from the same settings, and all coordination (sequence counter, device
mutation numbers, login throttle) happens in database transactions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_desktop.sync.protocol import MAX_BODY_BYTES, schema_fingerprint
from crm_server import __version__
from crm_server.api import router
from crm_server.api.deps import Services
from crm_server.api.errors import error_response, install_error_handlers
from crm_server.auth import AuthService
from crm_server.db import make_engine
from crm_server.migrate import current_revision, head_revision
from crm_server.settings import Settings
from crm_server.snapshot import SnapshotService
from crm_server.sync import SyncService


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, before any handler parses them.

    Checks Content-Length up front and also counts chunked bodies as they arrive, buffering
    at most ``limit`` bytes.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            try:
                too_big = int(length) > self.limit
            except ValueError:
                too_big = True
            if too_big:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # No length given (chunked): read it all first, up to the limit.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"request body over {self.limit} bytes; send smaller batches",
        )
        await response(scope, receive, send)


def create_app(settings: Settings | None = None) -> FastAPI:
    """One worker's application; fails fast if the database is not migrated to head."""
    settings = settings or Settings.from_env()
    engine = make_engine(
        settings.database_url, pool_size=settings.pool_size, pool_overflow=settings.pool_overflow
    )
    current, head = current_revision(engine), head_revision()
    if current != head:
        engine.dispose()
        raise RuntimeError(
            f"the server database is at schema revision {current or 'none'}, this build needs "
            f"{head}: run `crm-server init` first"
        )

    services = Services(
        auth=AuthService(engine, settings),
        sync=SyncService(engine, transient_retries=settings.transient_retries),
        snapshots=SnapshotService(
            engine, Path(settings.snapshot_dir), settings.snapshot_concurrency
        ),
        schema_version=schema_fingerprint(),
    )
    # Changes committed just before a crash may still be unnumbered: publish them now.
    services.sync.publish()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        yield
        engine.dispose()

    app = FastAPI(
        title="Field CRM head office",
        version=__version__,
        description="Sync API for Field CRM desktop clients (protocol in docs/sync-protocol.md).",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.engine = engine
    install_error_handlers(app)
    app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        return {"ok": True}

    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (each worker reads the environment itself)."""
    return create_app(Settings.from_env())
