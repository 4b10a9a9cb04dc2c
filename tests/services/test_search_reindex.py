"""reindex(connection, ids) reads only the records asked for, by primary key."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import event, insert, update
from sqlalchemy.orm import Session

from crm_desktop.models import Account, Contact
from crm_desktop.store.search import reindex, search


def test_reindex_of_a_few_ids_searches_by_primary_key(session: Session) -> None:
    ids = [uuid.uuid4() for _ in range(50)]
    session.execute(
        insert(Contact),
        [{"id": i, "first_name": f"P{n}", "last_name": "X", "full_name": f"P{n} X"}
         for n, i in enumerate(ids)],
    )  # fmt: skip
    session.execute(insert(Account), [{"id": uuid.uuid4(), "name": "Acme"}])
    reindex(session.connection())
    target, gone = ids[7], ids[8]
    # Bulk UPDATEs, like a loader's: the ORM's index hook does not see them.
    session.execute(update(Contact).where(Contact.id == target).values(full_name="Zelda Quist"))
    session.execute(update(Contact).where(Contact.id == gone).values(deleted=True))

    seen: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.startswith("SELECT") and "search_doc" not in statement:
            seen.append((statement, params))

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        written = reindex(session.connection(), [target, gone])
    finally:
        event.remove(engine, "before_cursor_execute", capture)

    assert written == 1
    assert [h.title for h in search(session, "zelda")] == ["Zelda Quist"]
    assert search(session, "P8") == []  # the deleted one lost its entry
    assert len(seen) == 4  # one per searchable table, not a read of every row
    connection = session.connection()
    for statement, params in seen:
        plan = "\n".join(
            row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)
        )
        assert "SCAN" not in plan, plan
        assert "PRIMARY KEY" in plan or "INDEX" in plan, plan
