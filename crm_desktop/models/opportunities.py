"""Opportunities moving through sales stages, and the buying centre behind each one."""

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
from crm_desktop.models.enums import Attitude, BuyingRole, Influence, PurchaseType


class Opportunity(SyncMixin, Base):
    """A potential sale to an account.

    ``probability`` follows the stage's default unless ``probability_overridden`` is set,
    which happens when a user types their own figure.
    """

    __tablename__ = "opportunity"
    __table_args__ = (
        Index("ix_opportunity_owner_close", "owner_id", "close_date"),
        # The pipeline summary groups by stage and currency.
        Index("ix_opportunity_stage_currency", "stage_id", "currency"),
    )

    name: Mapped[str] = mapped_column(String(300))
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("account.id"), index=True)
    stage_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("sales_stage.id"), index=True)
    probability: Mapped[int] = mapped_column(Integer, default=0)
    probability_overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    close_date: Mapped[date | None] = mapped_column(Date)
    purchase_type: Mapped[PurchaseType | None] = mapped_column(enum_column(PurchaseType))
    lead_source: Mapped[str | None] = mapped_column(String(100))
    next_step: Mapped[str | None] = mapped_column(String(500))
    competitors: Mapped[str | None] = mapped_column(Text)
    products_of_interest: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    loss_reason: Mapped[str | None] = mapped_column(String(500))
    lessons_learned: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user.id"), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    source_lead_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("lead.id"))


class OpportunityContact(SyncMixin, Base):
    """A member of an opportunity's buying centre: who they are in the decision and how they lean."""

    __tablename__ = "opportunity_contact"
    __table_args__ = (UniqueConstraint("opportunity_id", "contact_id", "role"),)

    opportunity_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("opportunity.id"), index=True
    )
    contact_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("contact.id"), index=True)
    role: Mapped[BuyingRole] = mapped_column(enum_column(BuyingRole))
    attitude: Mapped[Attitude] = mapped_column(enum_column(Attitude), default=Attitude.NEUTRAL)
    influence: Mapped[Influence] = mapped_column(enum_column(Influence), default=Influence.MEDIUM)
    notes: Mapped[str | None] = mapped_column(Text)
