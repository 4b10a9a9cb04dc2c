"""``crm import-ics`` and ``crm export-ics``: calendar files from the command line.

Registered with :func:`crm_desktop.cli.command`; the ``crm`` parser imports this module when it
is listed in ``crm_desktop.cli.COMMAND_MODULES``. Each handler runs one transaction on the
profile's store; an import that fails writes nothing.
"""

from __future__ import annotations

import argparse
import os
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_desktop.cli import Context, UserError, argument, command
from crm_desktop.models.enums import ActivityKind


def local_zone_name() -> str:
    """The machine's IANA zone: ``$TZ``, else the target of /etc/localtime, else UTC."""
    # Imported here, like the handlers do: icalendar is not needed to start the CLI.
    from crm_desktop.services.ical import iana_name

    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        found = iana_name(name)  # validated against the zone database, Windows names mapped
        if found is not None:
            return found
    return "UTC"


def _zone(value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"unknown time zone {value!r}") from exc


@command(
    "import-ics",
    help="import an iCalendar (.ics) file as activities (all or nothing)",
    description="Import events and to-dos from an .ics file written by Outlook, Google Calendar, "
    "Apple Calendar, Thunderbird or Field CRM. Recurring events become one activity per "
    "occurrence (endless series from 90 days ago to a year ahead). Re-importing a file updates "
    "the activities it made. Any problem is reported with its line and nothing is imported.",
)
@argument("file", metavar="FILE", help="the .ics file ('-' for standard input)")
@argument(
    "--zone",
    type=_zone,
    default=None,
    help="IANA zone for times without one (default: this machine's)",
)
def import_ics_command(ctx: Context, args: argparse.Namespace) -> int:
    """``crm import-ics FILE``: parse, check, then write in one transaction for the current user."""
    import sys

    from crm_desktop.services import ical

    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    zone = args.zone or ZoneInfo(local_zone_name())
    owner = ctx.profile.settings().current_user_id
    try:
        with ctx.store.sessions.begin() as session:
            result = ical.import_ics(session=session, data=data, owner_id=owner, zone=zone)
    except ical.IcsError as exc:
        ctx.stderr.write(f"crm import-ics: {args.file}: nothing was imported: {exc}\n")
        return 1
    ctx.say(f"imported {args.file}: {result.created} created, {result.updated} updated")
    return 0


@command(
    "export-ics",
    help="export activities between two dates to an iCalendar (.ics) file",
    description="Write the activities overlapping the days FROM..TO (both included, in --zone) "
    "to an .ics file any calendar program can open. Times keep the zone they were planned in.",
)
@argument("--from", dest="start", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD")
@argument("--to", dest="end", type=date.fromisoformat, required=True, metavar="YYYY-MM-DD")
@argument("file", metavar="FILE", help="where to write ('-' for standard output)")
@argument(
    "--kind",
    action="append",
    choices=[k.value for k in ActivityKind],
    help="only this kind (repeatable)",
)
@argument("--mine", action="store_true", help="only the current user's activities")
@argument(
    "--zone",
    type=_zone,
    default=None,
    help="zone the days are counted in (default: this machine's)",
)
def export_ics_command(ctx: Context, args: argparse.Namespace) -> int:
    """``crm export-ics --from --to FILE``: one read transaction, file replaced atomically."""
    from crm_desktop.services import ical

    if args.end < args.start:
        raise UserError("--to is before --from")
    zone = args.zone or ZoneInfo(local_zone_name())
    start = datetime.combine(args.start, time(0), zone)
    end = datetime.combine(args.end + timedelta(days=1), time(0), zone)
    owners = None
    if args.mine:
        me = ctx.profile.settings().current_user_id
        if me is None:
            raise UserError("this profile has no current user (run demo-data or sign in first)")
        owners = [me]
    kinds = [ActivityKind(k) for k in args.kind] if args.kind else None
    with ctx.store.sessions() as session, session.begin():
        data = ical.export_ics(
            session=session, start=start, end=end, owner_ids=owners, kinds=kinds, zone=zone
        )
    count = data.count(b"BEGIN:VEVENT") + data.count(b"BEGIN:VTODO")
    if args.file == "-":
        ctx.stdout.flush()
        buffer = getattr(ctx.stdout, "buffer", None)
        if buffer is not None:
            buffer.write(data)
            buffer.flush()
        else:
            ctx.stdout.write(data.decode("utf-8"))
        return 0
    path = Path(args.file)
    tmp = path.with_name(path.name + ".partial")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    ctx.say(f"exported {count} activities to {path}")
    return 0
