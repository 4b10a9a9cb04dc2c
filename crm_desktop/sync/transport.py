"""HTTP transport of the sync protocol (``requests``), and the errors the engine reacts to.

One :class:`Transport` per server and device token; it keeps one ``requests.Session`` so the
TCP (and TLS) connection is reused between calls, which is most of a no-op sync's cost.
Certificates are always verified: against the system store, or against ``ca_file`` when the
profile names one (a company CA). There is deliberately no way to turn verification off.

Every ``/v1`` call sends the protocol and schema version headers (principle 8). Answers that are
not 2xx become a :class:`ServerError` subclass carrying the protocol's error ``code``; a network
failure (refused, reset, timed out, a TLS failure) becomes :class:`NetworkError`, which means
"offline, try later" and never that anything was or was not applied.

Threading: a Transport is used by one thread at a time (the sync worker, or a CLI command).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from crm_desktop.sync.protocol import (
    PROTOCOL_HEADER,
    PROTOCOL_VERSION,
    SCHEMA_HEADER,
    ConflictPage,
    ErrorResponse,
    LoginRequest,
    LoginResponse,
    PullRequest,
    PullResponse,
    PushResponse,
    VersionInfo,
    schema_fingerprint,
)

#: The response header of ``/v1/snapshot`` that carries the cursor to pull from afterwards.
SNAPSHOT_CURSOR_HEADER = "X-CRM-Cursor"
#: (connect, read) timeouts in seconds: connect fails fast when offline; a big page may take a while.
DEFAULT_TIMEOUT = (5.0, 120.0)


class TransportError(Exception):
    """Any failure talking to the server."""


class NetworkError(TransportError):
    """The server could not be reached or the connection broke: offline, retry later."""


class ServerError(TransportError):
    """The server answered with an error status; ``code`` is the protocol's error code."""

    def __init__(self, status: int, code: str, message: str, body: ErrorResponse | None) -> None:
        super().__init__(f"{message} ({status} {code})")
        self.status = status
        self.code = code
        self.message = message
        self.body = body
        self.retry_after: float | None = None
        #: The schema fingerprint the request carried.
        self.sent_schema = schema_fingerprint()


class AuthenticationError(ServerError):
    """401: no valid token (unauthenticated, token_expired) or wrong password (bad_credentials)."""


class DeviceRevoked(ServerError):
    """401 device_revoked or account_disabled: local data must be wiped."""


class UpdateRequired(ServerError):
    """426/409 update_required: client and server speak different protocol or schema versions."""

    def explain(self) -> str:
        """Which side needs updating, in words for the user."""
        body = self.body
        if body is not None and body.server_protocol is not None:
            if body.server_protocol > PROTOCOL_VERSION:
                return (
                    f"Update required: the server speaks sync protocol {body.server_protocol}, "
                    f"this app {PROTOCOL_VERSION}. Install the current version of Field CRM."
                )
            if body.server_protocol < PROTOCOL_VERSION:
                return (
                    f"Update required: this app speaks sync protocol {PROTOCOL_VERSION}, the "
                    f"server only {body.server_protocol}. Ask head office to update the server."
                )
        if body is not None and body.server_schema and body.server_schema != self.sent_schema:
            return (
                "Update required: this app and the server have different record layouts "
                f"(app {self.sent_schema}, server {body.server_schema}). Install the version "
                "of Field CRM that matches your head office."
            )
        return f"Update required: {self.message}"


class ServerBusy(ServerError):
    """503 busy: nothing was applied; retry the same request later (``retry_after`` seconds)."""


class ResyncRequired(ServerError):
    """410 resync_required: the cursor is older than the server's tombstone horizon."""


class RequestRejected(ServerError):
    """422/413 and other client errors: the request itself is wrong; retrying it as is won't help."""


_BY_CODE: dict[str, type[ServerError]] = {
    "unauthenticated": AuthenticationError,
    "token_expired": AuthenticationError,
    "bad_credentials": AuthenticationError,
    "device_revoked": DeviceRevoked,
    "account_disabled": DeviceRevoked,
    "update_required": UpdateRequired,
    "busy": ServerBusy,
    "resync_required": ResyncRequired,
}


def _error_from(response: requests.Response) -> ServerError:
    body: ErrorResponse | None = None
    try:
        body = ErrorResponse.model_validate_json(response.content)
        code, message = body.code, body.message
    except ValueError:
        code = {401: "unauthenticated", 503: "busy", 426: "update_required"}.get(
            response.status_code, "http_error"
        )
        message = response.text[:300] or response.reason or "error"
    cls = _BY_CODE.get(code)
    if cls is None:
        if response.status_code in (502, 503, 504):
            cls = ServerBusy  # a gateway or an overloaded server: nothing applied, retry later
        elif response.status_code >= 500:
            cls = ServerError  # a server fault: retrying at once would not help
        else:
            cls = RequestRejected
    error = cls(response.status_code, code, message, body)
    retry = response.headers.get("Retry-After")
    if retry:
        try:
            error.retry_after = float(retry)
        except ValueError:
            error.retry_after = None
    return error


class Transport:
    """Calls of the sync protocol against one server (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        ca_file: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._http = requests.Session()
        # Verification is always on; a CA file narrows it to the company CA. Passed with every
        # request, because requests lets REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE override a
        # session-level setting.
        self._verify: str | bool = ca_file if ca_file else True
        self._http.headers.update(
            {
                PROTOCOL_HEADER: str(PROTOCOL_VERSION),
                SCHEMA_HEADER: schema_fingerprint(),
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
        )

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    @contextmanager
    def _exchange(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        params: dict[str, Any] | None = None,
        stream: bool = False,
        passthrough: tuple[int, ...] = (),
    ) -> Iterator[requests.Response]:
        """One request: network failures become :class:`NetworkError` (also while a streamed
        body is read), error answers the protocol's :class:`ServerError` (but the statuses in
        ``passthrough``, which the caller handles)."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            with self._http.request(
                method,
                self.base_url + path,
                data=body,
                params=params or None,
                headers=headers,
                timeout=self.timeout,
                verify=self._verify,
                stream=stream,
            ) as response:
                if response.status_code >= 400 and response.status_code not in passthrough:
                    error = _error_from(response)
                    error.sent_schema = str(response.request.headers.get(SCHEMA_HEADER, ""))
                    raise error
                yield response
        except requests.exceptions.SSLError as exc:
            raise NetworkError(f"secure connection to {self.base_url} failed: {exc}") from exc
        except requests.exceptions.RequestException as exc:
            raise NetworkError(f"cannot reach {self.base_url}: {exc}") from exc

    def _call(self, method: str, path: str, *, body: bytes | None = None, **params: Any) -> bytes:
        with self._exchange(method, path, body=body, params=params) as response:
            return response.content

    # --- calls --------------------------------------------------------------------------

    def version(self) -> VersionInfo:
        """``GET /v1/version`` (no token needed): also the connectivity probe."""
        return VersionInfo.model_validate_json(self._call("GET", "/v1/version"))

    def login(
        self, *, username: str, password: str, device_id: Any, device_name: str
    ) -> LoginResponse:
        """``POST /v1/login``; on success the transport uses the new token from then on."""
        request = LoginRequest(
            username=username, password=password, device_id=device_id, device_name=device_name
        )
        raw = self._call("POST", "/v1/login", body=request.model_dump_json().encode())
        response = LoginResponse.model_validate_json(raw)
        self.token = response.token
        return response

    def logout(self) -> None:
        """``POST /v1/logout``: the server forgets this device's token."""
        self._call("POST", "/v1/logout", body=b"{}")

    def push(self, body: bytes) -> PushResponse:
        """``POST /v1/push`` with an already encoded :class:`~.protocol.PushRequest` body."""
        return PushResponse.model_validate_json(self._call("POST", "/v1/push", body=body))

    def pull(self, cursor: int, limit: int) -> PullResponse:
        """``POST /v1/pull``: the next page after ``cursor``."""
        body = PullRequest(cursor=cursor, limit=limit).model_dump_json().encode()
        return PullResponse.model_validate_json(self._call("POST", "/v1/pull", body=body))

    def snapshot(
        self, destination: Path, progress: Callable[[int, int | None], None] | None = None
    ) -> int | None:
        """``POST /v1/snapshot``: stream the first-sync snapshot into ``destination``.

        Returns the pull cursor the snapshot was taken at, or None when the server has no
        snapshot endpoint (an older server: pull page by page instead). ``progress`` gets the
        bytes received so far and the size when the server sent one. The body never sits in
        memory as a whole.
        """
        with self._exchange(
            "POST", "/v1/snapshot", body=b"{}", stream=True, passthrough=(404, 405)
        ) as response:
            if response.status_code in (404, 405):
                return None
            try:
                cursor = int(response.headers[SNAPSHOT_CURSOR_HEADER])
            except (KeyError, ValueError) as exc:
                raise NetworkError(
                    f"the server sent a snapshot without a valid cursor: {exc}"
                ) from exc
            size = response.headers.get("Content-Length")
            total = int(size) if size and size.isdigit() else None
            received = 0
            with destination.open("wb") as out:
                for chunk in response.iter_content(chunk_size=1 << 20):
                    out.write(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(received, total)
            return cursor

    def conflicts(self, after: int, limit: int = 500) -> ConflictPage:
        """``GET /v1/conflicts``: conflict-log entries involving this device after ``after``."""
        raw = self._call("GET", "/v1/conflicts", after=after, limit=limit)
        return ConflictPage.model_validate_json(raw)


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as sent in request bodies."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
