"""The closed vocabularies of the CRM, as string enums whose values are what the database stores."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a user may do: a rep sells, a manager also sees and coaches a team, an admin configures."""

    REP = "rep"
    MANAGER = "manager"
    ADMIN = "admin"


class AccountKind(StrEnum):
    """A customer is a company (with contacts) or an individual person."""

    COMPANY = "company"
    INDIVIDUAL = "individual"


class AccountStatus(StrEnum):
    """Where the relationship stands."""

    PROSPECT = "prospect"
    ACTIVE = "active"
    INACTIVE = "inactive"


class Grade(StrEnum):
    """A-D grading used for leads and customers (A is best)."""

    A = "A"
    B = "B"
    C = "C"
    D = "D"


class LeadStatus(StrEnum):
    """A lead's progress; ``converted`` means it became account, contact and opportunity."""

    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    CONVERTED = "converted"
    DISQUALIFIED = "disqualified"


class PurchaseType(StrEnum):
    """The buying situation (Robinson, Faris & Wind's buy classes)."""

    NEW_PURCHASE = "new_purchase"
    STRAIGHT_REBUY = "straight_rebuy"
    MODIFIED_REBUY = "modified_rebuy"


class BuyingRole(StrEnum):
    """A contact's role in the buying centre of an opportunity."""

    USER = "user"
    INFLUENCER = "influencer"
    DECISION_MAKER = "decision_maker"
    APPROVER = "approver"
    PURCHASER = "purchaser"
    GATEKEEPER = "gatekeeper"


class Attitude(StrEnum):
    """How a buying-centre member feels about us."""

    SUPPORTER = "supporter"
    NEUTRAL = "neutral"
    OPPONENT = "opponent"


class Influence(StrEnum):
    """How much weight a buying-centre member carries in the decision."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ActivityKind(StrEnum):
    """Kinds of calendar and log entries."""

    CALL = "call"
    MEETING = "meeting"
    EMAIL = "email"
    TASK = "task"
    NOTE = "note"


class ActivityStatus(StrEnum):
    """Planned until done or cancelled."""

    PLANNED = "planned"
    DONE = "done"
    CANCELLED = "cancelled"


class Priority(StrEnum):
    """Priority of an activity."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class QuoteStatus(StrEnum):
    """A quote's life: draft -> (pending approval ->) sent -> accepted / rejected / expired."""

    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    EXPIRED = "expired"


class OrderStatus(StrEnum):
    """A sales order's fulfilment state."""

    OPEN = "open"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


class ContactPointKind(StrEnum):
    """Extra ways to reach an account or contact beyond the primary phone and e-mail."""

    PHONE = "phone"
    EMAIL = "email"
    FAX = "fax"
    WEB = "web"
