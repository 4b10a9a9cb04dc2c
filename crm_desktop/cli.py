"""The headless ``crm`` command: demo data, export and import, and whatever later issues add.

Usage::

    crm [--profile DIR] demo-data [--contacts N] [--seed S]
    crm [--profile DIR] export --format jsonl [--output FILE]
    crm [--profile DIR] import FILE.jsonl

Adding a subcommand: write a handler ``(ctx, args) -> int | None`` and register it with
:func:`command`, its options with :func:`argument` (decorators, read bottom-up like click's)::

    @command("sync", help="exchange changes with the head-office server")
    @argument("--once", action="store_true", help="one round, then exit")
    def sync_command(ctx: Context, args: argparse.Namespace) -> int:
        ...

A handler living outside this module registers the same way; list its module in
:data:`COMMAND_MODULES` so the parser imports it (lazily: ``crm --help`` must stay fast and must
not pull in the HTTP stack).

Exit codes: 0 success, 1 a problem the user can fix (one clear message on stderr, no traceback:
raise :class:`UserError`, or let a service's :class:`~crm_desktop.services.errors.ServiceError`
through), 2 bad usage (argparse's own). Transactions: each handler opens its own unit of work on
``ctx.store``; nothing here commits on a handler's behalf.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from sqlalchemy.exc import OperationalError

from crm_desktop.config import Profile, resolve_profile
from crm_desktop.services.errors import ServiceError
from crm_desktop.store import Store, open_store

#: Modules that register further subcommands with :func:`command` when imported.
COMMAND_MODULES: tuple[str, ...] = (
    "crm_desktop.cli_sync",  # sync, sign-out, conflicts
    "crm_desktop.cli_calendar",  # import-ics, export-ics
    "crm_desktop.cli_quotes",  # quote-pdf, expire-quotes
)

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_USAGE = 2


class UserError(Exception):
    """A problem the user can fix (missing file, non-empty profile...): printed, exit code 1."""


@dataclass
class Context:
    """What a subcommand runs against: the profile, its store (opened on first use, migrating
    it), and the output streams (parameters so tests can run commands in-process)."""

    profile: Profile
    stdout: TextIO
    stderr: TextIO
    _store: Store | None = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        """The profile's store, created and migrated to the newest schema on first use."""
        if self._store is None:
            self.profile.ensure()
            self._store = open_store(
                self.profile.database_path, backup_dir=self.profile.backup_directory
            )
        return self._store

    def close(self) -> None:
        """Release the store's connections (so the file can be copied or removed afterwards)."""
        if self._store is not None:
            self._store.dispose()
            self._store = None

    def say(self, message: str) -> None:
        """A progress or summary line for the user: on stderr, so stdout stays pure data."""
        print(message, file=self.stderr)


Handler = Callable[[Context, argparse.Namespace], int | None]


@dataclass(frozen=True)
class Command:
    """A registered subcommand: its name, one-line help, options and handler."""

    name: str
    help: str
    handler: Handler
    arguments: tuple[tuple[tuple[str, ...], dict[str, Any]], ...]
    description: str | None = None


_COMMANDS: dict[str, Command] = {}
_PENDING_ARGUMENTS = "__crm_arguments__"


def argument(*flags: str, **kwargs: Any) -> Callable[[Handler], Handler]:
    """Declare one option of the subcommand below (the arguments of ``add_argument``)."""

    def decorate(handler: Handler) -> Handler:
        # Decorators apply bottom-up; insert at the front so options keep their written order.
        pending = getattr(handler, _PENDING_ARGUMENTS, [])
        pending.insert(0, (flags, kwargs))
        setattr(handler, _PENDING_ARGUMENTS, pending)
        return handler

    return decorate


def command(
    name: str, *, help: str, description: str | None = None
) -> Callable[[Handler], Handler]:
    """Register ``handler`` as the subcommand ``name`` (with the :func:`argument` options below)."""

    def decorate(handler: Handler) -> Handler:
        if name in _COMMANDS:
            raise ValueError(f"subcommand {name!r} registered twice")
        _COMMANDS[name] = Command(
            name=name,
            help=help,
            handler=handler,
            arguments=tuple(getattr(handler, _PENDING_ARGUMENTS, ())),
            description=description,
        )
        return handler

    return decorate


def build_parser() -> argparse.ArgumentParser:
    """The full parser: global options, then one subparser per registered command."""
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    parser = argparse.ArgumentParser(
        prog="crm", description="Field CRM from the command line (no window, same local store)."
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="profile folder holding the store (default: $CRM_PROFILE or the user data folder)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in sorted(_COMMANDS.values(), key=lambda c: c.name):
        sub = subparsers.add_parser(
            cmd.name, help=cmd.help, description=cmd.description or cmd.help
        )
        for flags, kwargs in cmd.arguments:
            sub.add_argument(*flags, **kwargs)
        sub.set_defaults(handler=cmd.handler)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``crm`` command line; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2): return, don't exit, in-process
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_usage(sys.stderr)
        print("crm: error: a command is required (see crm --help)", file=sys.stderr)
        return EXIT_USAGE
    ctx = Context(profile=resolve_profile(args.profile), stdout=sys.stdout, stderr=sys.stderr)
    try:
        return handler(ctx, args) or EXIT_OK
    except (UserError, ServiceError) as exc:
        print(f"crm {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OperationalError as exc:
        if "locked" not in str(exc.orig):
            raise  # anything else is a bug worth its traceback
        # The app (or another command) held the write lock past the busy timeout.
        print(
            f"crm {args.command}: error: the store {ctx.profile.database_path} is busy"
            " (another program is writing to it); nothing was changed, try again",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("crm: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `crm export | head`: the reader left. Point stdout at devnull so the interpreter's
        # final flush does not raise again, and end quietly (as Python's docs advise).
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # no real file descriptor (in-process callers)
            pass
        return EXIT_USER_ERROR
    finally:
        ctx.close()


# --------------------------------------------------------------------------------------------
# Built-in subcommands


def _positive(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


@command(
    "demo-data",
    help="fill an empty profile with plausible, deterministic demo data",
    description="Fill an empty profile with plausible demo data: users and a sales team, accounts "
    "and contacts in several countries and languages, leads, a pipeline across every stage, "
    "activities, products, price lists and quotes. The same seed always gives the same data. "
    "The profile's current user becomes one of the reps.",
)
@argument("--contacts", type=_positive, default=1000, metavar="N", help="contacts (default 1000)")
@argument("--seed", type=int, default=1, metavar="S", help="random seed (default 1)")
@argument(
    "--today",
    type=date.fromisoformat,
    default=None,
    metavar="YYYY-MM-DD",
    help="the date the data is relative to (default: a fixed date, so output is reproducible)",
)
def demo_data_command(ctx: Context, args: argparse.Namespace) -> int:
    """``crm demo-data``: generate into an empty store, then make one rep the current user."""
    from crm_desktop.services import demo_data

    started = time.perf_counter()
    try:
        with ctx.store.sessions.begin() as session:
            summary = demo_data.generate(
                session=session,
                contacts=args.contacts,
                seed=args.seed,
                today=args.today or demo_data.DEFAULT_TODAY,
            )
    except demo_data.DemoDataError as exc:
        raise UserError(f"{exc} (profile: {ctx.profile.directory})") from exc
    settings = ctx.profile.settings()
    settings.current_user_id = summary.current_user_id
    settings.save()
    elapsed = time.perf_counter() - started
    counts = ", ".join(f"{n} {name}" for name, n in summary.counts.items() if n)
    ctx.say(f"demo data (seed {args.seed}) in {elapsed:.1f} s: {counts}")
    ctx.say(f"current user: {summary.current_username} ({summary.current_user_id})")
    return EXIT_OK


@contextmanager
def _text_output(ctx: Context, target: str | None) -> Iterator[TextIO]:
    """UTF-8 text with ``\\n`` line ends, to ``target`` (replaced atomically) or stdout."""
    if target is None or target == "-":
        stream = ctx.stdout
        encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "")
        buffer: BinaryIO | None = getattr(stream, "buffer", None)
        if encoding == "utf8" or buffer is None:
            yield stream
            stream.flush()
            return
        # A console in a legacy code page cannot show every name; JSONL is UTF-8 by definition.
        stream.flush()
        wrapper = io.TextIOWrapper(buffer, encoding="utf-8", newline="\n")
        try:
            yield wrapper
            wrapper.flush()
        finally:
            wrapper.detach()
        return
    path = Path(target)
    # Write beside the target and rename, so a failed export never leaves half a file behind.
    tmp = path.with_name(path.name + ".partial")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            yield handle
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


@command("export", help="write every record (tombstones included) to JSON Lines")
@argument("--format", choices=["jsonl"], default="jsonl", help="output format (jsonl)")
@argument("--output", "-o", metavar="FILE", help="write to FILE instead of standard output")
def export_command(ctx: Context, args: argparse.Namespace) -> int:
    """``crm export``: one consistent snapshot (a single read transaction) of the whole store."""
    from crm_desktop.services import io_jsonl

    with ctx.store.sessions() as session, session.begin(), _text_output(ctx, args.output) as out:
        count = io_jsonl.export_jsonl(session=session, stream=out)
    if args.output not in (None, "-"):
        ctx.say(f"exported {count} records to {args.output}")
    return EXIT_OK


class _FileLines:
    """A file's lines as bytes, read afresh on every iteration: the import reads its input twice
    (check, then write) and this keeps only a few lines in memory instead of the whole file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            yield from handle


@command(
    "import",
    help="create or update records from a JSON Lines export (all or nothing)",
    description="Import a JSON Lines file in the export format. A new id creates the record, an "
    "existing id updates the fields that differ. Every line is checked first: any bad line is "
    "reported by number and nothing is written.",
)
@argument("file", metavar="FILE.jsonl", help="the file to import ('-' for standard input)")
def import_command(ctx: Context, args: argparse.Namespace) -> int:
    """``crm import``: parse, check and apply the file in one transaction."""
    from crm_desktop.services import io_jsonl

    lines: Iterable[bytes]
    try:
        if args.file == "-":
            lines = sys.stdin.buffer.readlines()  # standard input can be read only once
        else:
            with open(args.file, "rb"):
                pass  # readable? (say so now, not half-way through)
            lines = _FileLines(Path(args.file))
        with ctx.store.sessions.begin() as session:
            result = io_jsonl.import_jsonl(session=session, lines=lines)
    except OSError as exc:
        raise UserError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    except io_jsonl.ImportFailed as exc:
        ctx.stderr.write(f"crm import: {args.file}: nothing was imported:\n{exc}\n")
        return EXIT_USER_ERROR
    ctx.say(
        f"imported {args.file}: {result.total_created} created, {result.total_updated} updated, "
        f"{result.unchanged} unchanged"
    )
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover - `python -m crm_desktop.cli`
    sys.exit(main())
