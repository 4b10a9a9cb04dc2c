"""SQLAlchemy entities: the one source of the schema, shared by the desktop app and the server.

No Qt and no I/O at import time: importing this package only defines classes.
"""

from crm_desktop.models.accounts import Account, AccountContact, Address, Contact, ContactPoint
from crm_desktop.models.activities import Activity
from crm_desktop.models.base import Base, SyncMixin, new_id, utcnow
from crm_desktop.models.catalog import Price, PriceList, Product
from crm_desktop.models.leads import Lead
from crm_desktop.models.opportunities import Opportunity, OpportunityContact
from crm_desktop.models.people import Quota, SalesStage, Team, User
from crm_desktop.models.quotes import Quote, QuoteLine, SalesOrder, SalesOrderLine

#: Every business entity, keyed by its export/sync type name (lower-case singular).
ENTITIES: dict[str, type[Base]] = {
    "team": Team,
    "user": User,
    "sales_stage": SalesStage,
    "quota": Quota,
    "account": Account,
    "contact": Contact,
    "account_contact": AccountContact,
    "address": Address,
    "contact_point": ContactPoint,
    "lead": Lead,
    "opportunity": Opportunity,
    "opportunity_contact": OpportunityContact,
    "activity": Activity,
    "product": Product,
    "price_list": PriceList,
    "price": Price,
    "quote": Quote,
    "quote_line": QuoteLine,
    "sales_order": SalesOrder,
    "sales_order_line": SalesOrderLine,
}

__all__ = [
    "ENTITIES",
    "Account",
    "AccountContact",
    "Activity",
    "Address",
    "Base",
    "Contact",
    "ContactPoint",
    "Lead",
    "Opportunity",
    "OpportunityContact",
    "Price",
    "PriceList",
    "Product",
    "Quota",
    "Quote",
    "QuoteLine",
    "SalesOrder",
    "SalesOrderLine",
    "SalesStage",
    "SyncMixin",
    "Team",
    "User",
    "new_id",
    "utcnow",
]
