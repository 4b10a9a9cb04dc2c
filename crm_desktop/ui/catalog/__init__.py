"""The product catalog screen: products, price lists per currency, and their prices."""

from crm_desktop.ui.catalog.catalog_view import CatalogView

__all__ = ["CatalogView"]
