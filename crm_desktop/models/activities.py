"""Calendar and log entries: calls, meetings, e-mails, tasks and notes."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_desktop.models.base import Base, SyncMixin, UTCDateTime, enum_column
from crm_desktop.models.enums import ActivityKind, ActivityStatus, Priority


class Activity(SyncMixin, Base):
    """Something done or to do, linked to whatever it concerns.

    Timed entries use ``start_at``/``end_at`` (UTC) with ``time_zone`` naming the zone they were
    planned in; all-day entries use ``start_date``/``end_date`` (end exclusive, as in iCalendar);
    tasks use ``due_at``.
    """

    __tablename__ = "activity"
    __table_args__ = (
        Index("ix_activity_owner_start", "owner_id", "start_at"),
        Index("ix_activity_owner_due", "owner_id", "due_at"),
        # All-day entries in a date range (the calendar's third query, beside start and due).
        Index("ix_activity_owner_start_date", "owner_id", "start_date"),
        # Reminders: only live rows with a reminder are indexed. The predicate is written as
        # SQLAlchemy renders ``deleted.is_(False)`` on SQLite ("IS 0"), because SQLite uses a
        # partial index only when the query's WHERE contains the index's terms verbatim.
        Index(
            "ix_activity_reminder_at",
            "reminder_at",
            sqlite_where=text("reminder_at IS NOT NULL AND deleted IS 0"),
        ),
    )

    kind: Mapped[ActivityKind] = mapped_column(enum_column(ActivityKind))
    subject: Mapped[str] = mapped_column(String(300))
    description: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(300))
    start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[ActivityStatus] = mapped_column(
        enum_column(ActivityStatus), default=ActivityStatus.PLANNED
    )
    priority: Mapped[Priority] = mapped_column(enum_column(Priority), default=Priority.NORMAL)
    reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    owner_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("user.id"), index=True)
    account_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("account.id"), index=True)
    contact_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("contact.id"), index=True)
    opportunity_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("opportunity.id"), index=True
    )
    quote_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, ForeignKey("quote.id"), index=True)
    ical_uid: Mapped[str | None] = mapped_column(String(300), index=True)
