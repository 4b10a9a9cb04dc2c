"""Wire models of the sync protocol (version 1), shared by the desktop client and the server.

Everything here is plain pydantic v2 with no Qt and no I/O; ``docs/sync-protocol.md`` is the
prose version of the same contract. Field names inside push requests are deliberately short
(``n``, ``h``, ``c``, ``t``, ``f``...) because a one-field edit should cost about 120 bytes in a
batch; the rest of the protocol uses readable names.

Value encoding of record fields (in ``Change.f`` and in pull rows), by column type:

* text, enum  -> JSON string (enums by their stored value, e.g. ``"prospect"``)
* integer     -> JSON integer; boolean -> JSON true/false
* money       -> JSON string with the exact decimal (``"1234.50"``); JSON numbers with a fraction
                 are refused so no amount ever passes through a binary float
* date        -> ``"YYYY-MM-DD"``; timestamp -> ISO 8601 with an offset, sent as UTC ``...Z``
* uuid        -> canonical string (with or without dashes on input, with dashes on output)
* null        -> JSON null
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from crm_desktop.sync.clock import STAMP_PATTERN

#: Version of this wire contract. Bump on any incompatible change to these models.
#: 2: the push answer ``taken`` and the ``same_mutation`` code, revivals (``r``), the
#: first-sync snapshot. A version 1 client would fail on ``taken``, so it is told to update.
PROTOCOL_VERSION = 2
#: Oldest client protocol the server still serves.
MIN_PROTOCOL_VERSION = 2

#: Request headers carrying the client's versions on every ``/v1`` call (principle 8).
PROTOCOL_HEADER = "X-CRM-Protocol"
SCHEMA_HEADER = "X-CRM-Schema"

#: Limits; a request beyond them is refused with 422 (or 413 for the raw body size).
MAX_MUTATIONS_PER_PUSH = 1000
MAX_CHANGES_PER_MUTATION = 1000
MAX_FIELDS_PER_CHANGE = 100
MAX_PULL_LIMIT = 5000
DEFAULT_PULL_LIMIT = 1000
MAX_BODY_BYTES = 8 * 1024 * 1024

#: Wire names of the synced entities; must equal ``crm_desktop.models.ENTITIES`` (tested).
EntityType = Literal[
    "team",
    "user",
    "sales_stage",
    "quota",
    "account",
    "contact",
    "account_contact",
    "address",
    "contact_point",
    "lead",
    "opportunity",
    "opportunity_contact",
    "activity",
    "product",
    "price_list",
    "price",
    "quote",
    "quote_line",
    "sales_order",
    "sales_order_line",
]

#: A field value on the wire (see the module docstring for the encoding per column type).
Scalar = StrictStr | StrictInt | StrictBool | None
#: A node-less HLC stamp, 11 base-36 characters (see :mod:`crm_desktop.sync.clock`).
Stamp = Annotated[str, Field(pattern=STAMP_PATTERN, examples=["0lx2a3b4c00"])]
#: Names and labels: no control characters (PostgreSQL text cannot even hold NUL).
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]*$"
FieldName = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL_CHARS)]
SeqNumber = Annotated[int, Field(ge=0, le=2**63 - 1)]


def schema_fingerprint() -> str:
    """A short fingerprint of the synced entities' names and columns.

    Client and server compute it from the same shared models, so two builds whose entities
    differ in any synced column get different fingerprints and the server answers
    "update required" instead of silently dropping or misreading fields.
    """
    from crm_desktop.models import ENTITIES

    lines = []
    for name in sorted(ENTITIES):
        table = ENTITIES[name].__table__
        columns = ",".join(sorted(column.name for column in table.columns))
        lines.append(f"{name}:{columns}")
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


class _Wire(BaseModel):
    """Base of every wire model: unknown keys are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


# --- handshake and errors ---------------------------------------------------------------------


class VersionInfo(_Wire):
    """``GET /v1/version``: what the server speaks (no authentication needed)."""

    protocol: int
    min_protocol: int
    schema_version: str
    server: str


class ErrorDetail(_Wire):
    """One problem in a request: where it is (``loc``) and what is wrong."""

    loc: list[str | int] = []
    msg: str


class ErrorResponse(_Wire):
    """Body of every 4xx/5xx answer. ``code`` is stable and meant for programs.

    Codes: ``invalid_request`` (422), ``payload_too_large`` (413), ``unauthenticated``,
    ``token_expired``, ``device_revoked``, ``account_disabled`` (401), ``bad_credentials``
    (401), ``too_many_attempts`` (429, see Retry-After), ``device_conflict`` (409),
    ``update_required`` (426 protocol / 409 schema), ``busy`` (503, retry), ``not_found``.
    """

    code: str
    message: str
    details: list[ErrorDetail] = []
    server_protocol: int | None = None
    server_schema: str | None = None


# --- authentication ---------------------------------------------------------------------------


class LoginRequest(_Wire):
    """``POST /v1/login``: exchange a password for a token bound to one device."""

    username: Annotated[str, Field(min_length=1, max_length=100, pattern=NO_CONTROL_CHARS)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]
    device_id: uuid.UUID
    device_name: Annotated[str, Field(max_length=200, pattern=NO_CONTROL_CHARS)] = ""


class LoginResponse(_Wire):
    """The device token (shown once; the server keeps only its hash) and who it belongs to."""

    token: str
    user_id: uuid.UUID
    username: str
    role: Literal["rep", "manager", "admin"]
    device_id: uuid.UUID
    expires_at_ms: int
    server_time_ms: int
    #: The device's highest mutation number the server has applied (0 for a new device);
    #: a re-installed client continues numbering above it.
    last_mutation: int


# --- push -------------------------------------------------------------------------------------


class Change(_Wire):
    """One record change inside a mutation: a create/update of some fields, a tombstone, or a
    revival.

    ``f`` holds the changed fields only. Each field's stamp is ``fh[field]`` if given, else
    this change's ``h``, else the mutation's ``h``. ``o`` optionally carries the base values
    (what the client last had from the server) so the conflict log can show them.
    A change on an id the server does not know creates the record; ``d`` deletes it.

    ``r`` (revive): the record was deleted and the user brought it back (a contact re-linked
    to an account whose link was tombstoned). ``f`` then carries the record's full current
    state, every column the client has, as for a create (``created_at`` allowed; it is used
    only if the revival creates the record). On a tombstone the server un-deletes the record
    and writes ``f`` as plain writes when the revival's stamp (``h``, else the mutation's)
    is later than the delete's; otherwise the tombstone stands (``edit_after_delete``). On a
    live record it is an ordinary update; on an unknown id, a create. ``r`` with ``d`` is
    invalid.
    """

    t: EntityType
    id: uuid.UUID
    f: Annotated[dict[FieldName, Scalar], Field(max_length=MAX_FIELDS_PER_CHANGE)] = {}
    h: Stamp | None = None
    fh: Annotated[dict[FieldName, Stamp], Field(max_length=MAX_FIELDS_PER_CHANGE)] | None = None
    d: bool = False
    o: Annotated[dict[FieldName, Scalar], Field(max_length=MAX_FIELDS_PER_CHANGE)] | None = None
    r: bool = False

    @model_validator(mode="after")
    def _tombstone_has_no_fields(self) -> Change:
        if self.r and self.d:
            raise ValueError("a revival (r=true) cannot also be a tombstone (d=true)")
        if self.r and not self.f:
            raise ValueError("a revival (r=true) carries the record's full state in f")
        if self.d and self.f:
            raise ValueError("a tombstone (d=true) carries no field values")
        if not self.d and not self.f:
            raise ValueError("a change needs at least one field in f, or d=true")
        return self


class Mutation(_Wire):
    """One client transaction, applied atomically; ``n`` is its idempotency key on this device.

    ``n`` increases strictly per device (gaps allowed). ``b`` is the base: the pull cursor the
    client had when it made this transaction (defaults to the request's ``b``); a server change
    with a higher sequence to the same field by another device is a concurrent edit.
    """

    n: Annotated[int, Field(ge=1, le=2**63 - 1)]
    h: Stamp
    b: SeqNumber | None = None
    c: Annotated[list[Change], Field(min_length=1, max_length=MAX_CHANGES_PER_MUTATION)]


class PushRequest(_Wire):
    """``POST /v1/push``: a batch of mutations in the order they were made.

    ``clock`` is the device's HLC at sending time; the server measures the device's clock
    offset from it and corrects the device's stamps when comparing them with others.
    """

    clock: Stamp
    b: SeqNumber = 0
    mutations: Annotated[list[Mutation], Field(min_length=1, max_length=MAX_MUTATIONS_PER_PUSH)]

    @model_validator(mode="after")
    def _numbers_increase(self) -> PushRequest:
        previous = 0
        for mutation in self.mutations:
            if mutation.n <= previous:
                raise ValueError("mutation numbers must increase strictly within a batch")
            previous = mutation.n
        return self


ConflictRule = Literal["lww", "text_keep_both", "delete_wins", "edit_after_delete"]


class Conflict(_Wire):
    """A concurrent edit the server resolved automatically (it is in the server's conflict log).

    ``winner``: ``local`` (this device's value now stands), ``server`` (the other value stands,
    this device's value was overwritten) or ``both`` (long text: both versions kept in
    ``value``). ``base`` is the client-supplied base value (``base_known`` false if not sent).
    """

    t: EntityType
    id: uuid.UUID
    field: str
    rule: ConflictRule
    winner: Literal["local", "server", "both"]
    local: Scalar
    server: Scalar
    value: Scalar
    base: Scalar = None
    base_known: bool = False
    server_stamp: str | None = None


MutationStatus = Literal["applied", "merged", "rejected", "duplicate", "taken"]


#: ``MutationResult.code`` of a ``duplicate`` the server recognised by its stamp: this very
#: mutation was applied before. Without it a ``duplicate`` only says the number is spent (the
#: server's record of it was purged).
SAME_MUTATION = "same_mutation"


class MutationResult(_Wire):
    """What happened to one mutation.

    ``applied``: written as sent. ``merged``: written, but some fields were resolved against
    concurrent edits (see ``conflicts``). ``rejected``: nothing of it was written, permanently
    (``code``/``reason`` say why; the number is consumed so the queue moves on; a resent
    rejected mutation gets the same answer again). ``duplicate``: already processed earlier (a
    retried batch); nothing done; ``code`` is :data:`SAME_MUTATION` when the server recognised
    the mutation by its stamp, absent when it no longer remembers the number. ``taken``: nothing done, this number was used by another
    mutation of this device (another stamp ``h``; a profile restored from a backup):
    renumber above last_mutation and send again.
    """

    n: int
    status: MutationStatus
    code: str | None = None
    reason: str | None = None
    conflicts: list[Conflict] = []


class PushResponse(_Wire):
    """Per-mutation results in request order, and the device's highest applied number."""

    results: list[MutationResult]
    last_mutation: int
    server_time_ms: int
    #: The server's measured offset of this device's clock (device minus server), in ms.
    clock_offset_ms: int


# --- pull -------------------------------------------------------------------------------------


class PullRequest(_Wire):
    """``POST /v1/pull``: the next page of changes visible to the caller after ``cursor``."""

    cursor: SeqNumber = 0
    limit: Annotated[int, Field(ge=1, le=MAX_PULL_LIMIT)] = DEFAULT_PULL_LIMIT


class EntityRows(_Wire):
    """Current state of changed records of one entity, column-wise: ``rows[i][j]`` is field
    ``fields[j]`` of record ``i``. ``fields`` always starts with ``id``; ``deleted`` is never
    included (tombstones travel in ``PullResponse.deletes``)."""

    t: EntityType
    fields: list[str]
    rows: list[list[Scalar]]


class PullResponse(_Wire):
    """A page of changes. Apply in one local transaction together with the new ``cursor``:
    first ``removals`` (records that left the caller's scope: delete locally, no tombstone
    needed, nothing to push), then ``deletes`` (tombstones), then ``upserts``.

    Records may reference records outside the caller's scope (a contact linked to a colleague's
    account); clients must accept such dangling references.
    """

    cursor: int
    has_more: bool
    upserts: list[EntityRows] = []
    deletes: dict[str, list[uuid.UUID]] = {}
    removals: dict[str, list[uuid.UUID]] = {}
    server_time_ms: int


# --- conflicts --------------------------------------------------------------------------------


class ConflictEntry(_Wire):
    """One row of the server's conflict log that concerns the calling device."""

    id: int
    created_at_ms: int
    device_id: uuid.UUID | None
    mutation: int | None
    conflict: Conflict


class ConflictPage(_Wire):
    """``GET /v1/conflicts?after=ID``: conflicts involving this device, oldest first."""

    entries: list[ConflictEntry]
    next_after: int
    has_more: bool
