"""``crm sync``, ``crm sign-out`` and ``crm conflicts``: headless sync with head office.

Registered with :func:`crm_desktop.cli.command` (listed in ``cli.COMMAND_MODULES``).

``crm sync --server URL --user NAME`` signs in the first time with the password read from one
line of standard input, keeps the device token in the OS keyring (never in a file), remembers
the server and user in the profile settings, then runs one sync round (push, pull, conflicts).
Later runs need no arguments and no password. Progress lines go to stderr.

Transactions: the command only drives :class:`~crm_desktop.sync.engine.SyncEngine`, which opens
its own short transactions on the profile's store; killing the process at any moment loses
nothing (the next run resumes).
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from crm_desktop.cli import Context, UserError, argument, command

if TYPE_CHECKING:
    from crm_desktop.sync.engine import SyncProgress

#: Exit code when the server cannot be reached (distinct from 1, so scripts can retry).
EXIT_OFFLINE = 3


def _progress(ctx: Context) -> Callable[[SyncProgress], None]:
    def report(progress: SyncProgress) -> None:
        ctx.say(progress.describe())

    return report


@command(
    "sync",
    help="exchange changes with the head-office server",
    description="Push local changes to head office and pull colleagues' changes. The first time, "
    "give --server and --user and the password on standard input; the device token is then kept "
    "in the OS keyring and later runs need nothing.",
)
@argument("--server", metavar="URL", help="head-office server, e.g. https://crm.example.com")
@argument("--user", metavar="NAME", help="your user name on the server")
@argument("--ca-file", metavar="FILE", help="CA certificate bundle to verify the server with")
@argument(
    "--page-size",
    type=int,
    default=None,
    metavar="N",
    help="records per pulled page (default 1000, at most 5000)",
)
@argument(
    "--batch-size", type=int, default=None, metavar="N", help="mutations per push (default 200)"
)
def sync_command(ctx: Context, args: argparse.Namespace) -> int:
    """``crm sync``: sign in if needed, then one sync round."""
    from crm_desktop.sync.credentials import KeyringUnavailable, TokenStore
    from crm_desktop.sync.engine import (
        PULL_LIMIT,
        PUSH_BATCH,
        LocalDataWiped,
        SyncEngine,
        SyncError,
    )
    from crm_desktop.sync.protocol import MAX_PULL_LIMIT
    from crm_desktop.sync.transport import (
        AuthenticationError,
        NetworkError,
        ServerError,
        Transport,
        UpdateRequired,
    )

    settings = ctx.profile.settings()
    server = args.server or settings.get("server_url")
    username = args.user or settings.get("username")
    if not server or not username:
        raise UserError("the first sync needs --server URL and --user NAME")
    server = server.rstrip("/")
    ca_file = args.ca_file or settings.get("ca_file")
    store = ctx.store
    tokens = TokenStore(ctx.profile)
    transport = Transport(server, ca_file=ca_file)
    engine = SyncEngine(
        store.path,
        transport,
        push_batch=max(1, min(args.batch_size or PUSH_BATCH, 1000)),
        pull_limit=max(1, min(args.page_size or PULL_LIMIT, MAX_PULL_LIMIT)),
    )
    try:
        try:
            token = tokens.get(username)
            current = engine.state()
            if token is None or current.user_id is None or current.server_url != server:
                password = sys.stdin.readline().rstrip("\r\n")
                if not password:
                    raise UserError(
                        f"not signed in to {server} as {username}: "
                        "give the password on standard input"
                    )
                response = engine.sign_in(
                    server_url=server,
                    username=username,
                    password=password,
                    device_name=socket.gethostname()[:200],
                )
                tokens.set(username, response.token)
                settings.set("server_url", server)
                settings.set("username", username)
                if ca_file:
                    settings.set("ca_file", ca_file)
                settings.current_user_id = response.user_id
                settings.save()
                ctx.say(f"signed in to {server} as {username}")
            else:
                transport.token = token
            report = engine.sync(progress=_progress(ctx))
        except KeyringUnavailable as exc:
            raise UserError(str(exc)) from exc
        except LocalDataWiped as exc:
            tokens.delete(username)
            raise UserError(str(exc)) from exc
        except UpdateRequired as exc:
            raise UserError(exc.explain()) from exc
        except AuthenticationError as exc:
            if exc.code in ("unauthenticated", "token_expired"):
                tokens.delete(username)
                raise UserError(
                    f"the server no longer accepts this device's sign-in ({exc.code}); "
                    "run crm sync again with the password on standard input"
                ) from exc
            raise UserError(f"sign-in refused: {exc.message}") from exc
        except NetworkError as exc:
            ctx.stderr.write(f"crm sync: offline: {exc}\n")
            return EXIT_OFFLINE
        except (ServerError, SyncError) as exc:
            raise UserError(str(exc)) from exc
    finally:
        engine.close()
        transport.close()
    ctx.say(
        f"synced in {report.seconds:.2f} s: pushed {report.pushed} changes "
        f"({report.rejected} rejected, {report.conflicts} conflicts), pulled {report.pulled} "
        f"records, {report.deleted} deleted, {report.removed} removed"
    )
    return 0


@command("sign-out", help="forget this profile's device token (local data stays)")
def sign_out_command(ctx: Context, args: argparse.Namespace) -> int:
    """``crm sign-out``: tell the server (when reachable) and delete the token from the keyring."""
    from crm_desktop.sync.credentials import KeyringUnavailable, TokenStore
    from crm_desktop.sync.transport import NetworkError, ServerError, Transport

    settings = ctx.profile.settings()
    server, username = settings.get("server_url"), settings.get("username")
    if not server or not username:
        raise UserError("this profile is not signed in")
    tokens = TokenStore(ctx.profile)
    try:
        token = tokens.get(username)
        if token is not None:
            transport = Transport(server, token=token, ca_file=settings.get("ca_file"))
            try:
                transport.logout()
            except (NetworkError, ServerError) as exc:
                ctx.say(f"the server was not told ({exc}); the token is forgotten here anyway")
            finally:
                transport.close()
        tokens.delete(username)
    except KeyringUnavailable as exc:
        raise UserError(str(exc)) from exc
    ctx.say(f"signed out of {server}")
    return 0


@command("conflicts", help="list the local conflict log")
@argument("--format", choices=["jsonl"], default="jsonl", help="output format (jsonl)")
def conflicts_command(ctx: Context, args: argparse.Namespace) -> int:
    """``crm conflicts``: one JSON object per line, newest first."""
    from crm_desktop.sync import state

    with ctx.store.engine.connect() as connection:
        for record in state.list_conflicts(connection):
            ctx.stdout.write(json.dumps(record.as_json(), ensure_ascii=False) + "\n")
    return 0
