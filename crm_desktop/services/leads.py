"""Leads: grading, and conversion into account, contact and opportunity.

Grading rule (deterministic; :func:`score_lead` explains every point it gives):

* title: executive (CEO, founder, owner, president, chief …, 总经理, 社長, 대표 …) 30;
  VP, director, head of … 25; manager, lead, buyer, senior … 15; any other title 5;
* company given 15;
* e-mail given 10, and 5 more on a company domain (not a free-mail provider);
* phone given 10;
* source, the first that applies: cold call, purchased or bought list 5 (a bought list stays
  a bought list, whatever else its label says); referral or existing customer 25; partner or
  reseller 20; trade show, event, website, web form, demo request (inbound) 15; webinar,
  campaign, e-mail, newsletter, social, ads 10; anything else 0.

Grade: **A** from 70 points, **B** from 50, **C** from 30, **D** below. The maximum is 95, so an
A needs a senior contact at a named company reached through a good channel; a bare name from a
bought list is a D. A user can always set the grade by hand (:func:`set_lead_grade`); the
suggestion is only applied when asked (:func:`apply_suggested_grade`), so it never overwrites a
judgement.

Conversion (:func:`convert_lead`): the lead becomes an account (or joins the account its
company already is, matched on a normalised name: case, spacing, punctuation and legal-form
suffixes such as Inc, Ltd, GmbH, 有限公司 or 株式会社 ignored), a contact (or the contact who
already has the lead's e-mail) linked to the account with the lead's title, and optionally an
opportunity in the first open stage. Everything points back at the lead through
``source_lead_id`` and the lead points at each through ``converted_*_id``. A lead converts once.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from crm_desktop.models import Account, AccountContact, Contact, Lead, Opportunity, utcnow
from crm_desktop.models.enums import AccountKind, Grade, LeadStatus
from crm_desktop.services.errors import ValidationError, get_live
from crm_desktop.services.money import normalise_currency
from crm_desktop.services.pipeline import first_open_stage

# --- grading -------------------------------------------------------------------------------

_EXECUTIVE = re.compile(
    r"\b(ceo|cfo|cto|coo|cio|cmo|cso|cro|chief|founder|co-?founder|owner|president|chair(man|woman|person)?"
    r"|managing director|general manager|partner|proprietor|principal owner|geschäftsführer|"
    r"inhaber|vorstand|pdg|directeur général)\b"
    r"|总经理|总裁|董事长|董事|创始人|首席|社長|代表取締役|取締役|会長|대표|사장|회장",
    re.IGNORECASE,
)
_DIRECTOR = re.compile(
    r"\b(vp|svp|evp|vice[- ]president|director|head|direktor|leiter|directeur|directora?)\b"
    r"|总监|部长|經理|经理|部長|本部長|이사|부장",
    re.IGNORECASE,
)
_MANAGER = re.compile(
    r"\b(manager|lead|team lead|supervisor|principal|senior|architect|buyer|purchasing|"
    r"procurement|head buyer)\b|主管|主任|課長|과장|팀장",
    re.IGNORECASE,
)
_SOURCE_POINTS: tuple[tuple[re.Pattern[str], int, str], ...] = (
    (re.compile(r"\b(cold|purchased|bought|list|directory)", re.I), 5, "cold or purchased list"),
    (re.compile(r"\b(referr|recommend|word of mouth|customer)", re.I), 25, "referral"),
    (re.compile(r"\b(partner|reseller|channel)", re.I), 20, "partner"),
    (
        re.compile(
            r"\b(trade ?show|trade ?fair|fair|expo|event|conference|inbound|web ?site|web ?form|"
            r"demo|contact form)",
            re.I,
        ),
        15,
        "trade show, event or inbound",
    ),
    (
        re.compile(
            r"\b(webinar|campaign|e-?mail|newsletter|social|linkedin|advert|ads?|adwords|seo|"
            r"search)\b",
            re.I,
        ),
        10,
        "marketing campaign",
    ),
)
_FREE_MAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.jp", "hotmail.com", "outlook.com",
        "live.com", "msn.com", "aol.com", "icloud.com", "me.com", "gmx.de", "gmx.net", "web.de",
        "mail.ru", "yandex.ru", "qq.com", "163.com", "126.com", "sina.com", "naver.com",
        "daum.net", "proton.me", "protonmail.com",
    }
)  # fmt: skip
_EMAIL = re.compile(r"^[^@\s]+@([^@\s]+\.[^@\s]+)$")

GRADE_THRESHOLDS: tuple[tuple[int, Grade], ...] = ((70, Grade.A), (50, Grade.B), (30, Grade.C))


@dataclass(frozen=True)
class LeadScore:
    """A suggested grade with the points behind it, for the lead form to explain itself."""

    score: int
    grade: Grade
    reasons: tuple[str, ...]


def _title_points(title: str) -> tuple[int, str]:
    if _EXECUTIVE.search(title):
        return 30, "executive title"
    if _DIRECTOR.search(title):
        return 25, "director-level title"
    if _MANAGER.search(title):
        return 15, "manager-level title"
    return 5, "title given"


def score_lead(lead: Lead) -> LeadScore:
    """Score a lead by the rule in the module docstring. Pure: reads the lead, changes nothing."""
    points = 0
    reasons: list[str] = []

    def give(n: int, why: str) -> None:
        nonlocal points
        points += n
        reasons.append(f"+{n} {why}")

    title = (lead.title or "").strip()
    if title:
        give(*_title_points(title))
    if (lead.company or "").strip():
        give(15, "company given")
    email = (lead.email or "").strip().lower()
    match = _EMAIL.match(email)
    if match:
        give(10, "e-mail given")
        if match.group(1) not in _FREE_MAIL:
            give(5, "company e-mail domain")
    if (lead.phone or "").strip():
        give(10, "phone given")
    source = (lead.source or "").strip()
    for pattern, n, why in _SOURCE_POINTS:
        if source and pattern.search(source):
            give(n, f"source: {why}")
            break

    grade = next((g for threshold, g in GRADE_THRESHOLDS if points >= threshold), Grade.D)
    return LeadScore(score=points, grade=grade, reasons=tuple(reasons))


@dataclass(frozen=True)
class LeadGraded:
    """A lead's grade after a grading action; ``suggested`` is what the rule would give."""

    lead_id: uuid.UUID
    grade: Grade | None
    suggested: LeadScore


def set_lead_grade(
    *, session: Session, lead_id: uuid.UUID, grade: Grade | str | None
) -> LeadGraded:
    """Set (or clear, with ``None``) a lead's grade by hand."""
    lead = get_live(session, Lead, lead_id)
    if grade is not None:
        try:
            grade = Grade(str(grade).strip().upper())
        except ValueError:
            raise ValidationError("grade", "must be A, B, C or D") from None
    lead.grade = grade
    session.flush()
    return LeadGraded(lead_id=lead.id, grade=lead.grade, suggested=score_lead(lead))


def apply_suggested_grade(*, session: Session, lead_id: uuid.UUID) -> LeadGraded:
    """Set a lead's grade to what :func:`score_lead` suggests."""
    lead = get_live(session, Lead, lead_id)
    suggestion = score_lead(lead)
    lead.grade = suggestion.grade
    session.flush()
    return LeadGraded(lead_id=lead.id, grade=lead.grade, suggested=suggestion)


# --- company-name matching -----------------------------------------------------------------

# Legal forms dropped from the end (or, for some CJK forms, the start) of a company name.
_LEGAL_WORDS = frozenset(
    {
        "inc", "incorporated", "corp", "corporation", "co", "company", "cos", "ltd", "limited",
        "llc", "llp", "lp", "plc", "pllc", "gmbh", "mbh", "ag", "kg", "kgaa", "ohg", "ug", "ev",
        "se", "sa", "sas", "sarl", "srl", "spa", "sl", "bv", "nv", "oy", "oyj", "ab", "as", "asa",
        "aps", "pty", "pte", "bhd", "sdn", "kk", "kft", "zrt", "sro", "spzoo", "doo", "ooo",
        "pvt", "private",
    }
)  # fmt: skip
_CJK_LEGAL = (
    "股份有限公司", "有限责任公司", "有限責任公司", "有限公司", "集团公司", "集團公司", "公司",
    "株式会社", "有限会社", "合同会社", "合資会社", "(株)", "(有)", "주식회사", "유한회사", "(주)",
)  # fmt: skip
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def normalise_company_name(name: str) -> str:
    """The key two company names must share to be the same company.

    Case, width, spacing and punctuation are ignored, and legal-form words at the end (Inc,
    Ltd, GmbH & Co. KG, Pty Ltd …) or CJK legal forms at either end (有限公司, 株式会社, ㈱,
    주식회사) are dropped, plus a leading "the". A name that is nothing but a legal form keeps
    it rather than becoming empty.
    """
    text = unicodedata.normalize("NFKC", name).casefold().strip()
    # Legal forms with their own punctuation ("(株)", "s.a.r.l.") go before punctuation does.
    changed = not text.isascii()  # the CJK forms below cannot occur in ASCII text
    while changed:
        changed = False
        for form in _CJK_LEGAL:
            if text.endswith(form) and len(text) > len(form):
                text, changed = text[: -len(form)].strip(), True
            elif text.startswith(form) and len(text) > len(form):
                text, changed = text[len(form) :].strip(), True
    # "s.a.r.l." or "b.v." written with dots: join single letters separated by dots.
    text = re.sub(r"\b(?:\w\.){2,}", lambda m: m.group(0).replace(".", ""), text)
    words = [w for w in _NON_WORD.split(text) if w]
    if words and words[0] == "the" and len(words) > 1:
        words = words[1:]
    while len(words) > 1 and words[-1] in _LEGAL_WORDS:
        words.pop()
    # "and"/"&" both spell the same name: "Smith & Sons" == "Smith and Sons".
    return "".join("" if w == "and" else w for w in words) or "".join(words)


def _like_pattern(key: str) -> str:
    # Every ASCII letter/digit of the key in order, anything between: "a.c.m.e gmbh" still
    # matches "%a%c%m%e%". Cased non-ASCII letters are skipped because SQLite's lower() only
    # folds ASCII (Müller/MÜLLER); uncased ones (CJK) are kept.
    chars = [c for c in key if c.isascii() or c.lower() == c.upper()]
    return "%" + "%".join(chars) + "%" if chars else "%"


def _candidates(key: str, dialect: str) -> list[ColumnElement[bool]]:
    """Cheap SQL conditions every account whose name normalises to ``key`` meets.

    They only narrow the scan; :func:`normalise_company_name` decides. A short key ("3m") as a
    spread-out pattern alone would match thousands of names, so the name must also start with
    the key's first character (or with "the", or with something that is not an ASCII letter or
    digit, as CJK names and those opening with a legal form or a quote do), and cannot be much
    longer than the key plus a legal form.
    """
    name = func.lower(Account.name)
    conditions: list[ColumnElement[bool]] = [
        name.like(_like_pattern(key)),
        func.length(Account.name) <= 2 * len(key) + 40,
    ]
    first = key[0]
    if dialect == "sqlite":
        odd_start = Account.name.op("GLOB")("[^a-zA-Z0-9]*")
        if first.isascii() and first.isalnum():
            conditions.append(or_(name.like(f"{first}%"), name.like("the%"), odd_start))
        else:
            conditions.append(odd_start)
    return conditions


def find_account_by_company(*, session: Session, company: str) -> Account | None:
    """The live account whose name normalises like ``company`` (oldest first), if any."""
    key = normalise_company_name(company)
    if not key:
        return None
    dialect = session.get_bind().dialect.name
    # Only (id, name) pairs: cheap to fetch even when a short key leaves many candidates.
    candidates = session.execute(
        select(Account.id, Account.name)
        .where(Account.deleted.is_(False), *_candidates(key, dialect))
        .order_by(Account.created_at, Account.id)
    )
    for account_id, name in candidates:
        if normalise_company_name(name) == key:
            return session.get(Account, account_id)
    return None


def find_contact_by_email(*, session: Session, email: str) -> Contact | None:
    """The live contact with this e-mail (case-insensitive, oldest first), if any."""
    address = email.strip().lower()
    if not address:
        return None
    # Stored addresses keep the case and spaces they were typed or imported with, so the
    # comparison normalises them; ix_contact_email_lower indexes exactly this expression.
    return session.scalars(
        select(Contact)
        .where(Contact.deleted.is_(False), func.lower(func.trim(Contact.email)) == address)
        .order_by(Contact.created_at, Contact.id)
        .limit(1)
    ).first()


# --- conversion ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadConverted:
    """What a conversion made or reused; ``*_created`` is False when an existing record was
    linked instead of a new one made."""

    lead_id: uuid.UUID
    account_id: uuid.UUID
    account_created: bool
    contact_id: uuid.UUID
    contact_created: bool
    opportunity_id: uuid.UUID | None


def _person_name(lead: Lead) -> str:
    name = (lead.full_name or "").strip()
    if not name:
        name = " ".join(
            p for p in ((lead.first_name or "").strip(), (lead.last_name or "").strip()) if p
        )
    return name


def convert_lead(
    *,
    session: Session,
    lead_id: uuid.UUID,
    create_opportunity: bool = True,
    opportunity_name: str | None = None,
    amount: Decimal | None = None,
    currency: str = "USD",
    close_date: date | None = None,
    owner_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> LeadConverted:
    """Turn a lead into account + contact (+ opportunity), linked both ways.

    The owner of new records is ``owner_id``, else the lead's owner. A lead without a company
    becomes an individual account named after the person (or the account the reused contact
    already belongs to). Refuses a lead that is already converted or is disqualified.
    """
    lead = get_live(session, Lead, lead_id)
    if lead.status == LeadStatus.CONVERTED or lead.converted_at is not None:
        raise ValidationError("lead", "this lead was already converted")
    if lead.status == LeadStatus.DISQUALIFIED:
        raise ValidationError(
            "status", "a disqualified lead must be qualified again before conversion"
        )
    person = _person_name(lead)
    company = (lead.company or "").strip()
    if not person and not company:
        raise ValidationError("last_name", "a lead needs a name or a company to convert")
    if amount is not None and (not Decimal(amount).is_finite() or Decimal(amount) < 0):
        raise ValidationError("amount", "must be a positive number")
    owner = owner_id or lead.owner_id
    now = now or utcnow()

    # Contact: reuse whoever already has this e-mail, so one person is one contact.
    contact = find_contact_by_email(session=session, email=lead.email) if lead.email else None
    contact_created = contact is None
    if contact is None:
        if not person:
            raise ValidationError("last_name", "a lead needs a person's name to become a contact")
        contact = Contact(
            first_name=(lead.first_name or "").strip(),
            last_name=(lead.last_name or "").strip(),
            full_name=person,
            email=(lead.email or "").strip() or None,
            phone=(lead.phone or "").strip() or None,
            owner_id=owner,
            source_lead_id=lead.id,
            last_contacted_at=lead.last_contacted_at,
        )
        session.add(contact)
        session.flush()

    # Account: an existing company of the same normalised name, else a new one.
    account: Account | None = None
    if company:
        account = find_account_by_company(session=session, company=company)
    elif not contact_created:
        account = _primary_account(session, contact.id)
    account_created = account is None
    if account is None:
        account = Account(
            name=company or person,
            kind=AccountKind.COMPANY if company else AccountKind.INDIVIDUAL,
            industry=lead.industry,
            region=lead.region,
            owner_id=owner,
            source_lead_id=lead.id,
        )
        session.add(account)
        session.flush()
    _link(session, account.id, contact.id, lead.title)

    opportunity: Opportunity | None = None
    if create_opportunity:
        stage = first_open_stage(session=session)
        opportunity = Opportunity(
            name=(opportunity_name or "").strip()
            or f"{account.name}: {lead.campaign or 'new business'}",
            account_id=account.id,
            stage_id=stage.id,
            probability=stage.probability,
            probability_overridden=False,
            amount=Decimal(amount) if amount is not None else Decimal("0"),
            currency=normalise_currency(currency),
            close_date=close_date,
            lead_source=lead.source,
            owner_id=owner,
            source_lead_id=lead.id,
        )
        session.add(opportunity)
        session.flush()

    lead.status = LeadStatus.CONVERTED
    lead.converted_at = now
    lead.converted_account_id = account.id
    lead.converted_contact_id = contact.id
    lead.converted_opportunity_id = opportunity.id if opportunity else None
    session.flush()
    return LeadConverted(
        lead_id=lead.id,
        account_id=account.id,
        account_created=account_created,
        contact_id=contact.id,
        contact_created=contact_created,
        opportunity_id=opportunity.id if opportunity else None,
    )


def _primary_account(session: Session, contact_id: uuid.UUID) -> Account | None:
    return session.scalars(
        select(Account)
        .join(AccountContact, AccountContact.account_id == Account.id)
        .where(
            AccountContact.contact_id == contact_id,
            AccountContact.deleted.is_(False),
            Account.deleted.is_(False),
        )
        .order_by(AccountContact.is_primary.desc(), AccountContact.created_at)
        .limit(1)
    ).first()


def _link(
    session: Session, account_id: uuid.UUID, contact_id: uuid.UUID, title: str | None
) -> None:
    # (account, contact) is unique even among tombstones, so revive a deleted link rather
    # than insert a second one.
    link = session.scalars(
        select(AccountContact).where(
            AccountContact.account_id == account_id, AccountContact.contact_id == contact_id
        )
    ).first()
    title = (title or "").strip() or None
    if link is None:
        has_other = session.scalar(
            select(func.count())
            .select_from(AccountContact)
            .where(AccountContact.contact_id == contact_id, AccountContact.deleted.is_(False))
        )
        session.add(
            AccountContact(
                account_id=account_id, contact_id=contact_id, title=title, is_primary=not has_other
            )
        )
    else:
        if link.deleted:
            link.deleted = False
        if title and not link.title:
            link.title = title
    session.flush()
