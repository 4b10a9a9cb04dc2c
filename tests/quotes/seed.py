"""Realistic records for the quote tests and screenshots: users, a Chinese customer, a catalog.

``seed_quote_world(session)`` writes them through the ORM (so the search index is filled) and
returns their ids by name. Prices are chosen to make the arithmetic awkward on purpose
(three-decimal dinar prices, yen without decimals, a 0.005 that has to round).
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from crm_desktop.models import (
    Account,
    AccountContact,
    Address,
    Contact,
    Opportunity,
    Price,
    PriceList,
    Product,
    User,
)
from crm_desktop.models.enums import Role
from crm_desktop.services.pipeline import ensure_default_stages

PRODUCTS: tuple[tuple[str, str, str, str, str], ...] = (
    # code, name, unit, tax, description
    ("PMP-100", "Centrifugal pump 100 l/min", "pcs", "13", "Stainless steel, 230 V"),
    ("PMP-250", "Centrifugal pump 250 l/min", "pcs", "13", "Stainless steel, 400 V"),
    ("VLV-DN50", "Ball valve DN50", "pcs", "13", "PN16, flanged"),
    ("SNS-PT100", "Temperature sensor PT100", "pcs", "13", "Class A, 4-wire"),
    ("SRV-INST", "Installation service", "h", "6", "On-site work by a certified technician"),
    ("SRV-MAINT", "Maintenance contract", "year", "6", "Two visits a year, parts excluded"),
    ("CBL-5M", "Signal cable 5 m", "m", "13", "Shielded, halogen-free"),
    ("OLD-PMP", "Legacy pump (discontinued)", "pcs", "13", "Replaced by PMP-100"),
)

PRICES: dict[str, dict[str, str]] = {
    "CNY": {
        "PMP-100": "8650.00",
        "PMP-250": "15890.00",
        "VLV-DN50": "1275.50",
        "SNS-PT100": "389.90",
        "SRV-INST": "680.00",
        "SRV-MAINT": "12000.00",
        "CBL-5M": "0.005",
    },
    "EUR": {
        "PMP-100": "1190.00",
        "PMP-250": "2149.00",
        "VLV-DN50": "175.25",
        "SNS-PT100": "49.99",
        "SRV-INST": "95.00",
        "SRV-MAINT": "1650.00",
        "CBL-5M": "2.345",
    },
    "JPY": {"PMP-100": "178000", "VLV-DN50": "26500", "SRV-INST": "14800"},
    "KWD": {"PMP-100": "365.125", "VLV-DN50": "53.755", "SRV-INST": "29.500"},
}


def seed_quote_world(session: Session, *, today: date | None = None) -> dict[str, uuid.UUID]:
    """Users (rep and manager), a Chinese customer with contact and address, an open
    opportunity, eight products (one inactive) and price lists in CNY, EUR, JPY and KWD."""
    today = today or date.today()
    stages = {s.name: s for s in ensure_default_stages(session=session)}
    manager = User(
        username="li.na",
        full_name="李娜 (Li Na)",
        email="li.na@fieldcrm.example",
        role=Role.MANAGER,
    )
    session.add(manager)
    session.flush()
    rep = User(
        username="anna",
        full_name="Anna Schmidt",
        email="anna.schmidt@fieldcrm.example",
        role=Role.REP,
        manager_id=manager.id,
    )
    session.add(rep)
    session.flush()
    account = Account(name="深圳腾飞科技有限公司", industry="Electronics", owner_id=rep.id)
    session.add(account)
    session.flush()
    session.add(
        Address(
            account_id=account.id,
            label="billing",
            street="南山区科技园南区 8 栋 1201",
            city="深圳",
            postal_code="518057",
            country="CN",
        )
    )
    contact = Contact(
        first_name="伟",
        last_name="张",
        full_name="张伟",
        email="zhang.wei@tengfei.example",
        owner_id=rep.id,
    )
    session.add(contact)
    session.flush()
    session.add(
        AccountContact(
            account_id=account.id, contact_id=contact.id, title="采购经理", is_primary=True
        )
    )
    opportunity = Opportunity(
        name="Cooling water pumps 2027",
        account_id=account.id,
        stage_id=stages["Proposal"].id,
        probability=60,
        amount=Decimal("50000"),
        currency="CNY",
        close_date=today + timedelta(days=30),
        owner_id=rep.id,
    )
    session.add(opportunity)
    ids: dict[str, uuid.UUID] = {
        "manager": manager.id,
        "rep": rep.id,
        "account": account.id,
        "contact": contact.id,
    }
    products: dict[str, Product] = {}
    for code, name, unit, tax, description in PRODUCTS:
        product = Product(
            code=code,
            name=name,
            unit=unit,
            default_tax_rate=Decimal(tax),
            description=description,
            active=not code.startswith("OLD"),
        )
        session.add(product)
        products[code] = product
    session.flush()
    for currency, prices in PRICES.items():
        price_list = PriceList(
            name=f"Standard {currency} {today.year}",
            currency=currency,
            valid_from=date(today.year, 1, 1),
            valid_to=date(today.year + 1, 12, 31),
            active=True,
        )
        session.add(price_list)
        session.flush()
        ids[f"list_{currency.lower()}"] = price_list.id
        for code, price in prices.items():
            session.add(
                Price(
                    price_list_id=price_list.id,
                    product_id=products[code].id,
                    unit_price=Decimal(price),
                )
            )
    session.add(
        PriceList(
            name=f"Standard EUR {today.year - 1}",
            currency="EUR",
            valid_from=date(today.year - 1, 1, 1),
            valid_to=date(today.year - 1, 12, 31),
            active=True,
        )
    )
    session.flush()
    ids["opportunity"] = opportunity.id
    ids.update({f"product_{code}": p.id for code, p in products.items()})
    return ids
