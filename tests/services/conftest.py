"""Fixtures for the service tests: a session in an open transaction on the real store, and
small builders for the records most rules need."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session

from crm_desktop.models import Account, Opportunity, SalesStage, User
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


class Builder:
    """Makes the plain records a rule needs, with sensible defaults, flushed to the store."""

    def __init__(self, session: Session, stages: dict[str, SalesStage]) -> None:
        self.session = session
        self.stages = stages

    def user(self, username: str = "rep") -> User:
        user = User(username=username, full_name=username.title())
        self.session.add(user)
        self.session.flush()
        return user

    def account(self, name: str = "Acme Ltd", **fields: Any) -> Account:
        account = Account(name=name, **fields)
        self.session.add(account)
        self.session.flush()
        return account

    def opportunity(
        self,
        *,
        stage: str = "Prospecting",
        amount: str = "1000.00",
        currency: str = "EUR",
        account: Account | None = None,
        **fields: Any,
    ) -> Opportunity:
        account = account or self.account()
        st = self.stages[stage]
        opp = Opportunity(
            name=fields.pop("name", "Deal"),
            account_id=account.id,
            stage_id=st.id,
            probability=fields.pop("probability", st.probability),
            amount=Decimal(amount),
            currency=currency,
            **fields,
        )
        self.session.add(opp)
        self.session.flush()
        return opp


@pytest.fixture
def make(session: Session, stages: dict[str, SalesStage]) -> Builder:
    """A :class:`Builder` on the test's session, with the default stages in place."""
    return Builder(session, stages)
