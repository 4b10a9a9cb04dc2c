"""HTTP layer of the head-office server: routes, dependencies and error answers."""

from crm_server.api.routes import router

__all__ = ["router"]
