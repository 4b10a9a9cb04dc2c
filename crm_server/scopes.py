"""Who may see and write what (DESIGN.md principle 7, rules in docs/sync-protocol.md "Scopes").

Every synced record has one *scope*: either the public catalog, or a scope owner (a user id,
possibly none). A user sees a record when the scope is public or its owner is the user or
anyone below them in the manager hierarchy; admins see everything. The scope of a record is
derived from its first set scope-parent foreign key (an opportunity takes its account's), else
from its own owner column. The server stores each record's scope next to its sequence number
(``srv_sync_record``), so pulls filter with one indexed comparison.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, select

from crm_desktop.models import Base
from crm_desktop.models.enums import Role


@dataclass(frozen=True)
class Scope:
    """Who a record belongs to for visibility: public, or an owner (``None``: admins only)."""

    public: bool
    owner: uuid.UUID | None

    @classmethod
    def of_owner(cls, owner: uuid.UUID | None) -> Scope:
        return cls(False, owner)


PUBLIC = Scope(True, None)


@dataclass(frozen=True)
class ScopeRule:
    """How an entity's scope is derived.

    ``parents``: (foreign-key column, parent entity) in priority order; the first one set wins.
    ``own``: the column naming the scope owner when no parent key is set.
    """

    parents: tuple[tuple[str, str], ...] = ()
    own: str | None = None
    public: bool = False


_ACCOUNT = ("account_id", "account")
RULES: dict[str, ScopeRule] = {
    "team": ScopeRule(public=True),
    "user": ScopeRule(public=True),
    "sales_stage": ScopeRule(public=True),
    "product": ScopeRule(public=True),
    "price_list": ScopeRule(public=True),
    "price": ScopeRule(public=True),
    "quota": ScopeRule(own="user_id"),
    "account": ScopeRule(own="owner_id"),
    "contact": ScopeRule(own="owner_id"),
    "lead": ScopeRule(own="owner_id"),
    "account_contact": ScopeRule(parents=(_ACCOUNT,)),
    "address": ScopeRule(parents=(_ACCOUNT, ("contact_id", "contact"))),
    "contact_point": ScopeRule(parents=(_ACCOUNT, ("contact_id", "contact"))),
    "opportunity": ScopeRule(parents=(_ACCOUNT,), own="owner_id"),
    "opportunity_contact": ScopeRule(parents=(("opportunity_id", "opportunity"),)),
    "quote": ScopeRule(parents=(_ACCOUNT, ("opportunity_id", "opportunity")), own="owner_id"),
    "quote_line": ScopeRule(parents=(("quote_id", "quote"),)),
    "sales_order": ScopeRule(parents=(_ACCOUNT, ("quote_id", "quote")), own="owner_id"),
    "sales_order_line": ScopeRule(parents=(("order_id", "sales_order"),)),
    "activity": ScopeRule(
        parents=(_ACCOUNT, ("opportunity_id", "opportunity"), ("contact_id", "contact")),
        own="owner_id",
    ),
}

#: For each entity, the entities whose scope may derive from it, with the selecting columns:
#: (child entity, the child's key column pointing here, the child's higher-priority key columns
#: that must be empty for this parent to decide).
CHILDREN: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
for _child, _rule in RULES.items():
    for _position, (_column, _parent) in enumerate(_rule.parents):
        _earlier = tuple(column for column, _ in _rule.parents[:_position])
        CHILDREN.setdefault(_parent, []).append((_child, _column, _earlier))


@dataclass
class Hierarchy:
    """The manager tree and roles of all users, loaded once per request."""

    managers: dict[uuid.UUID, uuid.UUID | None]
    roles: dict[uuid.UUID, str]
    _reports: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for user, manager in self.managers.items():
            if manager is not None:
                self._reports.setdefault(manager, []).append(user)

    @classmethod
    def load(cls, connection: Connection) -> Hierarchy:
        """Read every user's manager and role.

        Deactivated and deleted users stay in the tree: their records remain visible to their
        managers until head office reassigns them.
        """
        users = Base.metadata.tables["user"]
        rows = connection.execute(select(users.c.id, users.c.manager_id, users.c.role)).all()
        return cls(
            managers={row.id: row.manager_id for row in rows},
            roles={row.id: str(getattr(row.role, "value", row.role)) for row in rows},
        )

    def is_admin(self, user: uuid.UUID) -> bool:
        return self.roles.get(user) == Role.ADMIN.value

    def subtree(self, user: uuid.UUID) -> set[uuid.UUID]:
        """The user and everyone below them."""
        seen = {user}
        stack = [user]
        while stack:
            for report in self._reports.get(stack.pop(), ()):
                if report not in seen:
                    seen.add(report)
                    stack.append(report)
        return seen

    def chain(self, user: uuid.UUID | None) -> set[uuid.UUID]:
        """The user and everyone above them (the people who can see the user's records)."""
        seen: set[uuid.UUID] = set()
        while user is not None and user not in seen:
            seen.add(user)
            user = self.managers.get(user)
        return seen

    def would_cycle(self, user: uuid.UUID, manager: uuid.UUID | None) -> bool:
        """Whether making ``manager`` the manager of ``user`` creates a loop."""
        return manager is not None and manager in self.subtree(user)

    def viewers(self, scope: Scope) -> set[uuid.UUID]:
        """The non-admin users who can see a record of this scope (public: not enumerated)."""
        if scope.public or scope.owner is None:
            return set()
        return {user for user in self.chain(scope.owner) if not self.is_admin(user)}


class Actor:
    """The user on whose behalf a request reads or writes, with what they may see.

    The manager tree is loaded only when a decision needs it: a rep writing their own
    records (the common push) never reads it.
    """

    def __init__(
        self,
        user_id: uuid.UUID,
        loader: Callable[[], Hierarchy],
        *,
        admin: bool = False,
        hierarchy: Hierarchy | None = None,
    ) -> None:
        self.user_id = user_id
        self.admin = admin
        self._loader = loader
        self._hierarchy = hierarchy
        self._visible: set[uuid.UUID] | None = None

    @property
    def hierarchy(self) -> Hierarchy:
        if self._hierarchy is None:
            self._hierarchy = self._loader()
        return self._hierarchy

    @hierarchy.setter
    def hierarchy(self, value: Hierarchy) -> None:
        self._hierarchy = value
        self._visible = None

    @property
    def hierarchy_loaded(self) -> bool:
        return self._hierarchy is not None

    @property
    def visible_owners(self) -> set[uuid.UUID]:
        """Scope owners whose records this actor sees (themselves and their subtree)."""
        if self._visible is None:
            self._visible = self.hierarchy.subtree(self.user_id)
        return self._visible

    def can_see(self, scope: Scope) -> bool:
        if self.admin or scope.public:
            return True
        if scope.owner is None:
            return False
        return scope.owner == self.user_id or scope.owner in self.visible_owners

    def can_write(self, scope: Scope) -> bool:
        # The catalog and the user list are head office's to change.
        if self.admin:
            return True
        return not scope.public and self.can_see(scope)


def describe(scope: Scope) -> str:
    """Human wording of a scope for rejection reasons."""
    if scope.public:
        return "the shared catalog (admins only)"
    if scope.owner is None:
        return "no owner (admins only)"
    return f"owner {scope.owner}"


def subtree_query(user_id: uuid.UUID | ColumnElement[Any]) -> Select[tuple[uuid.UUID]]:
    """SQL for the ids of a user and everyone below them (a recursive CTE).

    ``user_id`` may be a bound parameter, so a caller can build the statement once.

    Used by pull so the visibility filter is one statement, without loading the tree into
    Python. UNION (not UNION ALL) makes it terminate even on a loop in the data.
    """
    users = Base.metadata.tables["user"]
    tree = select(users.c.id).where(users.c.id == user_id).cte("subtree", recursive=True)
    below = tree.alias("above")
    tree = tree.union(select(users.c.id).join(below, users.c.manager_id == below.c.id))
    return select(tree.c.id)
