"""``crm quote-pdf`` and ``crm expire-quotes``: quotes from the command line.

Registered with :func:`crm_desktop.cli.command`; the ``crm`` parser imports this module when it
is listed in ``crm_desktop.cli.COMMAND_MODULES``.

``quote-pdf`` renders with Qt's own PDF writer, headless: it starts a QGuiApplication on the
``offscreen`` platform (unless one already runs, or ``QT_QPA_PLATFORM`` says otherwise), so it
works over SSH and in CI with no display. Fonts come from the machine: for Chinese, Japanese or
Korean names install a CJK font (Debian: ``fonts-noto-cjk``).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from crm_desktop.cli import Context, UserError, argument, command
from crm_desktop.services.errors import NotFound


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from exc


@command(
    "quote-pdf",
    help="write a quote as PDF (headless)",
    description="Render quote NUMBER (its current revision, or --revision N) to FILE.pdf with the "
    "company name and logo from the profile's settings, exactly as the app's 'Save PDF' does.",
)
@argument("number", metavar="NUMBER", help="the quote number, e.g. Q-01JDX3K4ZP-7GQ2M8XA")
@argument("file", metavar="FILE.pdf", help="where to write the PDF")
@argument("--revision", type=int, default=None, help="a given revision instead of the current one")
def quote_pdf_command(ctx: Context, args: argparse.Namespace) -> int:
    """``crm quote-pdf``: gather the quote in one read, then lay it out and write it."""
    from sqlalchemy import select

    from crm_desktop.models import Quote
    from crm_desktop.printing.quote_data import (
        find_current_quote_id,
        load_quote_document_from_settings,
    )

    target = Path(args.file).expanduser()
    if not target.parent.is_dir():
        raise UserError(f"folder {target.parent} does not exist")
    settings = ctx.profile.settings()
    with ctx.store.sessions() as session:
        try:
            if args.revision is None:
                quote_id = find_current_quote_id(session=session, number=args.number)
            else:
                found = session.scalar(
                    select(Quote.id).where(
                        Quote.number == args.number,
                        Quote.revision == args.revision,
                        Quote.deleted.is_(False),
                    )
                )
                if found is None:
                    raise NotFound(Quote, f"{args.number} rev. {args.revision}")
                quote_id = found
        except NotFound:
            raise UserError(
                f"no quote {args.number}" + (f" revision {args.revision}" if args.revision else "")
            ) from None
        document = load_quote_document_from_settings(
            session=session, quote_id=quote_id, settings=settings
        )
    from crm_desktop.printing.headless import ensure_gui_application
    from crm_desktop.printing.quote_pdf import write_quote_pdf

    ensure_gui_application()

    try:
        write_quote_pdf(document, target)
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc}") from exc
    ctx.say(f"quote {document.title} written to {target}")
    return 0


@command(
    "expire-quotes",
    help="mark quotes past their valid-until date as expired",
    description="Mark every current draft, pending or sent quote whose valid-until date is before "
    "today (or --today) as expired. The app does this at start-up and daily; this is for "
    "scripts and servers.",
)
@argument("--today", type=_date, default=None, help="the date to expire against (YYYY-MM-DD)")
def expire_quotes_command(ctx: Context, args: argparse.Namespace) -> int:
    """``crm expire-quotes``: one transaction through the quote service."""
    from crm_desktop.services.quotes import expire_quotes

    with ctx.store.sessions.begin() as session:
        expired = expire_quotes(session=session, today=args.today or date.today())
    ctx.say(f"{len(expired.quote_ids)} quotes expired")
    return 0
