"""Table models of the record lists, fetching lazily from SQLite on the store worker.

How 100k rows stay instant: the model never counts or loads the whole table before showing
anything. It asks for one small page (enough to fill a window) sorted in SQL by the chosen
column, then further pages through Qt's ``canFetchMore``/``fetchMore`` as the user scrolls.
Pages are read with ``LIMIT``/``OFFSET`` ordered by the sort column and the id (a stable order, so
no row is skipped or shown twice between pages); the default sort columns are indexed
(``ix_contact_full_name``, ...), so the first page is a short index walk. The total is counted
in a separate, later query that the view shows when it arrives.

Threading contract: SQL is built and run by the plain functions here on the store worker
(:class:`~crm_desktop.ui.tasks.TaskRunner`); the worker returns tuples of display strings, and
the model only ever touches those on the UI thread. Every reload bumps a generation number, and
pages of an older generation are dropped, so a slow page for the previous filter never lands
in the list of the current one.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

import shiboken6
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from sqlalchemy import (
    ColumnClause,
    ColumnElement,
    Float,
    FromClause,
    Select,
    TextClause,
    and_,
    cast,
    false,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import QueryableAttribute, aliased

from crm_desktop.models import Account, AccountContact, Contact, Lead, Opportunity, SalesStage, User
from crm_desktop.models.base import UTCDateTime
from crm_desktop.store import Store
from crm_desktop.store.search import matching_ids
from crm_desktop.ui.saved_filters import Condition, resolve_value
from crm_desktop.ui.tasks import TaskRunner

#: Item role holding the record's UUID (for opening it).
ID_ROLE = Qt.ItemDataRole.UserRole + 1

FIRST_PAGE = 120
NEXT_PAGE = 400

_Index = QModelIndex | QPersistentModelIndex
#: A column or expression usable in a SELECT: a Core column element or an ORM attribute.
Expr: TypeAlias = ColumnElement[Any] | QueryableAttribute[Any]


@dataclass(frozen=True)
class ListColumn:
    """One column of a list: what it shows, how it sorts, how it is formatted."""

    key: str
    title: str
    expr: Expr
    kind: str = "text"  # text | label | date | datetime | money | percent
    sort_expr: Expr | None = None
    width: int = 160


@dataclass(frozen=True)
class ListSpec:
    """What one entity's list reads: the joined tables, its columns and its filterable fields."""

    entity: str
    title: str
    source: FromClause
    id_column: Expr
    deleted_column: Expr
    columns: tuple[ListColumn, ...]
    fields: dict[str, Expr]
    default_sort: str

    def column_index(self, key: str) -> int:
        """Position of column ``key``."""
        return next(i for i, c in enumerate(self.columns) if c.key == key)


@dataclass(frozen=True)
class ListQuery:
    """What the user asked the list for: quick-filter text, saved-filter conditions and a sort."""

    text: str = ""
    conditions: tuple[Condition, ...] = ()
    sort_key: str = ""
    descending: bool = False


@dataclass(frozen=True)
class Page:
    """Rows read from the store: ``(uuid, display string, ...)`` per row, in list order."""

    rows: list[tuple[Any, ...]]
    exhausted: bool


@dataclass
class QueryEnv:
    """What ``@`` tokens in conditions resolve against (the day and the current user)."""

    user_id: uuid.UUID | None = None
    today: date = field(default_factory=date.today)


def guarded(owner: QObject, fn: Callable[..., Any], *args: Any) -> Callable[[Any], None]:
    """A runner callback calling ``fn(*args, result)`` only while ``owner`` still exists.

    The runner skips dead bound methods by itself; closures need this, since a list or popup
    may be closed while its query is still on the worker.
    """

    def call(result: Any) -> None:
        if shiboken6.isValid(owner):
            fn(*args, result)

    return call


def _owner() -> Any:
    return aliased(User, name="owner")


def _build_specs() -> dict[str, ListSpec]:
    specs: dict[str, ListSpec] = {}

    owner = _owner()
    acct = Account.__table__
    specs["account"] = ListSpec(
        entity="account",
        title="Accounts",
        source=acct.outerjoin(owner, owner.id == Account.owner_id),
        id_column=Account.id,
        deleted_column=Account.deleted,
        columns=(
            ListColumn("name", "Name", Account.name, width=240),
            ListColumn("industry", "Industry", Account.industry),
            ListColumn("region", "Region", Account.region, width=120),
            ListColumn("status", "Status", Account.status, kind="label", width=90),
            ListColumn("grade", "Grade", Account.customer_grade, width=60),
            ListColumn("phone", "Phone", Account.phone, width=140),
            ListColumn("owner", "Owner", owner.full_name, width=140),
            ListColumn("updated", "Updated", Account.updated_at, kind="datetime", width=100),
        ),
        fields={
            "owner": Account.owner_id,
            "status": Account.status,
            "grade": Account.customer_grade,
            "industry": Account.industry,
            "region": Account.region,
        },
        default_sort="name",
    )

    owner = _owner()
    link_account = aliased(Account, name="link_account")
    primary_account = (
        select(link_account.name)
        .join(AccountContact, AccountContact.account_id == link_account.id)
        .where(AccountContact.contact_id == Contact.id, AccountContact.deleted.is_(False))
        .order_by(AccountContact.is_primary.desc())
        .limit(1)
        .correlate(Contact)
        .scalar_subquery()
    )
    specs["contact"] = ListSpec(
        entity="contact",
        title="Contacts",
        source=Contact.__table__.outerjoin(owner, owner.id == Contact.owner_id),
        id_column=Contact.id,
        deleted_column=Contact.deleted,
        columns=(
            ListColumn("name", "Name", Contact.full_name, width=200),
            ListColumn("account", "Account", primary_account, width=200),
            ListColumn("email", "E-mail", Contact.email, width=220),
            ListColumn("phone", "Phone", func.coalesce(Contact.phone, Contact.mobile), width=140),
            ListColumn("owner", "Owner", owner.full_name, width=140),
            ListColumn(
                "last_contacted",
                "Last contacted",
                Contact.last_contacted_at,
                kind="datetime",
                width=110,
            ),
        ),
        fields={"owner": Contact.owner_id, "last_contacted": Contact.last_contacted_at},
        default_sort="name",
    )

    owner = _owner()
    specs["lead"] = ListSpec(
        entity="lead",
        title="Leads",
        source=Lead.__table__.outerjoin(owner, owner.id == Lead.owner_id),
        id_column=Lead.id,
        deleted_column=Lead.deleted,
        columns=(
            ListColumn("name", "Name", Lead.full_name, width=180),
            ListColumn("company", "Company", Lead.company, width=190),
            ListColumn("grade", "Grade", Lead.grade, width=60),
            ListColumn("status", "Status", Lead.status, kind="label", width=100),
            ListColumn("source", "Source", Lead.source, width=115),
            ListColumn("owner", "Owner", owner.full_name, width=140),
            ListColumn(
                "last_contacted",
                "Last contacted",
                Lead.last_contacted_at,
                kind="datetime",
                width=110,
            ),
        ),
        fields={
            "owner": Lead.owner_id,
            "grade": Lead.grade,
            "status": Lead.status,
            "source": Lead.source,
            "last_contacted": Lead.last_contacted_at,
        },
        default_sort="name",
    )

    owner = _owner()
    opp_account = aliased(Account, name="opp_account")
    specs["opportunity"] = ListSpec(
        entity="opportunity",
        title="Opportunities",
        source=Opportunity.__table__.join(SalesStage, SalesStage.id == Opportunity.stage_id)
        .outerjoin(opp_account, opp_account.id == Opportunity.account_id)
        .outerjoin(owner, owner.id == Opportunity.owner_id),
        id_column=Opportunity.id,
        deleted_column=Opportunity.deleted,
        columns=(
            ListColumn("name", "Name", Opportunity.name, width=240),
            ListColumn("account", "Account", opp_account.name, width=200),
            ListColumn("stage", "Stage", SalesStage.name, sort_expr=SalesStage.position, width=110),
            ListColumn(
                "amount",
                "Amount",
                Opportunity.amount,
                kind="money",
                sort_expr=cast(Opportunity.amount, Float),
                width=120,
            ),
            ListColumn("probability", "Prob.", Opportunity.probability, kind="percent", width=60),
            ListColumn("close_date", "Close date", Opportunity.close_date, kind="date", width=100),
            ListColumn("owner", "Owner", owner.full_name, width=140),
        ),
        fields={
            "owner": Opportunity.owner_id,
            "closed": SalesStage.is_closed,
            "won": SalesStage.is_won,
            "close_date": Opportunity.close_date,
            "stage": SalesStage.name,
        },
        default_sort="close_date",
    )
    return specs


_SPECS: dict[str, ListSpec] | None = None


def list_spec(entity: str) -> ListSpec:
    """The list definition of ``entity`` (account, contact, lead or opportunity)."""
    global _SPECS
    if _SPECS is None:
        _SPECS = _build_specs()
    return _SPECS[entity]


def _as_bound(column: Expr, value: Any) -> Any:
    # Timestamp columns hold UTC instants; a day from a filter token means midnight UTC.
    if (
        isinstance(column.type, UTCDateTime)
        and isinstance(value, date)
        and not isinstance(value, datetime)
    ):
        return datetime.combine(value, time.min, tzinfo=UTC)
    return value


def compile_condition(spec: ListSpec, condition: Condition, env: QueryEnv) -> ColumnElement[bool]:
    """The SQL test of one saved-filter condition."""
    column = spec.fields[condition.field]
    value = resolve_value(condition.value, today=env.today, user_id=env.user_id)
    if condition.op in ("eq", "ne", "lt", "le", "gt", "ge", "before_or_null") and value is None:
        # "@me" with no current user (or a cleared value): nothing can match a missing value.
        return false() if condition.op != "ne" else column.is_not(None)
    if isinstance(value, list):
        value = [_as_bound(column, v) for v in value]
    else:
        value = _as_bound(column, value)
    ops: dict[str, Callable[[], ColumnElement[bool]]] = {
        "eq": lambda: column == value,
        "ne": lambda: or_(column != value, column.is_(None)),
        "in": lambda: column.in_(value),
        "not_in": lambda: or_(column.not_in(value), column.is_(None)),
        "lt": lambda: column < value,
        "le": lambda: column <= value,
        "gt": lambda: column > value,
        "ge": lambda: column >= value,
        "is_null": lambda: column.is_(None),
        "not_null": lambda: column.is_not(None),
        "before_or_null": lambda: or_(column.is_(None), column < value),
    }
    return ops[condition.op]()


def build_select(spec: ListSpec, query: ListQuery, env: QueryEnv) -> Select[Any]:
    """The unpaged, sorted SELECT of a list."""
    stmt = select(spec.id_column, *(c.expr for c in spec.columns)).select_from(spec.source)
    return _order(_where(stmt, spec, query, env), spec, query)


def build_page_select(
    spec: ListSpec, query: ListQuery, env: QueryEnv, offset: int, limit: int
) -> Select[Any]:
    """One page, in two steps: the rowids of the page, then the shown columns of only those rows.

    The inner query computes nothing but the filter and the sort key, so the rows skipped by
    OFFSET (and the rows a sort has to look at) never pay for display columns such as the
    contact's account name (a subquery per row); only the rows shown do.
    """
    rowid: ColumnClause[Any] = literal_column(f"{spec.entity}.rowid")
    page = _order(_where(select(rowid).select_from(spec.source), spec, query, env), spec, query)
    page = page.offset(offset).limit(limit)
    stmt = select(spec.id_column, *(c.expr for c in spec.columns)).select_from(spec.source)
    return _order(stmt.where(rowid.in_(page.scalar_subquery())), spec, query)


def _where(stmt: Select[Any], spec: ListSpec, query: ListQuery, env: QueryEnv) -> Select[Any]:
    clauses: list[ColumnElement[bool] | TextClause] = [spec.deleted_column.is_(False)]
    clauses.extend(compile_condition(spec, c, env) for c in query.conditions)
    # The same matching as the global search (phone digits included), from search.py itself.
    found = matching_ids(query.text, prefix="list_") if query.text.strip() else None
    if found is not None:
        ids, params = found
        # The search index keys records by their dashed UUID text; the tables store 32 hex digits.
        table = spec.entity  # each entity's table is named after it
        clauses.append(
            text(
                f"{table}.id IN (SELECT replace(d.ref, '-', '') FROM search_doc d"
                f" WHERE d.id IN ({ids}) AND d.entity = :list_entity)"
            ).bindparams(list_entity=spec.entity, **params)
        )
    return stmt.where(and_(*clauses))


def _order(stmt: Select[Any], spec: ListSpec, query: ListQuery) -> Select[Any]:
    key = query.sort_key or spec.default_sort
    column = next((c for c in spec.columns if c.key == key), spec.columns[0])
    expr = column.sort_expr if column.sort_expr is not None else column.expr
    # The rowid breaks ties so that pages read with OFFSET never overlap or leave gaps. It is
    # the rowid, not the UUID, because an index on the sort column already holds its entries in
    # (value, rowid) order: SQLite then walks the index with no sort step, and skipping the
    # OFFSET rows costs an index step each instead of computing and sorting every row before them.
    tie: ColumnClause[Any] = literal_column(f"{spec.entity}.rowid")
    if query.descending:
        return stmt.order_by(expr.desc(), tie.desc())
    return stmt.order_by(expr.asc(), tie.asc())


def _display(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "money":
        try:
            return f"{Decimal(value):,.2f}"
        except (InvalidOperation, ValueError):
            return str(value)
    if kind == "label":  # a stored vocabulary value: "qualified" -> "Qualified"
        return str(value).replace("_", " ").capitalize()
    if kind == "percent":
        return f"{value} %"
    if kind == "datetime" and isinstance(value, datetime):
        return value.astimezone().date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def fetch_page(
    store: Store, spec: ListSpec, query: ListQuery, env: QueryEnv, offset: int, limit: int
) -> Page:
    """Read one page of the list (runs on the store worker)."""
    stmt = build_page_select(spec, query, env, offset, limit + 1)
    kinds = [c.kind for c in spec.columns]
    with store.sessions() as session:
        result = session.execute(stmt).all()
    rows = [
        (row[0], *(_display(kind, value) for kind, value in zip(kinds, row[1:], strict=True)))
        for row in result[:limit]
    ]
    return Page(rows=rows, exhausted=len(result) <= limit)


def count_rows(store: Store, spec: ListSpec, query: ListQuery, env: QueryEnv) -> int:
    """How many records the list holds in total (runs on the store worker)."""
    stmt = _where(select(func.count(literal(1))).select_from(spec.source), spec, query, env)
    with store.sessions() as session:
        return int(session.execute(stmt).scalar_one())


class RecordTableModel(QAbstractTableModel):
    """A lazily fetched, SQL-sorted list of one entity's records.

    Signals:
        rows_loaded(int): a page arrived; the argument is the number of rows now loaded.
        total_counted(int): the total number of records matching the current query.
        load_failed(str): reading a page failed (the message is for the user).
    """

    rows_loaded = Signal(int)
    total_counted = Signal(int)
    load_failed = Signal(str)

    def __init__(
        self,
        spec: ListSpec,
        *,
        store: Store,
        runner: TaskRunner,
        env: QueryEnv | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.spec = spec
        self._store = store
        self._runner = runner
        self._env = env or QueryEnv()
        self._query = ListQuery(sort_key=spec.default_sort)
        self._rows: list[tuple[Any, ...]] = []
        self._exhausted = True
        self._fetching = False
        self._generation = 0
        self._total: int | None = None
        self._alignments = [
            (Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if c.kind in ("money", "percent")
            else (Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
            for c in spec.columns
        ]

    # --- what the view reads -------------------------------------------------------------
    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008 - Qt signature
        return 0 if parent.isValid() else len(self.spec.columns)

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self._rows):
            return None
        row = self._rows[index.row()]
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return row[index.column() + 1]
        if role == ID_ROLE:
            return row[0]
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self._alignments[index.column()]
        return None

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            role == Qt.ItemDataRole.DisplayRole
            and orientation == Qt.Orientation.Horizontal
            and 0 <= section < len(self.spec.columns)
        ):
            return self.spec.columns[section].title
        return None

    def canFetchMore(self, parent: _Index = QModelIndex()) -> bool:  # noqa: B008 - Qt signature
        return not parent.isValid() and not self._exhausted and not self._fetching

    def fetchMore(self, parent: _Index = QModelIndex()) -> None:  # noqa: B008 - Qt signature
        if parent.isValid() or self._exhausted or self._fetching:
            return
        self._request_page(len(self._rows), NEXT_PAGE)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.spec.columns):
            return
        key = self.spec.columns[column].key
        descending = order == Qt.SortOrder.DescendingOrder
        if (key, descending) == (self._query.sort_key, self._query.descending) and self._generation:
            return
        self.set_query(
            ListQuery(self._query.text, self._query.conditions, sort_key=key, descending=descending)
        )

    # --- what the list view drives -------------------------------------------------------
    @property
    def query(self) -> ListQuery:
        """The query the rows currently answer."""
        return self._query

    @property
    def total(self) -> int | None:
        """Total matching records, once counted."""
        return self._total

    @property
    def is_loading(self) -> bool:
        """True while a page is being read."""
        return self._fetching

    def record_id(self, row: int) -> uuid.UUID | None:
        """The UUID of the record shown in ``row``."""
        return self._rows[row][0] if 0 <= row < len(self._rows) else None

    def set_query(self, query: ListQuery) -> None:
        """Show the records matching ``query`` (empties the list and reads the first page)."""
        self._query = query
        self.reload()

    def set_env(self, env: QueryEnv) -> None:
        """Change what ``@`` tokens resolve to (e.g. after the current user changed)."""
        self._env = env

    def reload(self) -> None:
        """Re-read from the store: the first page now, the total a moment later."""
        self._generation += 1
        self._total = None
        self.beginResetModel()
        self._rows = []
        self._exhausted = False
        self._fetching = False
        self.endResetModel()
        self._request_page(0, FIRST_PAGE)
        generation = self._generation
        spec, query, env, store = self.spec, self._query, self._env, self._store
        self._runner.submit(
            lambda: count_rows(store, spec, query, env),
            on_done=guarded(self, self._on_counted, generation),
            on_error=guarded(self, self._on_failed, generation),
        )

    def refresh(self) -> None:
        """Re-read the rows already shown in one query, keeping the scroll position (data changed)."""
        self._generation += 1
        generation = self._generation
        spec, query, env, store = self.spec, self._query, self._env, self._store
        limit = max(len(self._rows), FIRST_PAGE)
        self._fetching = True
        self._runner.submit(
            lambda: fetch_page(store, spec, query, env, 0, limit),
            on_done=guarded(self, self._on_refreshed, generation),
            on_error=guarded(self, self._on_failed, generation),
        )
        self._runner.submit(
            lambda: count_rows(store, spec, query, env),
            on_done=guarded(self, self._on_counted, generation),
            on_error=guarded(self, self._on_failed, generation),
        )

    # --- results from the worker ---------------------------------------------------------
    def _request_page(self, offset: int, limit: int) -> None:
        self._fetching = True
        generation = self._generation
        spec, query, env, store = self.spec, self._query, self._env, self._store
        self._runner.submit(
            lambda: fetch_page(store, spec, query, env, offset, limit),
            on_done=guarded(self, self._on_page, generation, offset),
            on_error=guarded(self, self._on_failed, generation),
        )

    def _on_page(self, generation: int, offset: int, page: Page) -> None:
        if generation != self._generation or offset != len(self._rows):
            return  # a page of an earlier query or reload
        self._fetching = False
        self._exhausted = page.exhausted
        if page.rows:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page.rows) - 1)
            self._rows.extend(page.rows)
            self.endInsertRows()
        self.rows_loaded.emit(len(self._rows))

    def _on_refreshed(self, generation: int, page: Page) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self.beginResetModel()
        self._rows = list(page.rows)
        self._exhausted = page.exhausted
        self.endResetModel()
        self.rows_loaded.emit(len(self._rows))

    def _on_counted(self, generation: int, total: int) -> None:
        if generation != self._generation:
            return
        self._total = total
        self.total_counted.emit(total)

    def _on_failed(self, generation: int, error: BaseException) -> None:
        if generation != self._generation:
            return
        self._fetching = False
        self._exhausted = True
        self.load_failed.emit(str(error) or type(error).__name__)


def column_keys(spec: ListSpec) -> Sequence[str]:
    """The keys of the columns of ``spec``, in order."""
    return [c.key for c in spec.columns]
