"""Users, teams, sales stages and quotas: the configuration the pipeline hangs on."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from crm_desktop.models.base import Base, Money, SyncMixin, enum_column
from crm_desktop.models.enums import Role


class Team(SyncMixin, Base):
    """A sales team, led by a manager."""

    __tablename__ = "team"

    name: Mapped[str] = mapped_column(String(200))
    manager_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("user.id", use_alter=True), index=True
    )


class User(SyncMixin, Base):
    """A person who uses the CRM. ``manager_id`` forms the reporting hierarchy."""

    __tablename__ = "user"

    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.REP)
    manager_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user.id"), index=True)
    team_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("team.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class SalesStage(SyncMixin, Base):
    """A configurable step of the pipeline with its default win probability (0-100)."""

    __tablename__ = "sales_stage"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    position: Mapped[int] = mapped_column(Integer)
    probability: Mapped[int] = mapped_column(Integer)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)


class Quota(SyncMixin, Base):
    """A sales target for one user over one period (inclusive dates) in one currency."""

    __tablename__ = "quota"
    __table_args__ = (UniqueConstraint("user_id", "period_start", "currency"),)

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("user.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
