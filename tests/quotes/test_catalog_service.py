"""The catalog service: product search, unique codes, price lists and prices."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_desktop.models import Product
from crm_desktop.services import catalog
from crm_desktop.services.errors import NotFound, ValidationError


def test_search_matches_every_word_in_code_name_or_description(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    codes = [p.code for p in catalog.list_products(session=session, search="pump 250")]
    assert codes == ["PMP-250"]
    assert [p.code for p in catalog.list_products(session=session, search="halogen")] == ["CBL-5M"]
    assert [p.code for p in catalog.list_products(session=session, search="pmp-25")] == ["PMP-250"]


def test_inactive_products_hidden_on_request(session: Session, world: dict[str, uuid.UUID]) -> None:
    everything = catalog.list_products(session=session, search="pump")
    active = catalog.list_products(session=session, search="pump", include_inactive=False)
    assert "OLD-PMP" in [p.code for p in everything]
    assert "OLD-PMP" not in [p.code for p in active]


def test_like_wildcards_typed_by_the_user_are_literal(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    assert catalog.list_products(session=session, search="%") == []
    assert catalog.list_products(session=session, search="_") == []


def test_product_codes_are_unique_ignoring_case(session: Session) -> None:
    first = catalog.save_product(session=session, product_id=None, code="AB-1", name="A")
    with pytest.raises(ValidationError) as raised:
        catalog.save_product(session=session, product_id=None, code="ab-1", name="B")
    assert raised.value.field == "code"
    # Saving the same product under its own code is not a clash.
    assert catalog.save_product(session=session, product_id=first, code="AB-1", name="A2") == first
    assert catalog.get_product(session=session, product_id=first).name == "A2"


def test_product_needs_code_name_and_sane_tax(session: Session) -> None:
    with pytest.raises(ValidationError, match="code"):
        catalog.save_product(session=session, product_id=None, code=" ", name="A")
    with pytest.raises(ValidationError, match="name"):
        catalog.save_product(session=session, product_id=None, code="X", name="")
    with pytest.raises(ValidationError, match="default_tax_rate"):
        catalog.save_product(
            session=session, product_id=None, code="X", name="X", default_tax_rate=Decimal(101)
        )
    with pytest.raises(NotFound):
        catalog.save_product(session=session, product_id=uuid.uuid4(), code="X", name="X")


def test_parse_decimal_accepts_comma_and_rejects_words() -> None:
    assert catalog.parse_decimal("q", "1 234,5") == Decimal("1234.5")
    with pytest.raises(ValidationError):
        catalog.parse_decimal("q", "abc")
    with pytest.raises(ValidationError):
        catalog.parse_decimal("q", "NaN")


def test_price_lists_filter_by_currency_and_validity(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    eur = catalog.list_price_lists(session=session, currency="eur")
    assert len(eur) == 2
    today = date.today()
    valid = catalog.list_price_lists(session=session, currency="EUR", valid_on=today)
    assert [r.id for r in valid] == [world["list_eur"]]
    assert valid[0].price_count == 7


def test_price_list_validation(session: Session) -> None:
    with pytest.raises(ValidationError, match="currency"):
        catalog.save_price_list(session=session, price_list_id=None, name="X", currency="EURO")
    with pytest.raises(ValidationError, match="valid_to"):
        catalog.save_price_list(
            session=session,
            price_list_id=None,
            name="X",
            currency="EUR",
            valid_from=date(2026, 2, 1),
            valid_to=date(2026, 1, 1),
        )
    new_id = catalog.save_price_list(session=session, price_list_id=None, name="X", currency="chf")
    assert catalog.get_price_list(session=session, price_list_id=new_id).currency == "CHF"


def test_set_price_adds_updates_removes_and_revives(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    list_id, product_id = world["list_jpy"], world["product_PMP-250"]
    catalog.set_price(
        session=session, price_list_id=list_id, product_id=product_id, unit_price=Decimal(320000)
    )
    prices = {
        p.code: p.unit_price for p in catalog.list_prices(session=session, price_list_id=list_id)
    }
    assert prices["PMP-250"] == Decimal(320000)
    catalog.set_price(
        session=session, price_list_id=list_id, product_id=product_id, unit_price=None
    )
    codes = [p.code for p in catalog.list_prices(session=session, price_list_id=list_id)]
    assert "PMP-250" not in codes
    # Re-adding revives the tombstone: (list, product) stays one record for sync.
    catalog.set_price(
        session=session, price_list_id=list_id, product_id=product_id, unit_price=Decimal(1)
    )
    assert len(catalog.list_prices(session=session, price_list_id=list_id)) == 4
    with pytest.raises(ValidationError):
        catalog.set_price(
            session=session, price_list_id=list_id, product_id=product_id, unit_price=Decimal(-1)
        )


def test_picker_puts_priced_products_first_and_hides_inactive(
    session: Session, world: dict[str, uuid.UUID]
) -> None:
    picks = catalog.pick_products(session=session, search="pump", price_list_id=world["list_jpy"])
    # PMP-250 has no yen price, so it follows the priced pump; the discontinued one is hidden.
    assert [(p.code, p.unit_price) for p in picks] == [
        ("PMP-100", Decimal(178000)),
        ("PMP-250", None),
    ]
    kwd = catalog.pick_products(session=session, search="valve", price_list_id=world["list_kwd"])
    assert kwd[0].unit_price == Decimal("53.755")


def test_search_folds_case_in_every_script(session: Session) -> None:
    catalog.save_product(
        session=session, product_id=None, code="ÜB-1", name="Überwachungsmodul", unit="pcs"
    )
    catalog.save_product(session=session, product_id=None, code="CN-1", name="离心泵 ΑΒΓ")
    assert [p.code for p in catalog.list_products(session=session, search="über")] == ["ÜB-1"]
    assert [p.code for p in catalog.list_products(session=session, search="ü")] == ["ÜB-1"]
    assert [p.code for p in catalog.list_products(session=session, search="离心")] == ["CN-1"]
    assert [p.code for p in catalog.list_products(session=session, search="αβγ")] == ["CN-1"]


def test_code_clash_is_found_beyond_ascii(session: Session) -> None:
    catalog.save_product(session=session, product_id=None, code="ÜB-1", name="A")
    with pytest.raises(ValidationError, match="already has code"):
        catalog.save_product(session=session, product_id=None, code="üb-1", name="B")


def test_recreating_a_deleted_products_code_revives_it(session: Session) -> None:
    first = catalog.save_product(session=session, product_id=None, code="PMP-9", name="Old pump")
    other = catalog.save_product(session=session, product_id=None, code="VLV-9", name="Valve")
    product = session.get(Product, first)
    assert product is not None
    product.deleted = True  # as a delete (here or synced from another device) leaves it
    session.flush()
    # Renaming a live product onto the tombstone's exact code would break the unique index.
    with pytest.raises(ValidationError, match="deleted product still has code PMP-9"):
        catalog.save_product(session=session, product_id=other, code="PMP-9", name="Valve")
    revived = catalog.save_product(
        session=session, product_id=None, code="pmp-9", name="New pump", unit="set"
    )
    assert revived == first
    assert (product.deleted, product.code, product.name, product.unit) == (
        False,
        "pmp-9",
        "New pump",
        "set",
    )
    assert session.scalar(select(func.count()).select_from(Product)) == 2
