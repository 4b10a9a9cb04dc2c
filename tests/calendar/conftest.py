"""Fixtures for the calendar tests: a session on the real store and a small sales team."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from calendar_helpers import Team, make_team
from sqlalchemy.orm import Session

from crm_desktop.store import Store


@pytest.fixture
def session(store: Store) -> Iterator[Session]:
    """A session whose transaction the test owns (committed at the end), as a UI task's would."""
    with store.sessions.begin() as s:
        yield s


@pytest.fixture
def team(session: Session) -> Team:
    """A small team in the test's session."""
    return make_team(session)
