"""Quote screens: the quotes list, the quote editor, account orders and the expiry watcher."""

from crm_desktop.ui.quotes.account_orders import AccountOrdersWidget
from crm_desktop.ui.quotes.expiry import QuoteExpiryWatcher
from crm_desktop.ui.quotes.opportunity_quotes import OpportunityQuotesWidget
from crm_desktop.ui.quotes.quote_editor import QuoteEditor
from crm_desktop.ui.quotes.quotes_view import QuotesView
from crm_desktop.ui.quotes.sales_order_page import SalesOrderPage

__all__ = [
    "AccountOrdersWidget",
    "OpportunityQuotesWidget",
    "QuoteEditor",
    "QuoteExpiryWatcher",
    "QuotesView",
    "SalesOrderPage",
]
