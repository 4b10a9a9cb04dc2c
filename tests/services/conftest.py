"""Fixtures for the service tests: a session in an open transaction on the real store, and
small builders for the records most rules need."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from crm_desktop.models import SalesStage
from crm_desktop.services.pipeline import ensure_default_stages
from crm_desktop.store import Store


@pytest.fixture
def session(store: Store) -> Iterator[Session]:
    """A session whose transaction the test owns, as a view's task would; committed at the end
    so a test that forgets to flush still hits the database's constraints."""
    with store.sessions.begin() as s:
        yield s


@pytest.fixture
def stages(session: Session) -> dict[str, SalesStage]:
    """The default stages, by name."""
    return {s.name: s for s in ensure_default_stages(session=session)}
