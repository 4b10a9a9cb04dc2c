"""Fixtures of the quote tests: a session in an open transaction and the seeded quote world."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from crm_desktop.store import Store
from quotes.seed import seed_quote_world


@pytest.fixture
def session(store: Store) -> Iterator[Session]:
    """A session whose transaction the test owns (committed at the end, as a task would)."""
    with store.sessions.begin() as s:
        yield s


@pytest.fixture
def world(session: Session) -> dict[str, uuid.UUID]:
    """Users, a Chinese customer, an opportunity, products and price lists (see ``seed``)."""
    return seed_quote_world(session)
