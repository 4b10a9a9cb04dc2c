"""``crm-server``: the head-office admin command (database from ``DATABASE_URL``).

Subcommands: init, create-user, set-password, set-manager, reassign, revoke-device, devices,
serve. Passwords are read from standard input (one line), never from the command line, so they
stay out of shell history and process lists.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import uuid
from collections.abc import Sequence

from sqlalchemy import Engine

from crm_server import admin
from crm_server.db import make_engine
from crm_server.migrate import current_revision, head_revision, upgrade
from crm_server.settings import Settings


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Repeat password: "):
            raise admin.AdminError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="crm-server",
        description="Field CRM head-office server. Database: $DATABASE_URL "
        "(default sqlite:///./crm_server.sqlite3).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="create or migrate the database to this version's schema")

    create = sub.add_parser("create-user", help="add a user (password on stdin)")
    create.add_argument("name")
    create.add_argument("--role", choices=["rep", "manager", "admin"], default="rep")
    create.add_argument("--manager", help="user name of their manager")
    create.add_argument("--full-name", default="")
    create.add_argument("--email")

    password = sub.add_parser("set-password", help="replace a user's password (stdin)")
    password.add_argument("name")

    manager = sub.add_parser("set-manager", help="move a user under another manager")
    manager.add_argument("name")
    group = manager.add_mutually_exclusive_group(required=True)
    group.add_argument("--manager", help="user name of the new manager")
    group.add_argument("--none", action="store_true", help="no manager")

    reassign = sub.add_parser(
        "reassign", help="move a rep's accounts, contacts, open leads and opportunities"
    )
    reassign.add_argument("--from", dest="source", required=True)
    reassign.add_argument("--to", dest="target", required=True)

    revoke = sub.add_parser("revoke-device", help="revoke a device (it wipes itself at next sync)")
    target = revoke.add_mutually_exclusive_group(required=True)
    target.add_argument("device_id", nargs="?", type=uuid.UUID)
    target.add_argument("--user", help="revoke every device of this user")

    devices = sub.add_parser("devices", help="list devices")
    devices.add_argument("--user")

    serve = sub.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8400)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--log-level", default="info")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    args = _parser().parse_args(argv)
    settings = Settings.from_env()
    if args.command == "init":
        upgrade(settings.database_url)
        print(f"database ready at schema {head_revision()}")
        return 0
    if args.command == "serve":
        return _serve(settings, args)
    engine = make_engine(settings.database_url, pool_size=1, pool_overflow=2)
    try:
        if current_revision(engine) != head_revision():
            print("error: the database is not initialised; run `crm-server init`", file=sys.stderr)
            return 2
        return _run(engine, settings, args)
    except admin.AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _run(engine: Engine, settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "create-user":
        user_id = admin.create_user(
            engine,
            settings,
            username=args.name,
            role=args.role,
            password=_read_password(),
            manager=args.manager,
            full_name=args.full_name,
            email=args.email,
        )
        print(f"created {args.role} {args.name} ({user_id})")
    elif args.command == "set-password":
        admin.set_password_for(engine, settings, username=args.name, password=_read_password())
        print(f"password of {args.name} replaced")
    elif args.command == "set-manager":
        admin.set_manager(engine, username=args.name, manager=None if args.none else args.manager)
        print(f"{args.name} now reports to {args.manager or 'nobody'}")
    elif args.command == "reassign":
        moved = admin.reassign(engine, from_user=args.source, to_user=args.target)
        print(
            f"moved to {args.target}: {moved.accounts} accounts, {moved.contacts} contacts, "
            f"{moved.opportunities} open opportunities, {moved.leads} open leads"
        )
    elif args.command == "revoke-device":
        count = admin.revoke_devices(engine, device_id=args.device_id, username=args.user)
        print(f"revoked {count} device(s)")
    elif args.command == "devices":
        for row in admin.list_devices(engine, username=args.user):
            state = (
                "revoked"
                if row["revoked_at"]
                else ("signed in" if row["signed_in"] else "signed out")
            )
            print(
                f"{row['id']}  {row['username']:<20} {row['name'][:30]:<30} {state:<10} "
                f"last seen {row['last_seen_at'] or '-'}  mutations {row['last_mutation']}"
            )
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    engine = make_engine(settings.database_url, pool_size=1, pool_overflow=0)
    try:
        if current_revision(engine) != head_revision():
            print("error: the database is not initialised; run `crm-server init`", file=sys.stderr)
            return 2
    finally:
        engine.dispose()
    uvicorn.run(
        "crm_server.app:create_app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
