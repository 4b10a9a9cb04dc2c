"""Quotes with their revisions and lines, and the sales orders made from accepted quotes.

Each revision is its own row sharing the quote ``number``; the newest is ``is_current`` and
older ones are frozen (read-only) so what the customer was sent never changes under them.
Totals are stored as computed by :mod:`crm_desktop.services.quotes` so lists and reports
never recompute them.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_desktop.models.base import Base, Money, SyncMixin, UTCDateTime, enum_column
from crm_desktop.models.enums import OrderStatus, QuoteStatus


class Quote(SyncMixin, Base):
    """One revision of a quote."""

    __tablename__ = "quote"
    __table_args__ = (
        UniqueConstraint("number", "revision"),
        # expire_quotes: current revisions in an open status whose valid_until has passed.
        Index("ix_quote_current_status_valid", "is_current", "status", "valid_until"),
    )

    number: Mapped[str] = mapped_column(String(40), index=True)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[QuoteStatus] = mapped_column(
        enum_column(QuoteStatus, 20), default=QuoteStatus.DRAFT
    )
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("opportunity.id"), index=True
    )
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("account.id"), index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contact.id"))
    price_list_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("price_list.id"))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    valid_until: Mapped[date | None] = mapped_column(Date)
    discount_percent: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    terms: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    subtotal: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    discount_total: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    tax_total: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    total: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class QuoteLine(SyncMixin, Base):
    """A line of a quote. Percentages are plain numbers (``7.5`` means 7.5 %)."""

    __tablename__ = "quote_line"

    quote_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("quote.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    product_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("product.id"))
    description: Mapped[str] = mapped_column(String(500), default="")
    quantity: Mapped[Decimal] = mapped_column(Money, default=Decimal(1))
    unit_price: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    discount_percent: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    tax_rate: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    net_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))


class SalesOrder(SyncMixin, Base):
    """An order made from an accepted quote; its lines are copied so the order stands alone."""

    __tablename__ = "sales_order"

    number: Mapped[str] = mapped_column(String(40), unique=True)
    quote_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("quote.id"), unique=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("account.id"), index=True)
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("opportunity.id"))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user.id"), index=True)
    status: Mapped[OrderStatus] = mapped_column(enum_column(OrderStatus), default=OrderStatus.OPEN)
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Money)
    ordered_on: Mapped[date] = mapped_column(Date)


class SalesOrderLine(SyncMixin, Base):
    """A line of a sales order, copied from the accepted quote line."""

    __tablename__ = "sales_order_line"

    order_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("sales_order.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    product_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("product.id"))
    description: Mapped[str] = mapped_column(String(500), default="")
    quantity: Mapped[Decimal] = mapped_column(Money)
    unit_price: Mapped[Decimal] = mapped_column(Money)
    discount_percent: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    tax_rate: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    net_amount: Mapped[Decimal] = mapped_column(Money)
