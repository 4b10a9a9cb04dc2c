"""Tests of the catalog, quote approval, quote PDF and quote CLI (issue 5)."""
