"""Read and write functions behind the record pages and the pipeline board.

Read functions take a Session and return plain frozen dataclasses (never ORM objects), so the UI
can hold them across event-loop turns. Save functions validate their input first and raise
:class:`~crm_desktop.services.errors.ValidationError` naming the offending field before anything
is written, so a refused save leaves nothing half-written. Like every service they never commit:
the caller owns the transaction (``with store.sessions.begin() as session: ...``).

Forms carry the values as the user typed them (strings, ids, ISO dates); parsing them here, not in
the widgets, is what lets every error name its field. Stage moves, probability and closing go
through :mod:`crm_desktop.services.pipeline`; this module only reads their results.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import TypeVar

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from crm_desktop.models import (
    Account,
    AccountContact,
    Activity,
    Contact,
    Lead,
    Opportunity,
    OpportunityContact,
    SalesStage,
    User,
)
from crm_desktop.models.base import SyncMixin
from crm_desktop.models.enums import (
    AccountKind,
    AccountStatus,
    Attitude,
    BuyingRole,
    Grade,
    Influence,
    LeadStatus,
    PurchaseType,
)
from crm_desktop.services import pipeline
from crm_desktop.services.errors import NotFound, ValidationError
from crm_desktop.services.leads import score_lead

#: Region assumed for phone numbers typed without a leading "+country code".
DEFAULT_PHONE_REGION = "US"
#: How many timeline entries a record page shows (newest first).
TIMELINE_LIMIT = 200
#: Order in which the buying centre is shown: who decides first, who filters last.
ROLE_ORDER: tuple[BuyingRole, ...] = (
    BuyingRole.DECISION_MAKER,
    BuyingRole.APPROVER,
    BuyingRole.PURCHASER,
    BuyingRole.INFLUENCER,
    BuyingRole.USER,
    BuyingRole.GATEKEEPER,
)
#: A synced table's row, as :func:`_get` returns it.
_Row = TypeVar("_Row", bound=SyncMixin)

CLOSE_PERIODS = ("this_quarter", "next_quarter", "this_year", "all")


# --------------------------------------------------------------------------- plain data


@dataclass(frozen=True)
class Choice:
    """An id with the label a picker shows for it."""

    id: uuid.UUID
    label: str


@dataclass(frozen=True)
class StageInfo:
    """A sales stage as the stage bar and the board show it."""

    id: uuid.UUID
    name: str
    position: int
    probability: int
    is_closed: bool
    is_won: bool


@dataclass(frozen=True)
class TimelineItem:
    """One activity on a record's timeline."""

    id: uuid.UUID
    kind: str
    subject: str
    when: datetime | None
    status: str
    owner: str
    regarding: str
    outcome: str


@dataclass(frozen=True)
class OpportunityRow:
    """An opportunity in a record's related list."""

    id: uuid.UUID
    name: str
    account: str
    stage: str
    amount: Decimal
    currency: str
    probability: int
    close_date: date | None
    is_closed: bool
    is_won: bool


@dataclass(frozen=True)
class AccountForm:
    """The editable fields of an account, as text the way the user typed them."""

    name: str = ""
    kind: str = AccountKind.COMPANY.value
    industry: str = ""
    region: str = ""
    status: str = AccountStatus.PROSPECT.value
    customer_grade: str = ""
    credit_grade: str = ""
    credit_limit: str = ""
    owner_id: uuid.UUID | None = None
    parent_id: uuid.UUID | None = None
    phone: str = ""
    email: str = ""
    website: str = ""
    notes: str = ""


@dataclass(frozen=True)
class AccountContactRow:
    """A contact working at an account, with their title and department there."""

    link_id: uuid.UUID
    contact_id: uuid.UUID
    name: str
    title: str
    department: str
    email: str
    phone: str
    is_primary: bool


@dataclass(frozen=True)
class AccountView:
    """Everything the account page shows."""

    id: uuid.UUID | None
    form: AccountForm
    parent_label: str
    owners: tuple[Choice, ...]
    contacts: tuple[AccountContactRow, ...] = ()
    open_opportunities: tuple[OpportunityRow, ...] = ()
    closed_opportunities: tuple[OpportunityRow, ...] = ()
    timeline: tuple[TimelineItem, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True)
class ContactForm:
    """The editable fields of a contact."""

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    mobile: str = ""
    language: str = ""
    birthday: str = ""
    owner_id: uuid.UUID | None = None
    notes: str = ""


@dataclass(frozen=True)
class ContactAccountRow:
    """An account a contact works for."""

    link_id: uuid.UUID
    account_id: uuid.UUID
    account: str
    title: str
    department: str
    is_primary: bool


@dataclass(frozen=True)
class ContactRoleRow:
    """A contact's place in one opportunity's buying centre."""

    member_id: uuid.UUID
    opportunity_id: uuid.UUID
    opportunity: str
    account: str
    stage: str
    role: str
    attitude: str
    influence: str


@dataclass(frozen=True)
class ContactView:
    """Everything the contact page shows."""

    id: uuid.UUID | None
    form: ContactForm
    full_name: str
    owners: tuple[Choice, ...]
    accounts: tuple[ContactAccountRow, ...] = ()
    roles: tuple[ContactRoleRow, ...] = ()
    timeline: tuple[TimelineItem, ...] = ()


@dataclass(frozen=True)
class LeadForm:
    """The editable fields of a lead."""

    first_name: str = ""
    last_name: str = ""
    company: str = ""
    title: str = ""
    email: str = ""
    phone: str = ""
    industry: str = ""
    region: str = ""
    source: str = ""
    campaign: str = ""
    grade: str = ""
    status: str = LeadStatus.NEW.value
    owner_id: uuid.UUID | None = None
    notes: str = ""


@dataclass(frozen=True)
class LeadView:
    """Everything the lead page shows, including what a converted lead became."""

    id: uuid.UUID | None
    form: LeadForm
    full_name: str
    owners: tuple[Choice, ...]
    converted_at: datetime | None = None
    converted_account: Choice | None = None
    converted_contact: Choice | None = None
    converted_opportunity: Choice | None = None
    suggested_grade: str = ""
    score: int = 0
    score_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpportunityForm:
    """The editable fields of an opportunity (stage and probability go through the pipeline)."""

    name: str = ""
    account_id: uuid.UUID | None = None
    amount: str = "0"
    currency: str = "USD"
    close_date: str = ""
    purchase_type: str = ""
    lead_source: str = ""
    next_step: str = ""
    competitors: str = ""
    products_of_interest: str = ""
    description: str = ""
    owner_id: uuid.UUID | None = None


@dataclass(frozen=True)
class BuyingCentreMember:
    """A contact in an opportunity's buying centre, with their job title at the account."""

    id: uuid.UUID
    contact_id: uuid.UUID
    name: str
    title: str
    role: str
    attitude: str
    influence: str
    notes: str


@dataclass(frozen=True)
class OpportunityView:
    """Everything the opportunity page shows."""

    id: uuid.UUID | None
    form: OpportunityForm
    account_label: str
    owners: tuple[Choice, ...]
    stages: tuple[StageInfo, ...]
    stage_id: uuid.UUID | None
    probability: int = 0
    probability_overridden: bool = False
    weighted_amount: Decimal = Decimal(0)
    loss_reason: str = ""
    lessons_learned: str = ""
    closed_at: datetime | None = None
    buying_centre: tuple[BuyingCentreMember, ...] = ()
    account_contacts: tuple[Choice, ...] = ()
    timeline: tuple[TimelineItem, ...] = ()

    @property
    def stage(self) -> StageInfo | None:
        """The current stage, if the opportunity has one."""
        return next((s for s in self.stages if s.id == self.stage_id), None)


@dataclass(frozen=True)
class BoardCard:
    """One opportunity card on the pipeline board."""

    id: uuid.UUID
    name: str
    account: str
    owner: str
    amount: Decimal
    currency: str
    probability: int
    weighted: Decimal
    close_date: date | None


@dataclass(frozen=True)
class BoardColumn:
    """A stage column: its cards and the figures shown in its header.

    ``totals`` has one entry per currency (amounts are never added across currencies), the
    board's main currency first.
    """

    stage: StageInfo
    cards: tuple[BoardCard, ...]
    count: int
    totals: tuple[pipeline.CurrencyTotal, ...]

    def total_in(self, currency: str) -> Decimal:
        """The column's amount in ``currency`` (0 when it has none)."""
        return next((t.total for t in self.totals if t.currency == currency), Decimal(0))

    def weighted_in(self, currency: str) -> Decimal:
        """The column's weighted amount in ``currency`` (0 when it has none)."""
        return next((t.weighted for t in self.totals if t.currency == currency), Decimal(0))


@dataclass(frozen=True)
class BoardData:
    """The whole pipeline board for one owner filter and close period."""

    columns: tuple[BoardColumn, ...]
    owners: tuple[Choice, ...]
    currency: str = "USD"
    period_start: date | None = None
    period_end: date | None = None


# --------------------------------------------------------------------------- helpers


def _text(value: str | None) -> str:
    return value or ""


def _clean(value: str) -> str | None:
    value = value.strip()
    return value or None


def _enum_or_none(enum_cls: type, value: str, field_name: str, label: str) -> object | None:
    value = value.strip()
    if not value:
        return None
    try:
        return enum_cls(value)
    except ValueError:
        raise ValidationError(field_name, f"{label}: '{value}' is not a valid choice") from None


def _enum(enum_cls: type, value: str, field_name: str, label: str) -> object:
    result = _enum_or_none(enum_cls, value, field_name, label)
    if result is None:
        raise ValidationError(field_name, f"{label} is required")
    return result


def _required(value: str, field_name: str, label: str) -> str:
    value = value.strip()
    if not value:
        raise ValidationError(field_name, f"{label} is required")
    return value


def _max_length(value: str | None, limit: int, field_name: str, label: str) -> None:
    if value is not None and len(value) > limit:
        raise ValidationError(field_name, f"{label} is too long (at most {limit} characters)")


def validate_email_field(value: str, field_name: str = "email", label: str = "Email") -> str | None:
    """Return the normalised e-mail address, ``None`` for blank, or raise naming ``field_name``."""
    value = value.strip()
    if not value:
        return None
    try:
        # Deliverability needs DNS, which a laptop on the road may not have.
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValidationError(field_name, f"{label}: {exc}") from None


def validate_phone_field(
    value: str, field_name: str = "phone", label: str = "Phone", region: str = DEFAULT_PHONE_REGION
) -> str | None:
    """Return the phone number in international format, ``None`` for blank, or raise."""
    value = value.strip()
    if not value:
        return None
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(field_name, f"{label}: '{value}' is not a phone number") from None
    # "Possible" (right length for the country) rather than "valid": fictional 555 numbers and
    # brand-new ranges the metadata does not know yet must still be accepted.
    if not phonenumbers.is_possible_number(number):
        raise ValidationError(field_name, f"{label}: '{value}' has the wrong number of digits")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def _decimal(value: str, field_name: str, label: str, *, required: bool) -> Decimal | None:
    text = value.strip().replace(",", "").replace(" ", "")
    if not text:
        if required:
            raise ValidationError(field_name, f"{label} is required")
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise ValidationError(field_name, f"{label}: '{value.strip()}' is not a number") from None
    if not number.is_finite():
        raise ValidationError(field_name, f"{label}: '{value.strip()}' is not a number")
    if number < 0:
        raise ValidationError(field_name, f"{label} cannot be negative")
    return number


def _iso_date(value: str, field_name: str, label: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(field_name, f"{label}: use the form YYYY-MM-DD") from None


def _website(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if any(ch.isspace() for ch in value) or "." not in value:
        raise ValidationError("website", f"Website: '{value}' is not a web address")
    _max_length(value, 300, "website", "Website")
    return value


def _changed(old: str | None, new: str) -> bool:
    return (old or "").strip() != new.strip()


def _validated_if_changed(
    record: object | None, name: str, value: str, validate: Callable[[str], str | None]
) -> str | None:
    """``value`` through ``validate`` when the record is new or its ``name`` changed, else cleaned.

    So an old record with a number or address the rules would now refuse can still have its
    other fields edited.
    """
    if record is None or _changed(getattr(record, name), value):
        return validate(value)
    return _clean(value)


def _get(session: Session, model: type[_Row], record_id: uuid.UUID, label: str) -> _Row:
    """The live ``model`` row with this id; :class:`NotFound` named ``label`` if gone."""
    obj = session.get(model, record_id)
    if obj is None or obj.deleted:
        raise NotFound(label, record_id)
    return obj


def _user_exists(session: Session, user_id: uuid.UUID | None, field_name: str) -> None:
    if user_id is None:
        return
    user = session.get(User, user_id)
    if user is None or user.deleted:
        raise ValidationError(field_name, "Owner: that user no longer exists")


def owner_choices(session: Session) -> tuple[Choice, ...]:
    """Active users a record can be assigned to, by name."""
    rows = session.execute(
        select(User.id, User.full_name, User.username)
        .where(User.deleted.is_(False), User.active.is_(True))
        .order_by(User.full_name, User.username)
    )
    return tuple(Choice(uid, full or username) for uid, full, username in rows)


def stages(session: Session) -> tuple[StageInfo, ...]:
    """All live sales stages in pipeline order."""
    rows = session.scalars(
        select(SalesStage).where(SalesStage.deleted.is_(False)).order_by(SalesStage.position)
    )
    return tuple(
        StageInfo(s.id, s.name, s.position, s.probability, s.is_closed, s.is_won) for s in rows
    )


def weighted(amount: Decimal, probability: int, currency: str) -> Decimal:
    """Amount times win probability, as the pipeline rules round it."""
    return pipeline.weighted_amount(amount, probability, currency)


def display_name(first: str, last: str) -> str:
    """A person's display name in their own order: family name first, unspaced, for CJK names."""
    first, last = first.strip(), last.strip()
    if first and last and _is_cjk(first) and _is_cjk(last):
        return last + first
    return f"{first} {last}".strip()


def _is_cjk(text: str) -> bool:
    return all(
        "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uf900" <= ch <= "\ufaff"
        for ch in text
    )


def _timeline(session: Session, *conditions: object) -> tuple[TimelineItem, ...]:
    when = func.coalesce(Activity.start_at, Activity.due_at, Activity.completed_at)
    stmt = (
        select(Activity, User.full_name, Opportunity.name, Contact.full_name)
        .outerjoin(User, User.id == Activity.owner_id)
        .outerjoin(Opportunity, Opportunity.id == Activity.opportunity_id)
        .outerjoin(Contact, Contact.id == Activity.contact_id)
        .where(Activity.deleted.is_(False), or_(*conditions))  # type: ignore[arg-type]
        .order_by(func.coalesce(when, Activity.created_at).desc())
        .limit(TIMELINE_LIMIT)
    )
    items = []
    for act, owner, opp_name, contact_name in session.execute(stmt):
        moment = act.start_at or act.due_at or act.completed_at
        if moment is None and act.start_date is not None:
            moment = datetime(
                act.start_date.year, act.start_date.month, act.start_date.day, tzinfo=UTC
            )
        regarding = " · ".join(x for x in (opp_name, contact_name) if x)
        items.append(
            TimelineItem(
                id=act.id,
                kind=str(act.kind),
                subject=act.subject,
                when=moment or act.created_at,
                status=str(act.status),
                owner=owner or "",
                regarding=regarding,
                outcome=act.outcome or "",
            )
        )
    return tuple(items)


def _opportunity_rows(session: Session, *conditions: object) -> list[OpportunityRow]:
    stmt = (
        select(Opportunity, Account.name, SalesStage)
        .join(Account, Account.id == Opportunity.account_id)
        .join(SalesStage, SalesStage.id == Opportunity.stage_id)
        .where(Opportunity.deleted.is_(False), *conditions)  # type: ignore[arg-type]
        .order_by(Opportunity.close_date.is_(None), Opportunity.close_date, Opportunity.name)
    )
    return [
        OpportunityRow(
            id=opp.id,
            name=opp.name,
            account=account,
            stage=stage.name,
            amount=opp.amount,
            currency=opp.currency,
            probability=opp.probability,
            close_date=opp.close_date,
            is_closed=stage.is_closed,
            is_won=stage.is_won,
        )
        for opp, account, stage in session.execute(stmt)
    ]


# --------------------------------------------------------------------------- accounts


def load_account(session: Session, account_id: uuid.UUID | None) -> AccountView:
    """The account page's data; ``None`` gives an empty form for a new account."""
    owners = owner_choices(session)
    if account_id is None:
        return AccountView(id=None, form=AccountForm(), parent_label="", owners=owners)
    acc = _get(session, Account, account_id, "Account")
    parent_label = ""
    if acc.parent_id is not None:
        parent = session.get(Account, acc.parent_id)
        parent_label = parent.name if parent is not None and not parent.deleted else ""
    form = AccountForm(
        name=acc.name,
        kind=str(acc.kind),
        industry=_text(acc.industry),
        region=_text(acc.region),
        status=str(acc.status),
        customer_grade=str(acc.customer_grade) if acc.customer_grade else "",
        credit_grade=_text(acc.credit_grade),
        credit_limit=format(acc.credit_limit, "f") if acc.credit_limit is not None else "",
        owner_id=acc.owner_id,
        parent_id=acc.parent_id if parent_label else None,
        phone=_text(acc.phone),
        email=_text(acc.email),
        website=_text(acc.website),
        notes=_text(acc.notes),
    )
    contacts = tuple(
        AccountContactRow(
            link_id=link.id,
            contact_id=c.id,
            name=c.full_name or display_name(c.first_name, c.last_name),
            title=_text(link.title),
            department=_text(link.department),
            email=_text(c.email),
            phone=_text(c.phone or c.mobile),
            is_primary=link.is_primary,
        )
        for link, c in session.execute(
            select(AccountContact, Contact)
            .join(Contact, Contact.id == AccountContact.contact_id)
            .where(
                AccountContact.account_id == account_id,
                AccountContact.deleted.is_(False),
                Contact.deleted.is_(False),
            )
            .order_by(AccountContact.is_primary.desc(), Contact.full_name)
        )
    )
    opps = _opportunity_rows(session, Opportunity.account_id == account_id)
    opp_ids = select(Opportunity.id).where(Opportunity.account_id == account_id)
    timeline = _timeline(
        session, Activity.account_id == account_id, Activity.opportunity_id.in_(opp_ids)
    )
    return AccountView(
        id=acc.id,
        form=form,
        parent_label=parent_label,
        owners=owners,
        contacts=contacts,
        open_opportunities=tuple(o for o in opps if not o.is_closed),
        closed_opportunities=tuple(o for o in opps if o.is_closed),
        timeline=timeline,
        updated_at=acc.updated_at,
    )


def save_account(*, session: Session, account_id: uuid.UUID | None, form: AccountForm) -> uuid.UUID:
    """Validate ``form`` and create or update the account; returns its id.

    Phone and e-mail are checked only when they changed, so an old record with a number the
    rules would now refuse can still have its other fields edited.
    """
    acc: Account | None = None
    if account_id is not None:
        acc = _get(session, Account, account_id, "Account")
    name = _required(form.name, "name", "Name")
    _max_length(name, 300, "name", "Name")
    kind = _enum(AccountKind, form.kind, "kind", "Kind")
    status = _enum(AccountStatus, form.status, "status", "Status")
    grade = _enum_or_none(Grade, form.customer_grade, "customer_grade", "Customer grade")
    credit_grade = _clean(form.credit_grade)
    _max_length(credit_grade, 10, "credit_grade", "Credit grade")
    credit_limit = _decimal(form.credit_limit, "credit_limit", "Credit limit", required=False)
    industry, region = _clean(form.industry), _clean(form.region)
    _max_length(industry, 100, "industry", "Industry")
    _max_length(region, 100, "region", "Region")
    phone = _validated_if_changed(acc, "phone", form.phone, validate_phone_field)
    email = _validated_if_changed(acc, "email", form.email, validate_email_field)
    website = _website(form.website)
    _user_exists(session, form.owner_id, "owner_id")
    if form.parent_id is not None:
        parent = session.get(Account, form.parent_id)
        if parent is None or parent.deleted:
            raise ValidationError("parent_id", "Parent account: that account no longer exists")
        if account_id is not None and _is_descendant(session, form.parent_id, account_id):
            raise ValidationError(
                "parent_id", "Parent account: an account cannot be its own parent or descendant"
            )
    if acc is None:
        acc = Account(name=name)
        session.add(acc)
    acc.name = name
    acc.kind = kind  # type: ignore[assignment]
    acc.status = status  # type: ignore[assignment]
    acc.customer_grade = grade  # type: ignore[assignment]
    acc.credit_grade = credit_grade
    acc.credit_limit = credit_limit
    acc.industry, acc.region = industry, region
    acc.phone, acc.email, acc.website = phone, email, website
    acc.owner_id, acc.parent_id = form.owner_id, form.parent_id
    acc.notes = _clean(form.notes)
    session.flush()
    return acc.id


def _is_descendant(session: Session, candidate: uuid.UUID, ancestor: uuid.UUID) -> bool:
    """True when ``candidate`` is ``ancestor`` or sits below it in the parent chain."""
    seen: set[uuid.UUID] = set()
    current: uuid.UUID | None = candidate
    while current is not None and current not in seen:
        if current == ancestor:
            return True
        seen.add(current)
        current = session.scalar(select(Account.parent_id).where(Account.id == current))
    return False


def search_accounts(session: Session, text: str, limit: int = 20) -> tuple[Choice, ...]:
    """Accounts whose name starts with (or contains) ``text``, for pickers."""
    text = text.strip()
    stmt = select(Account.id, Account.name).where(Account.deleted.is_(False))
    if text:
        stmt = stmt.where(Account.name.ilike(f"%{_escape_like(text)}%", escape="\\"))
    rows = session.execute(stmt.order_by(Account.name).limit(limit))
    return tuple(Choice(i, n) for i, n in rows)


def search_contacts(session: Session, text: str, limit: int = 20) -> tuple[Choice, ...]:
    """Contacts whose name or e-mail contains ``text``, for pickers."""
    text = text.strip()
    stmt = select(Contact.id, Contact.full_name, Contact.email).where(Contact.deleted.is_(False))
    if text:
        pattern = f"%{_escape_like(text)}%"
        stmt = stmt.where(
            or_(
                Contact.full_name.ilike(pattern, escape="\\"),
                Contact.email.ilike(pattern, escape="\\"),
            )
        )
    rows = session.execute(stmt.order_by(Contact.full_name).limit(limit))
    return tuple(Choice(i, f"{n} <{e}>" if e else n) for i, n, e in rows)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# --------------------------------------------------------------------------- contacts


def load_contact(session: Session, contact_id: uuid.UUID | None) -> ContactView:
    """The contact page's data; ``None`` gives an empty form for a new contact."""
    owners = owner_choices(session)
    if contact_id is None:
        return ContactView(id=None, form=ContactForm(), full_name="", owners=owners)
    c = _get(session, Contact, contact_id, "Contact")
    form = ContactForm(
        first_name=c.first_name,
        last_name=c.last_name,
        email=_text(c.email),
        phone=_text(c.phone),
        mobile=_text(c.mobile),
        language=_text(c.language),
        birthday=c.birthday.isoformat() if c.birthday else "",
        owner_id=c.owner_id,
        notes=_text(c.notes),
    )
    accounts = tuple(
        ContactAccountRow(
            link_id=link.id,
            account_id=acc_id,
            account=acc_name,
            title=_text(link.title),
            department=_text(link.department),
            is_primary=link.is_primary,
        )
        for link, acc_id, acc_name in session.execute(
            select(AccountContact, Account.id, Account.name)
            .join(Account, Account.id == AccountContact.account_id)
            .where(
                AccountContact.contact_id == contact_id,
                AccountContact.deleted.is_(False),
                Account.deleted.is_(False),
            )
            .order_by(AccountContact.is_primary.desc(), Account.name)
        )
    )
    roles = tuple(
        ContactRoleRow(
            member_id=member.id,
            opportunity_id=opp_id,
            opportunity=opp_name,
            account=acc_name,
            stage=stage_name,
            role=str(member.role),
            attitude=str(member.attitude),
            influence=str(member.influence),
        )
        for member, opp_id, opp_name, acc_name, stage_name in session.execute(
            select(
                OpportunityContact, Opportunity.id, Opportunity.name, Account.name, SalesStage.name
            )
            .join(Opportunity, Opportunity.id == OpportunityContact.opportunity_id)
            .join(Account, Account.id == Opportunity.account_id)
            .join(SalesStage, SalesStage.id == Opportunity.stage_id)
            .where(
                OpportunityContact.contact_id == contact_id,
                OpportunityContact.deleted.is_(False),
                Opportunity.deleted.is_(False),
            )
            .order_by(Opportunity.close_date.desc(), Opportunity.name)
        )
    )
    return ContactView(
        id=c.id,
        form=form,
        full_name=c.full_name or display_name(c.first_name, c.last_name),
        owners=owners,
        accounts=accounts,
        roles=roles,
        timeline=_timeline(session, Activity.contact_id == contact_id),
    )


def save_contact(*, session: Session, contact_id: uuid.UUID | None, form: ContactForm) -> uuid.UUID:
    """Validate ``form`` and create or update the contact; returns its id."""
    c: Contact | None = None
    if contact_id is not None:
        c = _get(session, Contact, contact_id, "Contact")
    first, last = form.first_name.strip(), form.last_name.strip()
    if not first and not last:
        raise ValidationError("last_name", "Last name is required (or a first name)")
    _max_length(first, 100, "first_name", "First name")
    _max_length(last, 100, "last_name", "Last name")
    email = _validated_if_changed(c, "email", form.email, validate_email_field)
    phone = _validated_if_changed(c, "phone", form.phone, validate_phone_field)
    mobile = _validated_if_changed(
        c, "mobile", form.mobile, lambda v: validate_phone_field(v, "mobile", "Mobile")
    )
    language = _clean(form.language)
    _max_length(language, 20, "language", "Language")
    birthday = _iso_date(form.birthday, "birthday", "Birthday")
    if birthday is not None and birthday > date.today():
        raise ValidationError("birthday", "Birthday cannot be in the future")
    _user_exists(session, form.owner_id, "owner_id")
    if c is None:
        c = Contact()
        session.add(c)
    c.first_name, c.last_name = first, last
    c.full_name = display_name(first, last)
    c.email, c.phone, c.mobile = email, phone, mobile
    c.language, c.birthday = language, birthday
    c.owner_id = form.owner_id
    c.notes = _clean(form.notes)
    session.flush()
    return c.id


def link_contact_to_account(
    *,
    session: Session,
    contact_id: uuid.UUID,
    account_id: uuid.UUID | None,
    title: str = "",
    department: str = "",
) -> uuid.UUID:
    """Record that a contact works at an account (with title and department); returns the link id.

    An earlier, deleted link between the same two is brought back rather than duplicated, because
    the pair is unique even among tombstones.
    """
    if account_id is None:
        raise ValidationError("account_id", "Account is required")
    _get(session, Contact, contact_id, "Contact")
    acc = session.get(Account, account_id)
    if acc is None or acc.deleted:
        raise ValidationError("account_id", "Account: that account no longer exists")
    _max_length(title.strip(), 200, "title", "Title")
    _max_length(department.strip(), 200, "department", "Department")
    link = session.scalar(
        select(AccountContact).where(
            AccountContact.account_id == account_id, AccountContact.contact_id == contact_id
        )
    )
    if link is not None and not link.deleted:
        raise ValidationError("account_id", f"Account: already works for {acc.name}")
    if link is None:
        link = AccountContact(account_id=account_id, contact_id=contact_id)
        session.add(link)
    link.deleted = False
    link.title, link.department = _clean(title), _clean(department)
    session.flush()
    return link.id


def unlink_contact_from_account(*, session: Session, link_id: uuid.UUID) -> None:
    """Tombstone one contact-account link."""
    link = _get(session, AccountContact, link_id, "Link")
    link.deleted = True
    session.flush()


# --------------------------------------------------------------------------- leads


def load_lead(session: Session, lead_id: uuid.UUID | None) -> LeadView:
    """The lead page's data; ``None`` gives an empty form for a new lead."""
    owners = owner_choices(session)
    if lead_id is None:
        return LeadView(id=None, form=LeadForm(), full_name="", owners=owners)
    lead = _get(session, Lead, lead_id, "Lead")
    form = LeadForm(
        first_name=lead.first_name,
        last_name=lead.last_name,
        company=_text(lead.company),
        title=_text(lead.title),
        email=_text(lead.email),
        phone=_text(lead.phone),
        industry=_text(lead.industry),
        region=_text(lead.region),
        source=_text(lead.source),
        campaign=_text(lead.campaign),
        grade=str(lead.grade) if lead.grade else "",
        status=str(lead.status),
        owner_id=lead.owner_id,
        notes=_text(lead.notes),
    )

    scored = score_lead(lead)

    def choice(model: type, rid: uuid.UUID | None, attr: str) -> Choice | None:
        if rid is None:
            return None
        obj = session.get(model, rid)
        if obj is None or obj.deleted:
            return None
        return Choice(rid, getattr(obj, attr))

    return LeadView(
        id=lead.id,
        form=form,
        full_name=lead.full_name or display_name(lead.first_name, lead.last_name),
        owners=owners,
        converted_at=lead.converted_at,
        converted_account=choice(Account, lead.converted_account_id, "name"),
        converted_contact=choice(Contact, lead.converted_contact_id, "full_name"),
        converted_opportunity=choice(Opportunity, lead.converted_opportunity_id, "name"),
        suggested_grade=str(scored.grade),
        score=scored.score,
        score_reasons=tuple(scored.reasons),
    )


def save_lead(*, session: Session, lead_id: uuid.UUID | None, form: LeadForm) -> uuid.UUID:
    """Validate ``form`` and create or update the lead; returns its id."""
    lead: Lead | None = None
    if lead_id is not None:
        lead = _get(session, Lead, lead_id, "Lead")
    first, last, company = form.first_name.strip(), form.last_name.strip(), form.company.strip()
    if not last and not first and not company:
        raise ValidationError("last_name", "Last name is required (or a company)")
    _max_length(first, 100, "first_name", "First name")
    _max_length(last, 100, "last_name", "Last name")
    _max_length(company, 300, "company", "Company")
    email = _validated_if_changed(lead, "email", form.email, validate_email_field)
    phone = _validated_if_changed(lead, "phone", form.phone, validate_phone_field)
    grade = _enum_or_none(Grade, form.grade, "grade", "Grade")
    status = _enum(LeadStatus, form.status, "status", "Status")
    if status == LeadStatus.CONVERTED and (lead is None or lead.status != LeadStatus.CONVERTED):
        raise ValidationError("status", "Status: use Convert to turn a lead into a customer")
    if lead is not None and lead.status == LeadStatus.CONVERTED and status != LeadStatus.CONVERTED:
        raise ValidationError("status", "Status: a converted lead stays converted")
    _user_exists(session, form.owner_id, "owner_id")
    if lead is None:
        lead = Lead()
        session.add(lead)
    lead.first_name, lead.last_name = first, last
    lead.full_name = display_name(first, last) or company
    lead.company, lead.title = _clean(company), _clean(form.title)
    lead.email, lead.phone = email, phone
    lead.industry, lead.region = _clean(form.industry), _clean(form.region)
    lead.source, lead.campaign = _clean(form.source), _clean(form.campaign)
    lead.grade = grade  # type: ignore[assignment]
    lead.status = status  # type: ignore[assignment]
    lead.owner_id = form.owner_id
    lead.notes = _clean(form.notes)
    session.flush()
    return lead.id


# --------------------------------------------------------------------------- opportunities


def _buying_centre(
    session: Session, opportunity_id: uuid.UUID, account_id: uuid.UUID
) -> tuple[BuyingCentreMember, ...]:
    title = (
        select(AccountContact.title)
        .where(
            AccountContact.contact_id == Contact.id,
            AccountContact.account_id == account_id,
            AccountContact.deleted.is_(False),
        )
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(OpportunityContact, Contact.full_name, title)
        .join(Contact, Contact.id == OpportunityContact.contact_id)
        .where(
            OpportunityContact.opportunity_id == opportunity_id,
            OpportunityContact.deleted.is_(False),
            Contact.deleted.is_(False),
        )
    )
    influence_rank = {Influence.HIGH: 0, Influence.MEDIUM: 1, Influence.LOW: 2}
    members = [
        BuyingCentreMember(
            id=m.id,
            contact_id=m.contact_id,
            name=name,
            title=t or "",
            role=str(m.role),
            attitude=str(m.attitude),
            influence=str(m.influence),
            notes=m.notes or "",
        )
        for m, name, t in rows
    ]
    members.sort(
        key=lambda m: (
            ROLE_ORDER.index(BuyingRole(m.role)),
            influence_rank[Influence(m.influence)],
            m.name,
        )
    )
    return tuple(members)


def load_opportunity(
    session: Session,
    opportunity_id: uuid.UUID | None,
    *,
    account_id: uuid.UUID | None = None,
) -> OpportunityView:
    """The opportunity page's data; ``None`` gives an empty form (optionally for ``account_id``)."""
    owners = owner_choices(session)
    all_stages = stages(session)
    if opportunity_id is None:
        label = ""
        if account_id is not None:
            acc = session.get(Account, account_id)
            label = acc.name if acc is not None and not acc.deleted else ""
        first_open = next((s for s in all_stages if not s.is_closed), None)
        return OpportunityView(
            id=None,
            form=OpportunityForm(account_id=account_id if label else None),
            account_label=label,
            owners=owners,
            stages=all_stages,
            stage_id=first_open.id if first_open else None,
            probability=first_open.probability if first_open else 0,
            account_contacts=_account_contact_choices(session, account_id) if label else (),
        )
    opp = _get(session, Opportunity, opportunity_id, "Opportunity")
    acc = session.get(Account, opp.account_id)
    form = OpportunityForm(
        name=opp.name,
        account_id=opp.account_id,
        amount=format(opp.amount, "f"),
        currency=opp.currency,
        close_date=opp.close_date.isoformat() if opp.close_date else "",
        purchase_type=str(opp.purchase_type) if opp.purchase_type else "",
        lead_source=_text(opp.lead_source),
        next_step=_text(opp.next_step),
        competitors=_text(opp.competitors),
        products_of_interest=_text(opp.products_of_interest),
        description=_text(opp.description),
        owner_id=opp.owner_id,
    )
    return OpportunityView(
        id=opp.id,
        form=form,
        account_label=acc.name if acc is not None else "",
        owners=owners,
        stages=all_stages,
        stage_id=opp.stage_id,
        probability=opp.probability,
        probability_overridden=opp.probability_overridden,
        weighted_amount=weighted(opp.amount, opp.probability, opp.currency),
        loss_reason=_text(opp.loss_reason),
        lessons_learned=_text(opp.lessons_learned),
        closed_at=opp.closed_at,
        buying_centre=_buying_centre(session, opp.id, opp.account_id),
        account_contacts=_account_contact_choices(session, opp.account_id),
        timeline=_timeline(session, Activity.opportunity_id == opp.id),
    )


def _account_contact_choices(session: Session, account_id: uuid.UUID | None) -> tuple[Choice, ...]:
    if account_id is None:
        return ()
    rows = session.execute(
        select(Contact.id, Contact.full_name, AccountContact.title)
        .join(AccountContact, AccountContact.contact_id == Contact.id)
        .where(
            AccountContact.account_id == account_id,
            AccountContact.deleted.is_(False),
            Contact.deleted.is_(False),
        )
        .order_by(Contact.full_name)
    )
    return tuple(Choice(i, f"{n} ({t})" if t else n) for i, n, t in rows)


def save_opportunity(
    *,
    session: Session,
    opportunity_id: uuid.UUID | None,
    form: OpportunityForm,
    stage_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Validate ``form`` and create or update the opportunity's own fields; returns its id.

    Stage, probability and closing are not touched for an existing opportunity: they change only
    through :mod:`crm_desktop.services.pipeline`. A new one starts in ``stage_id`` (the first
    open stage when omitted) with that stage's probability.
    """
    opp: Opportunity | None = None
    if opportunity_id is not None:
        opp = _get(session, Opportunity, opportunity_id, "Opportunity")
    name = _required(form.name, "name", "Name")
    _max_length(name, 300, "name", "Name")
    if form.account_id is None:
        raise ValidationError("account_id", "Account is required")
    acc = session.get(Account, form.account_id)
    if acc is None or acc.deleted:
        raise ValidationError("account_id", "Account: that account no longer exists")
    amount = _decimal(form.amount, "amount", "Amount", required=True)
    currency = form.currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValidationError("currency", "Currency: use a three-letter code such as USD")
    close_date = _iso_date(form.close_date, "close_date", "Close date")
    purchase_type = _enum_or_none(
        PurchaseType, form.purchase_type, "purchase_type", "Purchase type"
    )
    next_step = _clean(form.next_step)
    _max_length(next_step, 500, "next_step", "Next step")
    lead_source = _clean(form.lead_source)
    _max_length(lead_source, 100, "lead_source", "Lead source")
    _user_exists(session, form.owner_id, "owner_id")
    if opp is None:
        stage = _initial_stage(session, stage_id)
        opp = Opportunity(
            name=name,
            account_id=acc.id,
            stage_id=stage.id,
            probability=stage.probability,
            probability_overridden=False,
        )
        session.add(opp)
    opp.name, opp.account_id = name, acc.id
    opp.amount = amount if amount is not None else Decimal(0)
    opp.currency, opp.close_date = currency, close_date
    opp.purchase_type = purchase_type  # type: ignore[assignment]
    opp.lead_source, opp.next_step = lead_source, next_step
    opp.competitors = _clean(form.competitors)
    opp.products_of_interest = _clean(form.products_of_interest)
    opp.description = _clean(form.description)
    opp.owner_id = form.owner_id
    session.flush()
    return opp.id


def _initial_stage(session: Session, stage_id: uuid.UUID | None) -> SalesStage:
    if stage_id is not None:
        stage = session.get(SalesStage, stage_id)
        if stage is None or stage.deleted:
            raise ValidationError("stage_id", "Stage: that stage no longer exists")
        if stage.is_closed:
            raise ValidationError("stage_id", "Stage: a new opportunity starts in an open stage")
        return stage
    return pipeline.first_open_stage(session=session)


def save_buying_centre_member(
    *,
    session: Session,
    opportunity_id: uuid.UUID,
    member_id: uuid.UUID | None,
    contact_id: uuid.UUID | None,
    role: str,
    attitude: str,
    influence: str,
    notes: str = "",
) -> uuid.UUID:
    """Add a contact to the buying centre, or edit a member; returns the member id."""
    _get(session, Opportunity, opportunity_id, "Opportunity")
    if contact_id is None:
        raise ValidationError("contact_id", "Contact is required")
    contact = session.get(Contact, contact_id)
    if contact is None or contact.deleted:
        raise ValidationError("contact_id", "Contact: that contact no longer exists")
    role_v = _enum(BuyingRole, role, "role", "Role")
    attitude_v = _enum(Attitude, attitude, "attitude", "Attitude")
    influence_v = _enum(Influence, influence, "influence", "Influence")
    # The (opportunity, contact, role) triple is unique even among tombstones.
    same = session.scalar(
        select(OpportunityContact).where(
            OpportunityContact.opportunity_id == opportunity_id,
            OpportunityContact.contact_id == contact_id,
            OpportunityContact.role == role_v,
        )
    )
    if same is not None and not same.deleted and same.id != member_id:
        raise ValidationError("role", f"Role: {contact.full_name} already has that role here")
    member: OpportunityContact | None = None
    if member_id is not None:
        member = _get(session, OpportunityContact, member_id, "Buying centre member")
        if same is not None and same.id != member_id:
            # Moving onto a tombstoned duplicate: revive that row, retire this one.
            member.deleted = True
            member = same
    elif same is not None:
        member = same
    if member is None:
        member = OpportunityContact(
            opportunity_id=opportunity_id, contact_id=contact_id, role=role_v
        )
        session.add(member)
    member.deleted = False
    member.contact_id = contact_id
    member.role = role_v  # type: ignore[assignment]
    member.attitude = attitude_v  # type: ignore[assignment]
    member.influence = influence_v  # type: ignore[assignment]
    member.notes = _clean(notes)
    session.flush()
    return member.id


def remove_buying_centre_member(*, session: Session, member_id: uuid.UUID) -> None:
    """Tombstone a buying-centre member."""
    member = _get(session, OpportunityContact, member_id, "Buying centre member")
    member.deleted = True
    session.flush()


# --------------------------------------------------------------------------- delete


def delete_record(*, session: Session, entity: str, record_id: uuid.UUID) -> None:
    """Tombstone a record (never a hard delete: deletes travel through sync like edits).

    Links that only make sense with the record (a contact's jobs, buying-centre seats) are
    tombstoned with it. An account with opportunities still open is refused: those deals
    would be left hanging off a deleted customer.
    """
    models: dict[str, type[SyncMixin]] = {
        "account": Account,
        "contact": Contact,
        "lead": Lead,
        "opportunity": Opportunity,
    }
    if entity not in models:
        raise ValueError(f"cannot delete {entity!r} records here")
    obj = _get(session, models[entity], record_id, entity.capitalize())
    if entity == "account":
        open_count = session.scalar(
            select(func.count())
            .select_from(Opportunity)
            .join(SalesStage, SalesStage.id == Opportunity.stage_id)
            .where(
                Opportunity.account_id == record_id,
                Opportunity.deleted.is_(False),
                SalesStage.is_closed.is_(False),
            )
        )
        if open_count:
            raise ValidationError(
                "name",
                f"This account has {open_count} open opportunit"
                f"{'y' if open_count == 1 else 'ies'}; close or move them before deleting it",
            )
        _tombstone(session, select(AccountContact).where(AccountContact.account_id == record_id))
    elif entity == "contact":
        _tombstone(session, select(AccountContact).where(AccountContact.contact_id == record_id))
        _tombstone(
            session, select(OpportunityContact).where(OpportunityContact.contact_id == record_id)
        )
    elif entity == "opportunity":
        _tombstone(
            session,
            select(OpportunityContact).where(OpportunityContact.opportunity_id == record_id),
        )
    obj.deleted = True
    session.flush()


def _tombstone(session: Session, stmt: object) -> None:
    for row in session.scalars(stmt):  # type: ignore[call-overload]
        row.deleted = True


# --------------------------------------------------------------------------- pipeline board


def close_period(period: str, today: date) -> tuple[date | None, date | None]:
    """First and last day (inclusive) of a named close period; ``(None, None)`` for "all"."""
    if period == "all":
        return None, None
    if period == "this_year":
        return date(today.year, 1, 1), date(today.year, 12, 31)
    quarter_start_month = 3 * ((today.month - 1) // 3) + 1
    start = date(today.year, quarter_start_month, 1)
    if period == "next_quarter":
        start = _add_months(start, 3)
    elif period != "this_quarter":
        raise ValueError(f"unknown close period {period!r}")
    end = _add_months(start, 3) - timedelta(days=1)
    return start, end


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    return date(day.year + month // 12, month % 12 + 1, 1)


def load_board(
    session: Session,
    *,
    owner_id: uuid.UUID | None = None,
    period: str = "all",
    today: date | None = None,
) -> BoardData:
    """Opportunities as cards per stage, with the pipeline's own per-stage figures.

    The header figures come from :func:`crm_desktop.services.pipeline.pipeline_summary` with the
    same filters as the cards (a ranged period leaves out deals with no close date, as the
    summary does), so a column's count always equals its cards.
    """
    start, end = close_period(period, today or date.today())
    owners = [owner_id] if owner_id is not None else None
    summary = pipeline.pipeline_summary(
        session=session, owner_ids=owners, close_from=start, close_to=end
    )
    stmt = (
        select(
            Opportunity.id,
            Opportunity.name,
            Account.name,
            User.full_name,
            Opportunity.amount,
            Opportunity.currency,
            Opportunity.probability,
            Opportunity.close_date,
            Opportunity.stage_id,
        )
        .join(Account, Account.id == Opportunity.account_id)
        .outerjoin(User, User.id == Opportunity.owner_id)
        .where(Opportunity.deleted.is_(False))
        .order_by(Opportunity.close_date.is_(None), Opportunity.close_date, Opportunity.name)
    )
    if owner_id is not None:
        stmt = stmt.where(Opportunity.owner_id == owner_id)
    if start is not None:
        stmt = stmt.where(Opportunity.close_date >= start)
    if end is not None:
        stmt = stmt.where(Opportunity.close_date <= end)
    by_stage: dict[uuid.UUID, list[BoardCard]] = {s.stage_id: [] for s in summary}
    for (
        oid,
        name,
        account,
        owner,
        amount,
        currency,
        probability,
        close,
        stage_id,
    ) in session.execute(stmt):
        cards = by_stage.get(stage_id)
        if cards is not None:
            cards.append(
                BoardCard(
                    id=oid,
                    name=name,
                    account=account,
                    owner=owner or "",
                    amount=amount,
                    currency=currency,
                    probability=probability,
                    weighted=weighted(amount, probability, currency),
                    close_date=close,
                )
            )
    counts: dict[str, int] = {}
    for column in summary:
        for t in column.by_currency:
            counts[t.currency] = counts.get(t.currency, 0) + t.count
    main = max(counts, key=lambda k: counts[k]) if counts else "USD"
    columns = tuple(
        BoardColumn(
            stage=StageInfo(s.stage_id, s.name, s.position, s.probability, s.is_closed, s.is_won),
            cards=tuple(by_stage[s.stage_id]),
            count=s.count,
            totals=tuple(sorted(s.by_currency, key=lambda t: (t.currency != main, t.currency))),
        )
        for s in summary
    )
    return BoardData(
        columns=columns,
        owners=owner_choices(session),
        currency=main,
        period_start=start,
        period_end=end,
    )


def stage_of(session: Session, opportunity_id: uuid.UUID) -> StageInfo:
    """The current stage of one opportunity (after a move, to confirm what the board shows)."""
    opp = _get(session, Opportunity, opportunity_id, "Opportunity")
    s = session.get(SalesStage, opp.stage_id)
    assert s is not None
    return StageInfo(s.id, s.name, s.position, s.probability, s.is_closed, s.is_won)
