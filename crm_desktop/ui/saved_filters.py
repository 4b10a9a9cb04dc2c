"""Saved filters of the record lists: built-in presets and the user's own, per profile.

A filter is plain data (a quick-filter text plus field conditions) so it can be stored as JSON
in the profile's UI state file and compiled into SQL on the store worker by
:mod:`crm_desktop.ui.list_models`. Values starting with ``@`` are resolved when the query runs,
not when the filter is saved, so "closing this quarter" still means *this* quarter next year:

``@me`` (the profile's current user), ``@today``, ``@today-14d`` / ``@today+30d``,
``@quarter_start``, ``@quarter_end``.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from PySide6.QtCore import QSettings

#: Operators a condition may use (see :func:`crm_desktop.ui.list_models.compile_condition`).
OPERATORS = frozenset(
    {"eq", "ne", "in", "not_in", "lt", "le", "gt", "ge", "is_null", "not_null", "before_or_null"}
)
_RELATIVE_DAY = re.compile(r"^@today([+-])(\d+)d$")


@dataclass(frozen=True)
class Condition:
    """One test on a filterable field of a list, e.g. ``Condition("grade", "eq", "A")``."""

    field: str
    op: str
    value: Any = None

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"unknown filter operator: {self.op}")


@dataclass(frozen=True)
class SavedFilter:
    """A named filter of one entity's list. Built-in presets cannot be deleted."""

    name: str
    entity: str
    text: str = ""
    conditions: tuple[Condition, ...] = field(default_factory=tuple)
    builtin: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored in the profile (built-ins are never stored)."""
        return {
            "name": self.name,
            "entity": self.entity,
            "text": self.text,
            "conditions": [[c.field, c.op, c.value] for c in self.conditions],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SavedFilter:
        """Read a filter written by :meth:`to_json`."""
        return cls(
            name=str(data["name"]),
            entity=str(data["entity"]),
            text=str(data.get("text", "")),
            conditions=tuple(
                Condition(str(f), str(o), v) for f, o, v in data.get("conditions", [])
            ),
        )


def quarter_bounds(today: date) -> tuple[date, date]:
    """First and last day of the calendar quarter holding ``today``."""
    first_month = 3 * ((today.month - 1) // 3) + 1
    start = date(today.year, first_month, 1)
    if first_month == 10:
        end = date(today.year, 12, 31)
    else:
        end = date(today.year, first_month + 3, 1) - timedelta(days=1)
    return start, end


def resolve_value(value: Any, *, today: date, user_id: uuid.UUID | None) -> Any:
    """Replace an ``@`` token by its value now; other values pass through (lists item by item)."""
    if isinstance(value, list | tuple):
        return [resolve_value(v, today=today, user_id=user_id) for v in value]
    if not isinstance(value, str) or not value.startswith("@"):
        return value
    if value == "@me":
        return user_id
    if value == "@today":
        return today
    if value in ("@quarter_start", "@quarter_end"):
        start, end = quarter_bounds(today)
        return start if value == "@quarter_start" else end
    match = _RELATIVE_DAY.match(value)
    if match:
        days = int(match.group(2))
        return today + timedelta(days=days if match.group(1) == "+" else -days)
    raise ValueError(f"unknown filter token: {value}")


_OPEN_LEAD = ["new", "contacted", "qualified"]

#: Presets shipped with the app, per entity; the first of each is "everything".
PRESETS: dict[str, tuple[SavedFilter, ...]] = {
    "account": (
        SavedFilter("All accounts", "account", builtin=True),
        SavedFilter(
            "My accounts", "account", conditions=(Condition("owner", "eq", "@me"),), builtin=True
        ),
        SavedFilter(
            "Active A-grade customers",
            "account",
            conditions=(Condition("status", "eq", "active"), Condition("grade", "eq", "A")),
            builtin=True,
        ),
        SavedFilter(
            "Prospects",
            "account",
            conditions=(Condition("status", "eq", "prospect"),),
            builtin=True,
        ),
    ),
    "contact": (
        SavedFilter("All contacts", "contact", builtin=True),
        SavedFilter(
            "My contacts", "contact", conditions=(Condition("owner", "eq", "@me"),), builtin=True
        ),
        SavedFilter(
            "Not contacted in 90 days",
            "contact",
            conditions=(Condition("last_contacted", "before_or_null", "@today-90d"),),
            builtin=True,
        ),
    ),
    "lead": (
        SavedFilter("All leads", "lead", builtin=True),
        SavedFilter(
            "A-grade leads not contacted in 14 days",
            "lead",
            conditions=(
                Condition("grade", "eq", "A"),
                Condition("status", "in", _OPEN_LEAD),
                Condition("last_contacted", "before_or_null", "@today-14d"),
            ),
            builtin=True,
        ),
        SavedFilter(
            "My new leads",
            "lead",
            conditions=(Condition("owner", "eq", "@me"), Condition("status", "eq", "new")),
            builtin=True,
        ),
        SavedFilter(
            "Qualified leads",
            "lead",
            conditions=(Condition("status", "eq", "qualified"),),
            builtin=True,
        ),
    ),
    "opportunity": (
        SavedFilter("All opportunities", "opportunity", builtin=True),
        SavedFilter(
            "My open opportunities closing this quarter",
            "opportunity",
            conditions=(
                Condition("owner", "eq", "@me"),
                Condition("closed", "eq", False),
                Condition("close_date", "ge", "@quarter_start"),
                Condition("close_date", "le", "@quarter_end"),
            ),
            builtin=True,
        ),
        SavedFilter(
            "Open, closing in the next 30 days",
            "opportunity",
            conditions=(
                Condition("closed", "eq", False),
                Condition("close_date", "ge", "@today"),
                Condition("close_date", "le", "@today+30d"),
            ),
            builtin=True,
        ),
        SavedFilter(
            "Open and overdue",
            "opportunity",
            conditions=(Condition("closed", "eq", False), Condition("close_date", "lt", "@today")),
            builtin=True,
        ),
        SavedFilter("Won", "opportunity", conditions=(Condition("won", "eq", True),), builtin=True),
    ),
}


class SavedFilterStore:
    """The user's saved filters of a profile, kept in its QSettings file (``ui_state_path``).

    Threading: UI thread only (QSettings is cheap and local; no store access).
    """

    GROUP = "saved_filters"

    def __init__(self, settings: QSettings) -> None:
        self._settings = settings

    def filters(self, entity: str) -> list[SavedFilter]:
        """Presets first, then the user's own filters in the order saved."""
        return [*PRESETS.get(entity, ()), *self.user_filters(entity)]

    def user_filters(self, entity: str) -> list[SavedFilter]:
        """Only the filters the user saved for ``entity``."""
        raw = self._settings.value(f"{self.GROUP}/{entity}", "")
        if not raw:
            return []
        try:
            return [SavedFilter.from_json(item) for item in json.loads(str(raw))]
        except (ValueError, KeyError, TypeError):
            # A hand-edited or older file must not stop the list from opening; start over.
            return []

    def save(self, saved: SavedFilter) -> None:
        """Add ``saved``, replacing a user filter of the same name."""
        if any(p.name == saved.name for p in PRESETS.get(saved.entity, ())):
            raise ValueError(f"“{saved.name}” is the name of a built-in filter")
        kept = [f for f in self.user_filters(saved.entity) if f.name != saved.name]
        kept.append(SavedFilter(saved.name, saved.entity, saved.text, saved.conditions))
        self._write(saved.entity, kept)

    def delete(self, entity: str, name: str) -> None:
        """Remove the user filter called ``name`` (built-ins are not stored, so never removed)."""
        self._write(entity, [f for f in self.user_filters(entity) if f.name != name])

    def _write(self, entity: str, filters: list[SavedFilter]) -> None:
        self._settings.setValue(
            f"{self.GROUP}/{entity}", json.dumps([f.to_json() for f in filters], ensure_ascii=False)
        )
        self._settings.sync()
