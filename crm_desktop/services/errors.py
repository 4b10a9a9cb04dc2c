"""Errors raised by the domain services.

Services raise these instead of returning flags so a caller (a view, the CLI, a sync apply step)
can roll back the whole transaction and show the user one clear sentence. Both carry structured
fields as well, so a form can put the message next to the field it names.
"""

from __future__ import annotations

import uuid
from typing import Any, TypeVar

from sqlalchemy.orm import Session

T = TypeVar("T")


class ServiceError(Exception):
    """Base class of every error a service raises on purpose."""


class ValidationError(ServiceError):
    """A user action breaks a rule; ``field`` names the input to fix (``"loss_reason"``)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(ServiceError):
    """A record asked for by id does not exist, or is a tombstone (deleted records are gone
    for every business purpose)."""

    def __init__(self, entity: type[Any] | str, id: uuid.UUID | str | None) -> None:
        name = entity if isinstance(entity, str) else entity.__name__
        super().__init__(f"{name} {id} not found")
        self.entity = name
        self.id = id


def get_live(session: Session, entity: type[T], id: uuid.UUID) -> T:
    """Load ``entity`` by id, raising :class:`NotFound` if it is missing or tombstoned."""
    obj = session.get(entity, id)
    if obj is None or getattr(obj, "deleted", False):
        raise NotFound(entity, id)
    return obj
