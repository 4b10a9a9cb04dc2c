"""Shared pieces of the calendar views: colours, local-time helpers and overlap layout.

No database access here: views get :class:`~crm_desktop.services.activities.ActivityRow`
snapshots and turn them into pixels in the zone they display.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from PySide6.QtCore import QTimeZone
from PySide6.QtGui import QColor

from crm_desktop.models.enums import ActivityKind, ActivityStatus
from crm_desktop.services.activities import ActivityRow

#: One colour per kind (colour-blind-safe Okabe-Ito hues), used for blocks and the legend.
KIND_COLOURS: dict[ActivityKind, str] = {
    ActivityKind.CALL: "#0072B2",
    ActivityKind.MEETING: "#009E73",
    ActivityKind.EMAIL: "#E69F00",
    ActivityKind.TASK: "#CC79A7",
    ActivityKind.NOTE: "#7F7F7F",
}
#: Colours given to overlaid team members' calendars, in the order they are picked.
OWNER_PALETTE = (
    "#3366CC",
    "#DC3912",
    "#FF9900",
    "#109618",
    "#990099",
    "#0099C6",
    "#DD4477",
    "#66AA00",
)
TODAY_TINT = "#FFF8E1"
NOW_LINE = "#D50000"
GRID_LINE = "#E0E0E0"
SNAP = timedelta(minutes=15)

KIND_LABELS: dict[ActivityKind, str] = {
    ActivityKind.CALL: "Call",
    ActivityKind.MEETING: "Meeting",
    ActivityKind.EMAIL: "E-mail",
    ActivityKind.TASK: "Task",
    ActivityKind.NOTE: "Note",
}


def system_zone() -> ZoneInfo:
    """The zone the desktop runs in, as an IANA ZoneInfo (UTC if Qt cannot name it)."""
    name = bytes(QTimeZone.systemTimeZoneId().data()).decode("ascii", errors="ignore")
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def block_colour(row: ActivityRow, owner_colours: dict[uuid.UUID, str] | None = None) -> QColor:
    """Fill colour: the owner's when calendars are overlaid, else the kind's; paler when closed."""
    if owner_colours and row.owner_id in owner_colours and len(owner_colours) > 1:
        colour = QColor(owner_colours[row.owner_id])
    else:
        colour = QColor(KIND_COLOURS[row.kind])
    if row.status != ActivityStatus.PLANNED:
        colour = colour.lighter(160)
    return colour


def text_colour(fill: QColor) -> QColor:
    """Black or white, whichever reads better on ``fill``."""
    # Perceived brightness (ITU-R BT.601 weights): orange and yellow read better with black.
    luma = 0.299 * fill.red() + 0.587 * fill.green() + 0.114 * fill.blue()
    return QColor("#000000") if luma > 150 else QColor("#FFFFFF")


def local_span(row: ActivityRow, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """Start and end of a timed row as naive wall-clock times in ``zone``."""
    span = row.span_utc()
    if span is None:
        return None
    start, end = span
    return (
        start.astimezone(zone).replace(tzinfo=None),
        end.astimezone(zone).replace(tzinfo=None),
    )


def to_utc(naive_local: datetime, zone: ZoneInfo) -> datetime:
    """An aware instant for a wall-clock time in ``zone``."""
    return naive_local.replace(tzinfo=zone)


def day_span(row: ActivityRow) -> tuple[date, date] | None:
    """First day and exclusive end day of an all-day row."""
    if not row.all_day or row.start_date is None:
        return None
    return row.start_date, row.end_date or row.start_date + timedelta(days=1)


def row_days(row: ActivityRow, zone: ZoneInfo) -> list[date]:
    """Every local day a row touches (for month cells and the agenda)."""
    span = day_span(row)
    if span is not None:
        first, end = span
    else:
        local = local_span(row, zone)
        if local is None:
            return []
        first = local[0].date()
        # An entry ending at midnight does not touch the next day.
        end = (local[1] - timedelta(microseconds=1)).date() + timedelta(days=1)
        end = max(end, first + timedelta(days=1))
    return [first + timedelta(days=i) for i in range((end - first).days)]


def snap_down(value: datetime, step: timedelta = SNAP) -> datetime:
    """Round a naive time down to the grid step."""
    midnight = datetime.combine(value.date(), time(0))
    steps = (value - midnight) // step
    return midnight + steps * step


def snap_nearest(value: datetime, step: timedelta = SNAP) -> datetime:
    """Round a naive time to the nearest grid step."""
    return snap_down(value + step / 2, step)


def week_start(day: date) -> date:
    """The Monday on or before ``day`` (ISO weeks)."""
    return day - timedelta(days=day.weekday())


@dataclass(frozen=True)
class Lane:
    """Where one timed block sits among those it overlaps: column index and column count."""

    column: int
    columns: int


def pack_lanes(
    spans: Sequence[tuple[uuid.UUID, datetime, datetime]], min_span: timedelta = SNAP
) -> dict[uuid.UUID, Lane]:
    """Side-by-side columns for overlapping blocks of one day (greedy, like most calendars).

    ``min_span`` is the shortest a block is drawn: two short entries that would overlap on
    screen (a block is never less than a text line tall) get separate columns too.
    """
    result: dict[uuid.UUID, Lane] = {}
    ordered = sorted(spans, key=lambda s: (s[1], -(s[2] - s[1]).total_seconds()))
    cluster: list[tuple[uuid.UUID, int]] = []
    column_ends: list[datetime] = []
    cluster_end: datetime | None = None

    def close() -> None:
        for ident, col in cluster:
            result[ident] = Lane(col, len(column_ends))

    for ident, start, end in ordered:
        end = max(end, start + min_span)
        if cluster_end is not None and start >= cluster_end:
            close()
            cluster, column_ends, cluster_end = [], [], None
        for col, col_end in enumerate(column_ends):
            if col_end <= start:
                column_ends[col] = end
                break
        else:
            col = len(column_ends)
            column_ends.append(end)
        cluster.append((ident, col))
        cluster_end = end if cluster_end is None else max(cluster_end, end)
    close()
    return result


def short_time(value: datetime) -> str:
    """ "09:30" (24-hour clock, no locale surprises in a dense grid)."""
    return value.strftime("%H:%M")
