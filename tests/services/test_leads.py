"""Lead grading and conversion into account, contact and opportunity."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_desktop.models import Account, AccountContact, Contact, Lead, Opportunity, SalesStage
from crm_desktop.models.enums import AccountKind, Grade, LeadStatus
from crm_desktop.services import leads
from crm_desktop.services.errors import ValidationError

from .conftest import Builder


def _lead(session: Session, **fields: object) -> Lead:
    defaults: dict[str, object] = {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "full_name": "Ada Lovelace",
    }
    lead = Lead(**{**defaults, **fields})
    session.add(lead)
    session.flush()
    return lead


def _count(session: Session, entity: type[Account | Contact | Opportunity]) -> int:
    query = select(func.count()).select_from(entity).where(entity.deleted.is_(False))
    return session.scalar(query) or 0


# --- grading ---------------------------------------------------------------------------------


def test_senior_contact_at_named_company_by_referral_is_an_a() -> None:
    lead = Lead(
        title="Chief Financial Officer",
        company="Acme GmbH",
        email="ada@acme.example",
        phone="+49 30 1234567",
        source="Referral",
    )
    score = leads.score_lead(lead)
    assert score.score == 95
    assert score.grade == Grade.A
    assert "+30 executive title" in score.reasons
    assert "+25 source: referral" in score.reasons


def test_bare_name_from_a_bought_list_is_a_d() -> None:
    score = leads.score_lead(Lead(full_name="Joe Bloggs", source="Purchased list"))
    assert (score.score, score.grade) == (5, Grade.D)


@pytest.mark.parametrize(
    ("fields", "grade"),
    [
        # director 25 + company 15 + e-mail 10 (free mail, no bonus) + trade show 15 = 65
        (
            {
                "title": "Sales Director",
                "company": "X",
                "email": "a@gmail.com",
                "source": "Trade show",
            },
            Grade.B,
        ),
        # manager 15 + company 15 + webinar 10 = 40
        ({"title": "IT Manager", "company": "X", "source": "Webinar"}, Grade.C),
        # executive in Chinese 30 + company 15 + company mail 15 + phone 10 = 70: exactly the A line
        (
            {"title": "总经理", "company": "华为", "email": "z@huawei.example", "phone": "1"},
            Grade.A,
        ),
        # 49 points is not quite a B: other title 5 + company 15 + mail 15 + phone 10 = 45
        ({"title": "Engineer", "company": "X", "email": "e@x.example", "phone": "1"}, Grade.C),
    ],
)
def test_grade_thresholds(fields: dict[str, str], grade: Grade) -> None:
    assert leads.score_lead(Lead(**fields)).grade == grade


def test_grading_is_deterministic() -> None:
    lead = Lead(title="VP Sales", company="Initech", email="p@initech.example", source="partner")
    assert leads.score_lead(lead) == leads.score_lead(lead)


def test_grade_set_by_hand_and_suggestion_applied_on_request(session: Session) -> None:
    lead = _lead(session, title="CEO", company="Acme", source="referral")
    assert lead.grade is None  # the rule never grades behind the user's back
    graded = leads.set_lead_grade(session=session, lead_id=lead.id, grade="c")
    assert graded.grade == Grade.C == lead.grade
    assert graded.suggested.grade == Grade.A
    applied = leads.apply_suggested_grade(session=session, lead_id=lead.id)
    assert applied.grade == Grade.A == lead.grade
    with pytest.raises(ValidationError, match="grade"):
        leads.set_lead_grade(session=session, lead_id=lead.id, grade="E")


# --- company-name matching -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Acme Inc.", "ACME"),
        ("Acme, Inc", "acme incorporated"),
        ("Müller GmbH & Co. KG", "MÜLLER"),
        ("Smith & Sons Ltd", "Smith and Sons"),
        ("The Coca-Cola Company", "Coca Cola"),
        ("A.C.M.E. Pty Ltd", "ACME"),
        ("华为技术有限公司", "华为技术"),
        ("华为技术股份有限公司", "华为技术"),
        ("トヨタ自動車株式会社", "トヨタ自動車"),
        ("株式会社 ソニー", "ソニー"),
        ("㈱ソニー", "ソニー"),
        ("삼성전자 주식회사", "삼성전자"),
        ("ＡＣＭＥ　Ｌｔｄ", "Acme"),
    ],
)
def test_company_names_that_are_the_same_company(a: str, b: str) -> None:
    assert leads.normalise_company_name(a) == leads.normalise_company_name(b)


@pytest.mark.parametrize(
    ("a", "b"), [("Acme", "Acme Labs"), ("Initech", "Initrode"), ("华为", "中兴")]
)
def test_company_names_that_differ(a: str, b: str) -> None:
    assert leads.normalise_company_name(a) != leads.normalise_company_name(b)


def test_a_name_that_is_only_a_legal_form_is_kept() -> None:
    assert leads.normalise_company_name("Company") == "company"


# --- conversion ------------------------------------------------------------------------------


def test_conversion_makes_account_contact_and_opportunity_linked_both_ways(
    session: Session, make: Builder, stages: dict[str, SalesStage]
) -> None:
    rep = make.user("rep")
    lead = _lead(
        session,
        company="Analytical Engines Ltd",
        title="Head of Research",
        email="ada@engines.example",
        phone="+44 20 7946 0000",
        source="Referral",
        industry="Manufacturing",
        owner_id=rep.id,
    )
    result = leads.convert_lead(
        session=session,
        lead_id=lead.id,
        amount=Decimal("25000.00"),
        currency="gbp",
        close_date=date(2026, 9, 30),
    )
    assert result.account_created and result.contact_created

    account = session.get(Account, result.account_id)
    contact = session.get(Contact, result.contact_id)
    opp = session.get(Opportunity, result.opportunity_id)
    assert account is not None and contact is not None and opp is not None
    assert account.name == "Analytical Engines Ltd" and account.kind == AccountKind.COMPANY
    assert account.industry == "Manufacturing" and account.owner_id == rep.id
    assert (contact.full_name, contact.email) == ("Ada Lovelace", "ada@engines.example")
    link = session.scalars(
        select(AccountContact).where(AccountContact.contact_id == contact.id)
    ).one()
    assert (link.account_id, link.title, link.is_primary) == (account.id, "Head of Research", True)

    # The opportunity starts in the first open stage with that stage's probability.
    assert opp.stage_id == stages["Prospecting"].id and opp.probability == 10
    assert (opp.amount, opp.currency, opp.close_date) == (
        Decimal("25000.00"),
        "GBP",
        date(2026, 9, 30),
    )
    assert opp.account_id == account.id and opp.lead_source == "Referral" and opp.owner_id == rep.id

    # Linked both ways.
    assert lead.status == LeadStatus.CONVERTED and lead.converted_at is not None
    assert (
        lead.converted_account_id,
        lead.converted_contact_id,
        lead.converted_opportunity_id,
    ) == (
        account.id,
        contact.id,
        opp.id,
    )
    assert account.source_lead_id == contact.source_lead_id == opp.source_lead_id == lead.id


def test_converting_twice_is_refused(session: Session, stages: dict[str, SalesStage]) -> None:
    lead = _lead(session, company="Acme")
    leads.convert_lead(session=session, lead_id=lead.id)
    with pytest.raises(ValidationError, match="already converted"):
        leads.convert_lead(session=session, lead_id=lead.id)
    assert _count(session, Account) == 1 and _count(session, Opportunity) == 1


def test_existing_company_is_linked_not_duplicated(
    session: Session, make: Builder, stages: dict[str, SalesStage]
) -> None:
    existing = make.account("ACME, Inc.")
    make.account("Acme Labs")  # similar, but a different company
    lead = _lead(session, company="  acme inc ", title="Buyer")
    result = leads.convert_lead(session=session, lead_id=lead.id, opportunity_name="Widgets 2026")
    assert not result.account_created
    assert result.account_id == existing.id
    assert _count(session, Account) == 2
    opp = session.get(Opportunity, result.opportunity_id)
    assert opp is not None and opp.name == "Widgets 2026" and opp.account_id == existing.id
    # An existing account keeps its own origin: it did not come from this lead.
    assert existing.source_lead_id is None


def test_existing_chinese_company_is_matched(
    session: Session, make: Builder, stages: dict[str, SalesStage]
) -> None:
    existing = make.account("深圳华为技术有限公司")
    lead = _lead(session, full_name="张伟", first_name="伟", last_name="张", company="深圳华为技术")
    result = leads.convert_lead(session=session, lead_id=lead.id, create_opportunity=False)
    assert result.account_id == existing.id
    assert result.opportunity_id is None and lead.converted_opportunity_id is None


def test_contact_with_the_same_email_is_reused(
    session: Session, make: Builder, stages: dict[str, SalesStage]
) -> None:
    account = make.account("Globex")
    known = Contact(
        first_name="Ada",
        last_name="Lovelace",
        full_name="Ada Lovelace",
        email="Ada@Engines.example",
    )
    session.add(known)
    session.flush()
    session.add(
        AccountContact(account_id=account.id, contact_id=known.id, title="CTO", is_primary=True)
    )
    session.flush()

    lead = _lead(
        session, company="Analytical Engines", email="ada@engines.example ", title="Advisor"
    )
    result = leads.convert_lead(session=session, lead_id=lead.id)
    assert not result.contact_created and result.contact_id == known.id
    assert result.account_created
    assert _count(session, Contact) == 1
    # She now works for both: the old job keeps its title, the new link carries the lead's.
    titles = {
        link.account_id: (link.title, link.is_primary)
        for link in session.scalars(
            select(AccountContact).where(AccountContact.contact_id == known.id)
        )
    }
    assert titles == {account.id: ("CTO", True), result.account_id: ("Advisor", False)}


def test_lead_without_company_becomes_an_individual_customer(
    session: Session, stages: dict[str, SalesStage]
) -> None:
    lead = _lead(session, email="ada@home.example")
    result = leads.convert_lead(session=session, lead_id=lead.id, create_opportunity=False)
    account = session.get(Account, result.account_id)
    assert account is not None
    assert (account.name, account.kind) == ("Ada Lovelace", AccountKind.INDIVIDUAL)


def test_disqualified_lead_is_not_converted(
    session: Session, stages: dict[str, SalesStage]
) -> None:
    lead = _lead(session, company="Acme", status=LeadStatus.DISQUALIFIED)
    with pytest.raises(ValidationError) as err:
        leads.convert_lead(session=session, lead_id=lead.id)
    assert err.value.field == "status"
    assert _count(session, Account) == 0


def test_negative_amount_is_refused(session: Session, stages: dict[str, SalesStage]) -> None:
    lead = _lead(session, company="Acme")
    with pytest.raises(ValidationError) as err:
        leads.convert_lead(session=session, lead_id=lead.id, amount=Decimal("-1"))
    assert err.value.field == "amount"
    assert lead.status == LeadStatus.NEW


@pytest.mark.parametrize(
    ("source", "points"),
    [
        ("Referral", 25),
        ("Existing customer", 25),
        ("Reseller", 20),
        ("Trade show Hannover", 15),
        ("Website form", 15),
        ("Newsletter", 10),
        ("Google Ads", 10),
        ("Purchased leads", 5),  # not "ads"
        ("Bought e-mail list", 5),  # a bought list, even of e-mail addresses
        ("Cold call", 5),
        ("Research", 0),  # not "search"
        ("", 0),
    ],
)
def test_source_quality_points(source: str, points: int) -> None:
    assert leads.score_lead(Lead(source=source)).score == points
