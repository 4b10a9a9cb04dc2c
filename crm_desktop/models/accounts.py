"""Customers: accounts (companies or individuals), contacts, and who works where.

A contact links to any number of accounts through :class:`AccountContact`, which carries the
title and department at that account (someone can work for one customer and advise another);
a contact with no link stands alone as an individual customer.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text, UniqueConstraint, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_desktop.models.base import Base, Money, SyncMixin, UTCDateTime, enum_column
from crm_desktop.models.enums import AccountKind, AccountStatus, ContactPointKind, Grade


class Account(SyncMixin, Base):
    """A customer or prospect: a company, or an individual person buying for themselves."""

    __tablename__ = "account"
    __table_args__ = (
        Index("ix_account_owner_name", "owner_id", "name"),
        # Lists page through live accounts in name order; a partial index skips tombstones
        # without a table lookup per row (the predicate is the one SQLAlchemy renders).
        Index("ix_account_live_name", "name", sqlite_where=text("deleted IS 0")),
    )

    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[AccountKind] = mapped_column(enum_column(AccountKind), default=AccountKind.COMPANY)
    industry: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[AccountStatus] = mapped_column(
        enum_column(AccountStatus), default=AccountStatus.PROSPECT
    )
    customer_grade: Mapped[Grade | None] = mapped_column(enum_column(Grade, 1))
    credit_grade: Mapped[str | None] = mapped_column(String(10))
    credit_limit: Mapped[Decimal | None] = mapped_column(Money)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user.id"), index=True)
    parent_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("account.id"), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    email: Mapped[str | None] = mapped_column(String(320))
    website: Mapped[str | None] = mapped_column(String(300))
    notes: Mapped[str | None] = mapped_column(Text)
    source_lead_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("lead.id", use_alter=True)
    )


class Contact(SyncMixin, Base):
    """A person. ``full_name`` is the display name, kept by the app in the person's own order."""

    __tablename__ = "contact"
    __table_args__ = (
        Index("ix_contact_full_name", "full_name"),
        Index("ix_contact_live_full_name", "full_name", sqlite_where=text("deleted IS 0")),
        # find_contact_by_email compares lower(trim(email)): addresses typed or imported keep
        # their case and stray spaces, so the lookup needs the same expression indexed.
        Index("ix_contact_email_lower", text("lower(trim(email))")),
    )

    first_name: Mapped[str] = mapped_column(String(100), default="")
    last_name: Mapped[str] = mapped_column(String(100), default="")
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(50))
    mobile: Mapped[str | None] = mapped_column(String(50))
    language: Mapped[str | None] = mapped_column(String(20))
    birthday: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user.id"), index=True)
    last_contacted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source_lead_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("lead.id", use_alter=True)
    )


class AccountContact(SyncMixin, Base):
    """A contact's job at an account: the link carries the title and department there."""

    __tablename__ = "account_contact"
    __table_args__ = (UniqueConstraint("account_id", "contact_id"),)

    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("account.id"), index=True)
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contact.id"), index=True)
    title: Mapped[str | None] = mapped_column(String(200))
    department: Mapped[str | None] = mapped_column(String(200))
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)


class Address(SyncMixin, Base):
    """A postal address of an account or a contact (exactly one of the two)."""

    __tablename__ = "address"

    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("account.id"), index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contact.id"), index=True)
    label: Mapped[str] = mapped_column(String(50), default="billing")
    street: Mapped[str | None] = mapped_column(String(300))
    city: Mapped[str | None] = mapped_column(String(100))
    region: Mapped[str | None] = mapped_column(String(100))
    postal_code: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))


class ContactPoint(SyncMixin, Base):
    """An extra phone, e-mail, fax or web address of an account or a contact."""

    __tablename__ = "contact_point"

    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("account.id"), index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contact.id"), index=True)
    kind: Mapped[ContactPointKind] = mapped_column(enum_column(ContactPointKind))
    label: Mapped[str] = mapped_column(String(50), default="work")
    value: Mapped[str] = mapped_column(String(320))
