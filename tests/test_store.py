"""The local store: pragmas, migrations, the backup taken before an upgrade, and upgrade without loss."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from crm_desktop.config import Profile
from crm_desktop.models import Account, AccountContact, Contact, Opportunity, SalesStage, new_id
from crm_desktop.store import Store, open_store
from crm_desktop.store.migrate import current_revision, head_revision, upgrade
from crm_desktop.store.search import search


def test_store_uses_wal_and_enforces_foreign_keys(store: Store) -> None:
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(IntegrityError), store.sessions.begin() as session:
        session.add(AccountContact(account_id=new_id(), contact_id=new_id()))


def test_fresh_store_is_at_head_and_reopening_takes_no_backup(profile: Profile) -> None:
    open_store(profile.database_path, backup_dir=profile.backup_directory).dispose()
    assert current_revision(profile.database_path) == head_revision()
    assert upgrade(profile.database_path, backup_dir=profile.backup_directory) is None
    assert not profile.backup_directory.exists()


def test_ids_are_time_ordered_uuid7(store: Store) -> None:
    with store.sessions.begin() as session:
        accounts = [Account(name=f"Account {i}") for i in range(5)]
        session.add_all(accounts)
    ids = [a.id for a in accounts]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids)


def test_money_survives_the_round_trip_exactly(store: Store) -> None:
    with store.sessions.begin() as session:
        account = Account(name="Exact", credit_limit=Decimal("12345678901234.567891"))
        session.add(account)
    with store.sessions() as session:
        loaded = session.get(Account, account.id)
        assert loaded is not None
        assert loaded.credit_limit == Decimal("12345678901234.567891")


def _fill_at_first_revision(path: Path) -> dict[str, str]:
    """Write records with plain SQL, as a store made by the first release would hold them."""
    stage_id, account_id, contact_id, link_id, opp_id = (new_id().hex for _ in range(5))
    now = "2026-01-02 03:04:05.000000"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(
            "INSERT INTO sales_stage (id, name, position, probability, is_closed, is_won,"
            " created_at, updated_at, deleted) VALUES (?, 'Qualify', 1, 10, 0, 0, ?, ?, 0)",
            (stage_id, now, now),
        )
        conn.execute(
            "INSERT INTO account (id, name, kind, status, created_at, updated_at, deleted)"
            " VALUES (?, '深圳腾飞科技有限公司', 'company', 'active', ?, ?, 0)",
            (account_id, now, now),
        )
        conn.execute(
            "INSERT INTO contact (id, first_name, last_name, full_name, email, phone,"
            " created_at, updated_at, deleted) VALUES (?, '伟', '张', '张伟', 'zhang.wei@tengfei.cn',"
            " '+86 755 8888 1234', ?, ?, 0)",
            (contact_id, now, now),
        )
        conn.execute(
            "INSERT INTO account_contact (id, account_id, contact_id, title, is_primary,"
            " created_at, updated_at, deleted) VALUES (?, ?, ?, '采购经理', 1, ?, ?, 0)",
            (link_id, account_id, contact_id, now, now),
        )
        conn.execute(
            "INSERT INTO opportunity (id, name, account_id, stage_id, probability,"
            " probability_overridden, amount, currency, created_at, updated_at, deleted)"
            " VALUES (?, 'Fleet renewal', ?, ?, 10, 0, '125000.50', 'CNY', ?, ?, 0)",
            (opp_id, account_id, stage_id, now, now),
        )
    conn.close()
    return {"account": account_id, "contact": contact_id, "opportunity": opp_id}


def test_upgrade_from_first_revision_keeps_every_record_and_indexes_it(profile: Profile) -> None:
    path = profile.database_path
    upgrade(path, revision="0001")
    assert current_revision(path) == "0001"
    ids = _fill_at_first_revision(path)

    backup = upgrade(path, backup_dir=profile.backup_directory)

    assert current_revision(path) == head_revision()
    assert backup is not None and backup.exists()
    with sqlite3.connect(backup) as old:
        assert old.execute("SELECT count(*) FROM contact").fetchone() == (1,)
    store = Store(path)
    try:
        with store.sessions() as session:
            account = session.scalars(select(Account)).one()
            assert account.id.hex == ids["account"]
            assert account.name == "深圳腾飞科技有限公司"
            contact = session.scalars(select(Contact)).one()
            assert (contact.full_name, contact.email) == ("张伟", "zhang.wei@tengfei.cn")
            link = session.scalars(select(AccountContact)).one()
            assert (link.account_id, link.contact_id, link.title) == (
                account.id,
                contact.id,
                "采购经理",
            )
            opportunity = session.scalars(select(Opportunity)).one()
            assert opportunity.amount == Decimal("125000.50")
            assert session.scalars(select(SalesStage)).one().probability == 10
            # Records that existed before search was added are found after the upgrade.
            assert [h.title for h in search(session, "张伟")] == ["张伟"]
            assert [h.title for h in search(session, "腾飞")] == ["深圳腾飞科技有限公司"]
            assert [h.title for h in search(session, "fleet")] == ["Fleet renewal"]
            count = session.connection().execute(text("SELECT count(*) FROM search_doc")).scalar()
            assert count == 3
    finally:
        store.dispose()


def test_upgraded_store_has_every_index_the_models_declare(profile: Profile) -> None:
    # A store made before 0004 gets the query indexes from the migration; a new one has them
    # too. Either way the set of named indexes matches what the models declare.
    from crm_desktop.models.base import Base

    path = profile.database_path
    upgrade(path, revision="0003")
    upgrade(path, backup_dir=profile.backup_directory)
    with sqlite3.connect(path) as db:
        present = {
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        reminder_sql = db.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'ix_activity_reminder_at'"
        ).fetchone()[0]
    declared = {
        str(index.name) for table in Base.metadata.tables.values() for index in table.indexes
    }
    assert declared - present == set()
    assert "WHERE reminder_at IS NOT NULL AND deleted IS 0" in reminder_sql
