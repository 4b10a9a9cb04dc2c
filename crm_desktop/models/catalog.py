"""The product catalog: products, price lists per currency, and prices."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from crm_desktop.models.base import Base, Money, SyncMixin


class Product(SyncMixin, Base):
    """Something we sell, identified by its code."""

    __tablename__ = "product"

    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str] = mapped_column(String(20), default="pcs")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    default_tax_rate: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))


class PriceList(SyncMixin, Base):
    """Prices in one currency, valid between two dates (either may be open)."""

    __tablename__ = "price_list"

    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Price(SyncMixin, Base):
    """A product's unit price on one price list."""

    __tablename__ = "price"
    __table_args__ = (UniqueConstraint("price_list_id", "product_id"),)

    price_list_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("price_list.id"), index=True)
    product_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("product.id"), index=True)
    unit_price: Mapped[Decimal] = mapped_column(Money)
