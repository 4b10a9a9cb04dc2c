"""The product catalog: products, price lists per currency, and the prices on them.

Plain functions over a Session (no Qt). Readers return frozen dataclasses so a view never holds
a live ORM object; writers return the id they touched and never commit, so the caller (the UI
task runner, the CLI, a sync apply step) owns the transaction.

Deleting is a tombstone (``deleted``) like everywhere in the store; a product that is still on
quotes is normally *deactivated* instead, which keeps it printable on old quotes but hides it
from the product picker.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from crm_desktop.models import Price, PriceList, Product
from crm_desktop.services.errors import NotFound, ValidationError


@dataclass(frozen=True)
class ProductRow:
    """A product as the catalog and the quote editor show it."""

    id: uuid.UUID
    code: str
    name: str
    description: str
    unit: str
    active: bool
    default_tax_rate: Decimal


@dataclass(frozen=True)
class PriceListRow:
    """A price list with the number of prices on it."""

    id: uuid.UUID
    name: str
    currency: str
    valid_from: date | None
    valid_to: date | None
    active: bool
    price_count: int

    def valid_on(self, day: date) -> bool:
        """Whether the list is active and ``day`` lies inside its (inclusive, open-ended) validity."""
        if not self.active:
            return False
        if self.valid_from is not None and day < self.valid_from:
            return False
        return not (self.valid_to is not None and day > self.valid_to)


@dataclass(frozen=True)
class PriceRow:
    """One product's price on one price list."""

    product_id: uuid.UUID
    code: str
    name: str
    unit: str
    unit_price: Decimal


@dataclass(frozen=True)
class ProductPick:
    """A product offered by the quote editor's picker, with its price on the quote's list (if any)."""

    id: uuid.UUID
    code: str
    name: str
    unit: str
    default_tax_rate: Decimal
    unit_price: Decimal | None


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


def _product_row(product: Product) -> ProductRow:
    return ProductRow(
        id=product.id,
        code=product.code,
        name=product.name,
        description=product.description or "",
        unit=product.unit,
        active=product.active,
        default_tax_rate=product.default_tax_rate,
    )


def _matches(product: Product, words: list[str]) -> bool:
    haystack = _fold(" ".join((product.code, product.name, product.description or "")))
    return all(word in haystack for word in words)


def _search(session: Session, stmt: Select[Product], text: str, limit: int) -> list[Product]:
    # Substring match in Python rather than SQL LIKE: SQLite folds only ASCII case, so "über"
    # would miss "Überwachung", while casefold() handles every script (CJK has no case). A
    # catalog is hundreds or a few thousand products, scanned in milliseconds on the worker;
    # substring matching also finds "4K" inside "Monitor 27in 4K", which a prefix index would not.
    words = _fold(text).split()
    found: list[Product] = []
    for product in session.scalars(stmt.order_by(Product.code)):
        if _matches(product, words):
            found.append(product)
            if len(found) >= limit:
                break
    return found


def list_products(
    *, session: Session, search: str = "", include_inactive: bool = True, limit: int = 1000
) -> list[ProductRow]:
    """Products matching every word of ``search`` (in code, name or description), by code."""
    stmt = select(Product).where(Product.deleted.is_(False))
    if not include_inactive:
        stmt = stmt.where(Product.active.is_(True))
    return [_product_row(p) for p in _search(session, stmt, search, limit)]


def get_product(*, session: Session, product_id: uuid.UUID) -> ProductRow:
    """One product; :class:`NotFound` if missing or deleted."""
    product = session.get(Product, product_id)
    if product is None or product.deleted:
        raise NotFound(Product, product_id)
    return _product_row(product)


def parse_decimal(field: str, value: str | Decimal | int) -> Decimal:
    """``value`` as a Decimal, accepting a comma as decimal separator; :class:`ValidationError` if not a number."""
    if isinstance(value, Decimal | int):
        return Decimal(value)
    text = value.strip().replace(" ", "").replace(",", ".")
    try:
        result = Decimal(text)
    except InvalidOperation:
        raise ValidationError(field, f"'{value}' is not a number") from None
    if not result.is_finite():
        raise ValidationError(field, f"'{value}' is not a number")
    return result


def save_product(
    *,
    session: Session,
    product_id: uuid.UUID | None,
    code: str,
    name: str,
    description: str = "",
    unit: str = "pcs",
    active: bool = True,
    default_tax_rate: Decimal = Decimal(0),
) -> uuid.UUID:
    """Create (``product_id`` None) or update a product; returns its id.

    Codes are unique among live products and compared case-insensitively, because people
    type "ab-100" for "AB-100" and a second product with the same printed code is a mistake.
    Creating a product with the code of a deleted one restores that product (``deleted``
    cleared, fields updated) and returns its id; renaming another product to a deleted one's
    exact code is refused with a message, as the code is unique over deleted rows too.
    """
    code = code.strip()
    name = name.strip()
    if not code:
        raise ValidationError("code", "a product needs a code")
    if not name:
        raise ValidationError("name", "a product needs a name")
    if not Decimal(0) <= default_tax_rate <= Decimal(100):
        raise ValidationError("default_tax_rate", "tax rate must be between 0 and 100 %")
    # Compared in Python: SQLite's lower() folds ASCII only ("ÜB-1" vs "üb-1"). Tombstones are
    # read too: Product.code is unique over every row, deleted or not, so ignoring them let an
    # INSERT or UPDATE hit the constraint as a raw IntegrityError.
    folded = _fold(code)
    live_clash = None
    tombstones: list[uuid.UUID] = []
    exact_tombstone = None
    for other_id, other_code, other_deleted in session.execute(
        select(Product.id, Product.code, Product.deleted).order_by(Product.created_at, Product.id)
    ):
        if other_id == product_id or _fold(other_code) != folded:
            continue
        if not other_deleted:
            live_clash = other_id
        else:
            tombstones.append(other_id)
            if other_code == code:
                exact_tombstone = other_id
    if live_clash is not None:
        raise ValidationError("code", f"another product already has code {code}")
    if product_id is None and tombstones:
        # Re-creating a deleted product's code brings that product back (with the new fields)
        # rather than inserting a second row: old quotes and prices keep pointing at it.
        revived = session.get(Product, exact_tombstone or tombstones[0])
        assert revived is not None
        revived.deleted = False
        product = revived
    elif product_id is None:
        product = Product(code=code)
        session.add(product)
    else:
        if exact_tombstone is not None:
            raise ValidationError(
                "code",
                f"a deleted product still has code {code}; create a product with that code to "
                "restore it, or choose another code",
            )
        found = session.get(Product, product_id)
        if found is None or found.deleted:
            raise NotFound(Product, product_id)
        product = found
    product.code = code
    product.name = name
    product.description = description.strip() or None
    product.unit = unit.strip() or "pcs"
    product.active = active
    product.default_tax_rate = default_tax_rate
    session.flush()
    return product.id


def _price_count(session: Session) -> dict[uuid.UUID, int]:
    rows = session.execute(
        select(Price.price_list_id, func.count())
        .where(Price.deleted.is_(False))
        .group_by(Price.price_list_id)
    )
    return {row[0]: row[1] for row in rows}


def _price_list_row(price_list: PriceList, count: int) -> PriceListRow:
    return PriceListRow(
        id=price_list.id,
        name=price_list.name,
        currency=price_list.currency,
        valid_from=price_list.valid_from,
        valid_to=price_list.valid_to,
        active=price_list.active,
        price_count=count,
    )


def list_price_lists(
    *, session: Session, currency: str | None = None, valid_on: date | None = None
) -> list[PriceListRow]:
    """Price lists (optionally of one currency, or valid on one day), by currency then name."""
    stmt = select(PriceList).where(PriceList.deleted.is_(False))
    if currency:
        stmt = stmt.where(PriceList.currency == currency.upper())
    counts = _price_count(session)
    rows = [
        _price_list_row(p, counts.get(p.id, 0))
        for p in session.scalars(stmt.order_by(PriceList.currency, PriceList.name))
    ]
    if valid_on is not None:
        rows = [r for r in rows if r.valid_on(valid_on)]
    return rows


def get_price_list(*, session: Session, price_list_id: uuid.UUID) -> PriceListRow:
    """One price list; :class:`NotFound` if missing or deleted."""
    price_list = session.get(PriceList, price_list_id)
    if price_list is None or price_list.deleted:
        raise NotFound(PriceList, price_list_id)
    return _price_list_row(price_list, _price_count(session).get(price_list_id, 0))


def save_price_list(
    *,
    session: Session,
    price_list_id: uuid.UUID | None,
    name: str,
    currency: str,
    valid_from: date | None = None,
    valid_to: date | None = None,
    active: bool = True,
) -> uuid.UUID:
    """Create (``price_list_id`` None) or update a price list; returns its id."""
    name = name.strip()
    currency = currency.strip().upper()
    if not name:
        raise ValidationError("name", "a price list needs a name")
    if len(currency) != 3 or not currency.isalpha():
        raise ValidationError("currency", "currency must be a three-letter ISO code (EUR, CNY)")
    if valid_from is not None and valid_to is not None and valid_to < valid_from:
        raise ValidationError("valid_to", "the list must end on or after the day it starts")
    if price_list_id is None:
        price_list = PriceList(name=name, currency=currency)
        session.add(price_list)
    else:
        found = session.get(PriceList, price_list_id)
        if found is None or found.deleted:
            raise NotFound(PriceList, price_list_id)
        price_list = found
    price_list.name = name
    price_list.currency = currency
    price_list.valid_from = valid_from
    price_list.valid_to = valid_to
    price_list.active = active
    session.flush()
    return price_list.id


def list_prices(*, session: Session, price_list_id: uuid.UUID) -> list[PriceRow]:
    """Every live price on a list, by product code."""
    stmt = (
        select(Price, Product)
        .join(Product, Product.id == Price.product_id)
        .where(
            Price.price_list_id == price_list_id,
            Price.deleted.is_(False),
            Product.deleted.is_(False),
        )
        .order_by(Product.code)
    )
    return [
        PriceRow(
            product_id=product.id,
            code=product.code,
            name=product.name,
            unit=product.unit,
            unit_price=price.unit_price,
        )
        for price, product in session.execute(stmt)
    ]


def set_price(
    *,
    session: Session,
    price_list_id: uuid.UUID,
    product_id: uuid.UUID,
    unit_price: Decimal | None,
) -> None:
    """Put ``product_id`` on the list at ``unit_price``, or take it off with ``None``.

    A tombstoned price row is revived rather than duplicated: the (list, product) pair is
    unique, and a delete followed by a re-add must travel through sync as one record.
    """
    if unit_price is not None and unit_price < 0:
        raise ValidationError("unit_price", "a price cannot be negative")
    price = session.scalar(
        select(Price).where(Price.price_list_id == price_list_id, Price.product_id == product_id)
    )
    if unit_price is None:
        if price is not None:
            price.deleted = True
        return
    if price is None:
        session.add(
            Price(price_list_id=price_list_id, product_id=product_id, unit_price=unit_price)
        )
    else:
        price.unit_price = unit_price
        price.deleted = False
    session.flush()


def pick_products(
    *,
    session: Session,
    search: str,
    price_list_id: uuid.UUID | None = None,
    limit: int = 20,
) -> list[ProductPick]:
    """Active products matching ``search`` for the quote editor, with their price on the list.

    Products priced on the list come first (that is usually what the salesperson means); the
    rest follow so an unpriced product can still be quoted at a typed price.
    """
    stmt = select(Product).where(Product.deleted.is_(False), Product.active.is_(True))
    products = _search(session, stmt, search, max(limit * 5, 100))
    prices: dict[uuid.UUID, Decimal] = {}
    if price_list_id is not None and products:
        prices = {
            row[0]: row[1]
            for row in session.execute(
                select(Price.product_id, Price.unit_price).where(
                    Price.price_list_id == price_list_id,
                    Price.deleted.is_(False),
                    Price.product_id.in_([p.id for p in products]),
                )
            )
        }
    picks = [
        ProductPick(
            id=p.id,
            code=p.code,
            name=p.name,
            unit=p.unit,
            default_tax_rate=p.default_tax_rate,
            unit_price=prices.get(p.id),
        )
        for p in products
    ]
    picks.sort(key=lambda pick: pick.unit_price is None)  # stable: code order within each group
    return picks[:limit]
