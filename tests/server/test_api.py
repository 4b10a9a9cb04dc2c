"""HTTP contract: version handshake, authentication and revocation, bad input."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import Engine, func, select

from crm_desktop.models import new_id
from crm_desktop.sync.protocol import PROTOCOL_VERSION
from crm_server import admin
from crm_server.app import create_app
from crm_server.db import device, sync_record

from .conftest import HEADERS, PASSWORD, SyncClient, TestClient, make_settings


def _login(client: TestClient, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    body = {"username": username, "password": password, "device_id": str(uuid.uuid4()), **extra}
    return client.post("/v1/login", json=body, headers=HEADERS)


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_version_and_update_required(client: TestClient, people: dict[str, uuid.UUID]) -> None:
    info = client.get("/v1/version").json()
    assert info["protocol"] == PROTOCOL_VERSION == 2
    assert info["schema_version"] == HEADERS["X-CRM-Schema"]
    ann = SyncClient(client, "ann")
    # "1": a client from before `taken` and revivals would misread the answers
    for protocol in (None, "0", "1", "3", "abc"):
        headers = {k: v for k, v in ann.headers.items() if k != "X-CRM-Protocol"}
        if protocol is not None:
            headers["X-CRM-Protocol"] = protocol
        answer = client.post("/v1/pull", json={"cursor": 0}, headers=headers)
        assert answer.status_code == 426
        assert answer.json()["code"] == "update_required"
        assert answer.json()["server_protocol"] == PROTOCOL_VERSION
    stale = client.post(
        "/v1/pull", json={"cursor": 0}, headers={**ann.headers, "X-CRM-Schema": "0123456789abcdef"}
    )
    assert stale.status_code == 409 and stale.json()["code"] == "update_required"
    assert "schema" in stale.json()["message"]


def test_openapi_is_published(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert {"/v1/login", "/v1/push", "/v1/pull", "/v1/version", "/v1/conflicts"} <= set(
        document["paths"]
    )


def test_login_tokens_and_revocation(
    client: TestClient, engine: Engine, people: dict[str, uuid.UUID]
) -> None:
    assert _login(client, "ann", "wrong").json()["code"] == "bad_credentials"
    assert _login(client, "nobody").status_code == 401
    ann = SyncClient(client, "ann")
    with engine.connect() as conn:
        stored = conn.execute(select(device.c.token_hash)).scalars().all()
    token = ann.headers["Authorization"].split()[1]
    assert token not in stored and all(len(h) == 64 for h in stored)  # only hashes kept
    assert client.post("/v1/pull", json={}, headers=ann.headers).status_code == 200

    no_token = {k: v for k, v in ann.headers.items() if k != "Authorization"}
    answer = client.post("/v1/pull", json={}, headers=no_token)
    assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"
    answer = client.post("/v1/pull", json={}, headers={**no_token, "Authorization": "Bearer junk"})
    assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"

    bob = SyncClient(client, "bob")
    assert admin.revoke_devices(engine, device_id=ann.device_id) == 1
    answer = client.post("/v1/pull", json={}, headers=ann.headers)
    assert answer.status_code == 401 and answer.json()["code"] == "device_revoked"
    assert client.post("/v1/pull", json={}, headers=bob.headers).status_code == 200
    # a revoked device id cannot sign in again: it must wipe and start as a new device
    again = _login(client, "ann", device_id=str(ann.device_id))
    assert again.status_code == 409 and again.json()["code"] == "device_conflict"

    assert client.post("/v1/logout", headers=bob.headers).status_code == 204
    assert client.post("/v1/pull", json={}, headers=bob.headers).json()["code"] == "unauthenticated"


def test_relogin_keeps_the_mutation_counter(
    client: TestClient, people: dict[str, uuid.UUID]
) -> None:
    ann = SyncClient(client, "ann")
    ann.push(
        ann.mutation(
            {"t": "account", "id": new_id().hex, "f": {"name": "A", "owner_id": str(ann.user_id)}}
        )
    )
    again = client.post(
        "/v1/login",
        json={"username": "ann", "password": PASSWORD, "device_id": str(ann.device_id)},
        headers=HEADERS,
    ).json()
    assert again["last_mutation"] == 1


def test_expired_token(settings: Any, people: dict[str, uuid.UUID]) -> None:
    expired = make_settings(settings.database_url, token_ttl_days=-1)
    with TestClient(create_app(expired)) as client:
        token = _login(client, "ann").json()["token"]
        answer = client.post(
            "/v1/pull", json={}, headers={**HEADERS, "Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 401 and answer.json()["code"] == "token_expired"


def test_failed_logins_are_slowed_down(client: TestClient, people: dict[str, uuid.UUID]) -> None:
    codes = [_login(client, "bob", "guess").json()["code"] for _ in range(6)]
    assert codes[:5] == ["bad_credentials"] * 5
    # the 6th failure was recorded; now even the right password has to wait
    blocked = _login(client, "bob")
    assert blocked.status_code == 429 and blocked.json()["code"] == "too_many_attempts"
    assert int(blocked.headers["Retry-After"]) >= 1
    assert _login(client, "ann").status_code == 200  # other users are not affected


def test_bad_input_is_a_4xx_naming_the_problem(
    client: TestClient, engine: Engine, people: dict[str, uuid.UUID]
) -> None:
    ann = SyncClient(client, "ann")
    before = _count(engine, sync_record)

    def post(body: Any) -> Any:
        return client.post("/v1/push", headers=ann.headers, json=body)

    answer = client.post(
        "/v1/push",
        content=b'{"clock": ',
        headers={**ann.headers, "Content-Type": "application/json"},
    )
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_request"

    stamp = ann.stamp()
    good_change = {
        "t": "account",
        "id": new_id().hex,
        "f": {"name": "x", "owner_id": str(ann.user_id)},
    }
    cases = {
        "mutations": {"clock": stamp, "mutations": "many"},
        "spaceship": {
            "clock": stamp,
            "mutations": [
                {"n": 1, "h": stamp, "c": [{"t": "spaceship", "id": new_id().hex, "d": True}]}
            ],
        },
        "clock": {"clock": "yesterday", "mutations": [{"n": 1, "h": stamp, "c": [good_change]}]},
        "n": {"clock": stamp, "mutations": [{"n": -1, "h": stamp, "c": [good_change]}]},
        "Extra inputs": {
            "clock": stamp,
            "mutations": [{"n": 1, "h": stamp, "c": [good_change], "x": 1}],
        },
    }
    for needle, body in cases.items():
        answer = post(body)
        assert answer.status_code == 422, (needle, answer.text)
        assert needle in json.dumps(answer.json()), (needle, answer.text)

    oversized = {
        "clock": stamp,
        "mutations": [{"n": i + 1, "h": stamp, "c": [good_change]} for i in range(1001)],
    }
    assert post(oversized).status_code == 422
    huge = {
        "clock": stamp,
        "mutations": [
            {"n": 1, "h": stamp, "c": [{**good_change, "f": {"notes": "x" * 9_000_000}}]}
        ],
    }
    answer = post(huge)
    assert answer.status_code == 413 and answer.json()["code"] == "payload_too_large"
    assert _count(engine, sync_record) == before

    # per-operation refusals: the mutation is rejected with a reason, the queue moves on
    other = str(people["carl"])
    refused = [
        ann.mutation(
            {
                "t": "account",
                "id": new_id().hex,
                "f": {"name": "x", "owner_id": str(ann.user_id), "colour": "red"},
            }
        ),
        ann.mutation(
            {
                "t": "account",
                "id": new_id().hex,
                "f": {"name": "x" * 301, "owner_id": str(ann.user_id)},
            }
        ),
        ann.mutation(
            {
                "t": "account",
                "id": new_id().hex,
                "f": {"name": "x", "owner_id": str(ann.user_id), "credit_limit": "12.3.4"},
            }
        ),
        ann.mutation({"t": "account", "id": new_id().hex, "f": {"owner_id": str(ann.user_id)}}),
        ann.mutation({"t": "account", "id": new_id().hex, "f": {"name": "x", "owner_id": other}}),
        ann.mutation({"t": "product", "id": new_id().hex, "f": {"code": "P1", "name": "Widget"}}),
        ann.mutation({"t": "account", "id": new_id().hex, "f": {"name": "x", "deleted": True}}),
        ann.mutation(
            {
                "t": "opportunity",
                "id": new_id().hex,
                "f": {"name": "o", "account_id": str(new_id()), "stage_id": str(new_id())},
            }
        ),
        ann.mutation(good_change),
    ]
    results = ann.push(*refused)
    assert [(r["status"], r["code"]) for r in results] == [
        ("rejected", "unknown_field"),
        ("rejected", "invalid_value"),
        ("rejected", "invalid_value"),
        ("rejected", "missing_field"),
        ("rejected", "out_of_scope"),
        ("rejected", "out_of_scope"),
        ("rejected", "read_only_field"),
        ("rejected", "integrity"),
        ("applied", None),
    ]
    assert "colour" in results[0]["reason"] and "name" in results[1]["reason"]
    assert "credit_limit" in results[2]["reason"] and "name" in results[3]["reason"]
    assert _count(engine, sync_record) == before + 1
    # Numbers of rejected mutations are consumed: resending one (its answer was lost) writes
    # nothing and answers the same rejection again, so the laptop still undoes it.
    again = ann.push(refused[2])
    assert [(r["status"], r["code"]) for r in again] == [("rejected", "invalid_value")]
    assert again[0]["reason"] == results[2]["reason"]
    assert _count(engine, sync_record) == before + 1


def test_unknown_route_and_method(client: TestClient) -> None:
    assert client.get("/v2/pull").json()["code"] == "not_found"
    assert client.get("/v1/push").json()["code"] == "method_not_allowed"
