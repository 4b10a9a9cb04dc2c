"""Field CRM head-office server: accounts, scopes and the push/pull sync API (FastAPI).

Build the application with :func:`crm_server.app.create_app`; nothing connects to a database
at import time.
"""

__version__ = "0.1.0"
