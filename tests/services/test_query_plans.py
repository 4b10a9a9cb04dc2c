"""The hot lookups search an index instead of scanning their table (EXPLAIN QUERY PLAN).

Each test runs a service call, captures the SQL it sent, and asks SQLite for the plan of each
statement with the same parameters. "SCAN <table>" without an index means reading every row:
fine on a test store, seconds on a 3M-record one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_desktop.models import Activity, Contact
from crm_desktop.models.enums import ActivityKind
from crm_desktop.services import activities, leads, quotes

from .conftest import Builder

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def plans(session: Session, table: str, run: Callable[[], object]) -> list[str]:
    """The query plan of every statement reading ``table`` that ``run`` executes."""
    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if f"FROM {table}" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert seen, f"no query on {table} was run"
    connection = session.connection()
    return [
        "\n".join(row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params))
        for sql, params in seen
    ]


def test_reminder_queries_use_the_partial_reminder_index(session: Session, make: Builder) -> None:
    rep = make.user()
    activities.create_activity(
        session=session,
        kind=ActivityKind.CALL,
        subject="Call back",
        owner_id=rep.id,
        start_at=NOW,
        reminder_at=NOW - timedelta(minutes=10),
    )
    found = plans(
        session,
        "activity",
        lambda: (
            activities.reminders_due(session=session, user_id=rep.id, now=NOW),
            activities.reminders_due(session=session, user_id=None, now=NOW),
            activities.next_reminder_at(session=session, user_id=rep.id),
        ),
    )
    assert len(found) == 3
    for plan in found:
        assert "SCAN activity" not in plan, plan
        assert "ix_activity_reminder_at" in plan, plan


def test_contact_lookup_by_email_uses_the_expression_index(session: Session, make: Builder) -> None:
    session.add(Contact(first_name="Ana", full_name="Ana", email=" Ana.Lima@Example.COM "))
    session.flush()
    found: list[Contact | None] = []
    (plan,) = plans(
        session,
        "contact",
        lambda: found.append(
            leads.find_contact_by_email(session=session, email="ana.lima@example.com ")
        ),
    )
    assert found[0] is not None and found[0].full_name == "Ana"
    assert "SCAN contact" not in plan, plan
    assert "ix_contact_email_lower" in plan, plan


def test_expire_quotes_searches_current_open_quotes(session: Session, make: Builder) -> None:
    (plan,) = plans(
        session, "quote", lambda: quotes.expire_quotes(session=session, today=date(2026, 5, 4))
    )
    assert "SCAN quote" not in plan, plan
    assert "ix_quote_current_status_valid" in plan, plan


def test_pipeline_summary_groups_on_the_stage_currency_index(
    session: Session, make: Builder
) -> None:
    from crm_desktop.services import pipeline

    make.opportunity()
    (plan,) = plans(session, "opportunity", lambda: pipeline.pipeline_summary(session=session))
    # A summary reads every open row, but in index order: no temporary B-tree to group by.
    assert "ix_opportunity_stage_currency" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_partial_reminder_index_is_in_the_schema(session: Session) -> None:
    sql = (
        session.connection()
        .exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = 'ix_activity_reminder_at'")
        .scalar()
    )
    assert sql is not None and "WHERE" in sql
    declared = {index.name for index in Activity.metadata.tables["activity"].indexes}
    assert "ix_activity_reminder_at" in declared  # the models declare what 0004 creates
