"""The wire contract and the hybrid logical clock, without a server."""

from __future__ import annotations

import json
import typing
import warnings
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import create_engine

from crm_desktop.models import ENTITIES, new_id
from crm_desktop.sync.clock import ClockError, Hlc, HybridLogicalClock
from crm_desktop.sync.protocol import Change, EntityType, Mutation, PushRequest
from crm_server.db import ALL_METADATA


def test_entity_names_match_the_shared_models() -> None:
    assert set(typing.get_args(EntityType)) == set(ENTITIES)


def test_stamp_round_trip_and_order() -> None:
    stamps = [
        Hlc(1_795_000_000_000, 0, "b"),
        Hlc(1_795_000_000_000, 1, "a"),
        Hlc(1_795_000_000_001, 0, "a"),
    ]
    for stamp in stamps:
        assert Hlc.decode(stamp.encode()) == stamp
        assert len(stamp.compact()) == 11
    assert sorted(stamps) == stamps
    assert sorted(s.compact() for s in stamps) == [s.compact() for s in stamps]
    with pytest.raises(ClockError):
        Hlc.decode("not a stamp")


def test_clock_is_monotonic_when_physical_time_stalls_or_goes_back() -> None:
    now = [1_795_000_000_000]
    clock = HybridLogicalClock("dev", now_ms=lambda: now[0])
    first = clock.now()
    second = clock.now()
    now[0] -= 5000  # the wall clock is set back
    third = clock.now()
    assert first < second < third


def test_clock_absorbs_remote_stamps_and_refuses_absurd_ones() -> None:
    now = [1_795_000_000_000]
    clock = HybridLogicalClock("dev", now_ms=lambda: now[0])
    remote = Hlc(now[0] + 2000, 7, "other")
    after = clock.update(remote)
    assert after > remote and clock.now() > after
    with pytest.raises(ClockError):
        clock.update(Hlc(now[0] + 10 * 24 * 3600 * 1000, 0, "other"))


def test_one_field_edit_fits_in_120_bytes_inside_a_batch() -> None:
    clock = HybridLogicalClock(new_id().hex)
    mutation = Mutation(
        n=4711,
        h=clock.now().compact(),
        c=[Change(t="account", id=new_id(), f={"phone": "+1 555 0100"})],
    )
    wire = mutation.model_dump(mode="json", exclude_defaults=True)
    wire["c"][0]["id"] = wire["c"][0]["id"].replace("-", "")
    encoded = json.dumps(wire, separators=(",", ":")) + ","
    assert len(encoded.encode()) <= 120, encoded
    # and the server accepts exactly that form
    assert Mutation.model_validate_json(encoded[:-1]).c[0].f == {"phone": "+1 555 0100"}


def test_request_shape_rules() -> None:
    stamp = HybridLogicalClock("x").now().compact()
    with pytest.raises(ValidationError, match="at least one field"):
        Change(t="account", id=new_id())
    with pytest.raises(ValidationError, match="tombstone"):
        Change(t="account", id=new_id(), d=True, f={"name": "x"})
    with pytest.raises(ValidationError, match="increase"):
        PushRequest(
            clock=stamp,
            mutations=[
                Mutation(n=2, h=stamp, c=[Change(t="account", id=new_id(), d=True)]),
                Mutation(n=2, h=stamp, c=[Change(t="account", id=new_id(), d=True)]),
            ],
        )
    with pytest.raises(ValidationError):
        Change.model_validate({"t": "spaceship", "id": str(new_id()), "d": True})
    with pytest.raises(ValidationError):  # money never travels as a float
        Change.model_validate({"t": "opportunity", "id": str(new_id()), "f": {"amount": 1.5}})


def test_server_migrations_match_the_shared_models(sqlite_template: Path) -> None:
    """A model change that the server's migrations do not carry fails here, not in production."""
    engine = create_engine(f"sqlite:///{sqlite_template}")
    try:
        with engine.connect() as connection, warnings.catch_warnings():
            # SQLite cannot reflect expression indexes; alembic says so with a warning.
            warnings.filterwarnings("ignore", message=".*expression-based index.*")
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, list(ALL_METADATA)) == []
    finally:
        engine.dispose()
