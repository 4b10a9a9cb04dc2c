"""Hybrid logical clock (HLC): the stamp every field edit carries through sync.

A stamp is ``(wall_ms, counter, node)``: physical milliseconds since the Unix epoch, a counter
that orders events within the same millisecond (or while the physical clock lags behind a stamp
already seen), and the id of the device that made it. Stamps are totally ordered by that tuple,
so two devices comparing the same pair of stamps always agree on which edit is later.

Compact string form (what travels on the wire and what the server stores)::

    8 base-36 digits   milliseconds since 2020-01-01T00:00:00Z (good until the year 2109)
    3 base-36 digits   counter (0..46655)
    rest               node (device id as 32 lower-case hex digits; may be empty)

The fixed-width prefix makes the strings of one node sort like the stamps themselves, and keeps
a stamp to 11 bytes inside a push (the device is known from the token, so the node is omitted
there). No Qt and no I/O here: the client and the server both import this module.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import NamedTuple

#: Origin of the encoded wall time: 2020-01-01T00:00:00Z in Unix milliseconds.
EPOCH_MS = 1_577_836_800_000
WALL_DIGITS = 8
COUNTER_DIGITS = 3
PREFIX_LEN = WALL_DIGITS + COUNTER_DIGITS
MAX_WALL_OFFSET = 36**WALL_DIGITS - 1
MAX_COUNTER = 36**COUNTER_DIGITS - 1
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_DIGIT_SET = frozenset(_DIGITS)
#: Regular expression of the node-less stamp used inside push requests.
STAMP_PATTERN = r"^[0-9a-z]{11}$"


class ClockError(ValueError):
    """A stamp that cannot be encoded or decoded, or a remote clock too far ahead to trust."""


def _to_base36(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, rem = divmod(value, 36)
        digits.append(_DIGITS[rem])
    if value:
        raise ClockError(f"value does not fit in {width} base-36 digits")
    return "".join(reversed(digits))


def wall_clock_ms() -> int:
    """The physical clock in Unix milliseconds."""
    return time.time_ns() // 1_000_000


class Hlc(NamedTuple):
    """One hybrid-logical-clock stamp; tuples compare in the protocol's total order."""

    wall_ms: int
    counter: int
    node: str = ""

    def encode(self) -> str:
        """The compact string form, node included."""
        return self.compact() + self.node

    def compact(self) -> str:
        """The 11-character form without the node (as sent inside a push)."""
        offset = self.wall_ms - EPOCH_MS
        if not 0 <= offset <= MAX_WALL_OFFSET:
            raise ClockError(f"wall time {self.wall_ms} outside the encodable range")
        if not 0 <= self.counter <= MAX_COUNTER:
            raise ClockError(f"counter {self.counter} outside 0..{MAX_COUNTER}")
        return _to_base36(offset, WALL_DIGITS) + _to_base36(self.counter, COUNTER_DIGITS)

    @classmethod
    def decode(cls, text: str, node: str | None = None) -> Hlc:
        """Parse the string form; ``node`` replaces whatever node the string carries."""
        prefix = text[:PREFIX_LEN].lower()
        if len(prefix) != PREFIX_LEN or not set(prefix) <= _DIGIT_SET:
            raise ClockError(f"not a clock stamp: {text!r}")
        wall = int(prefix[:WALL_DIGITS], 36) + EPOCH_MS
        counter = int(prefix[WALL_DIGITS:], 36)
        return cls(wall, counter, text[PREFIX_LEN:] if node is None else node)

    def with_node(self, node: str) -> Hlc:
        """The same instant attributed to ``node``."""
        return Hlc(self.wall_ms, self.counter, node)


class HybridLogicalClock:
    """A device's clock: stamps local events and absorbs stamps it receives.

    Thread-safe: the sync worker and the UI's store worker may both stamp edits.
    ``max_forward_ms`` guards against adopting a remote stamp absurdly far in the future
    (a corrupt or hostile peer); ``None`` disables the check.
    """

    def __init__(
        self,
        node: str,
        *,
        now_ms: Callable[[], int] = wall_clock_ms,
        last: Hlc | None = None,
        max_forward_ms: int | None = 24 * 3600 * 1000,
    ) -> None:
        self._node = node
        self._now_ms = now_ms
        self._wall = last.wall_ms if last else 0
        self._counter = last.counter if last else 0
        self._max_forward_ms = max_forward_ms
        self._lock = threading.Lock()

    @property
    def node(self) -> str:
        """The id this clock stamps its events with."""
        return self._node

    @property
    def last(self) -> Hlc:
        """The most recent stamp issued or absorbed (persist it to survive restarts)."""
        with self._lock:
            return Hlc(self._wall, self._counter, self._node)

    def now(self) -> Hlc:
        """A new stamp for a local event (also used for a send), later than any seen so far."""
        with self._lock:
            physical = self._now_ms()
            if physical > self._wall:
                self._wall, self._counter = physical, 0
            else:
                self._advance_counter()
            return Hlc(self._wall, self._counter, self._node)

    def update(self, remote: Hlc) -> Hlc:
        """Absorb a stamp received from elsewhere; returns the new local stamp (later than both)."""
        with self._lock:
            physical = self._now_ms()
            if (
                self._max_forward_ms is not None
                and remote.wall_ms > physical + self._max_forward_ms
            ):
                raise ClockError(
                    f"remote clock is {remote.wall_ms - physical} ms ahead of ours; not adopting it"
                )
            wall = max(self._wall, remote.wall_ms, physical)
            if wall == self._wall and wall == remote.wall_ms:
                counter = max(self._counter, remote.counter) + 1
            elif wall == self._wall:
                counter = self._counter + 1
            elif wall == remote.wall_ms:
                counter = remote.counter + 1
            else:
                counter = 0
            self._wall, self._counter = wall, counter
            if self._counter > MAX_COUNTER:
                self._wall, self._counter = self._wall + 1, 0
            return Hlc(self._wall, self._counter, self._node)

    def _advance_counter(self) -> None:
        # Counter overflow moves the logical wall forward one millisecond rather than failing:
        # order is preserved and the clock catches up with physical time soon after.
        if self._counter >= MAX_COUNTER:
            self._wall, self._counter = self._wall + 1, 0
        else:
            self._counter += 1
