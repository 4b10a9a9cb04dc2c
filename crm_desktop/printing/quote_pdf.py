"""Lay a quote out as rich text and write it as an A4 PDF with Qt's own PDF writer.

Threading contract: call from the thread that owns the QGuiApplication (the UI thread, or the
CLI's main thread); QTextDocument and fonts are not thread-safe. The data comes in as a
:class:`~crm_desktop.printing.quote_data.QuoteDocument`, so no database work happens here.

Qt's rich text understands a subset of HTML 4 and CSS 2 (tables, cell padding, colours,
borders on cells): the layout below sticks to that subset.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import QMarginsF, QSizeF, QUrl
from PySide6.QtGui import QImage, QPageLayout, QPageSize, QPdfWriter, QTextDocument

from crm_desktop.printing.fonts import css_font_family, document_font
from crm_desktop.printing.quote_data import QuoteDocument, format_amount, format_number

_LOGO_URL = "crm-logo://company"
#: Logo box on the page, in CSS pixels of the document (the printer scales them to its DPI).
_LOGO_MAX_WIDTH = 180
_LOGO_MAX_HEIGHT = 64
_ACCENT = "#1f4e79"
_STATUS_BANNERS = {
    "draft": "DRAFT — not yet an offer",
    "pending_approval": "DRAFT — awaiting discount approval",
    "rejected": "REJECTED",
    "expired": "EXPIRED",
}


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _multiline(text: str) -> str:
    return "<br/>".join(_e(line) for line in text.splitlines())


def quote_html(doc: QuoteDocument, *, logo_size: tuple[int, int] | None = None) -> str:
    """The quote as Qt rich text. ``logo_size`` is the logo's box in pixels (None: no logo)."""
    cur = doc.currency
    logo = ""
    if logo_size is not None:
        logo = f'<img src="{_LOGO_URL}" width="{logo_size[0]}" height="{logo_size[1]}"/><br/>'
    banner = _STATUS_BANNERS.get(doc.status)
    banner_html = (
        f'<p style="color:#b00020; font-weight:bold; font-size:9pt;">{_e(banner)}</p>'
        if banner
        else ""
    )
    facts = [
        ("Quote", doc.title),
        ("Date", doc.issued_on.isoformat()),
    ]
    if doc.valid_until is not None:
        facts.append(("Valid until", doc.valid_until.isoformat()))
    facts.append(("Currency", cur))
    facts_html = "".join(
        f'<tr><td style="color:#666666; padding-right:8px; white-space:nowrap;">{_e(k)}</td>'
        f'<td align="right" style="white-space:nowrap;"><b>{_e(v)}</b></td></tr>'
        for k, v in facts
    )
    customer_lines = [f"<b>{_e(doc.customer_name)}</b>"] if doc.customer_name else []
    customer_lines += [_e(line) for line in doc.customer_address]
    if doc.contact_name:
        customer_lines.append(f"Attn: {_e(doc.contact_name)}")
    if doc.contact_email:
        customer_lines.append(_e(doc.contact_email))
    owner_lines = [_e(x) for x in (doc.owner_name, doc.owner_email) if x]

    head = (
        '<th align="{align}" width="{width}" style="background-color:{accent}; color:white; '
        'padding:4px 6px; white-space:nowrap;">{label}</th>'
    )
    # (label, alignment, width): explicit widths, or Qt hands the spare width to the figures
    # and squeezes the description into a narrow column.
    columns = [
        ("#", "right", 4),
        ("Code", "left", 11),
        ("Description", "left", 33),
        ("Qty", "right", 6),
        ("Unit", "left", 6),
        ("Unit price", "right", 12),
        ("Disc. %", "right", 8),
        ("Tax %", "right", 7),
        ("Amount", "right", 13),
    ]
    header_row = "".join(
        head.format(align=a, accent=_ACCENT, label=_e(t), width=f"{w}%") for t, a, w in columns
    )
    body_rows = []
    for index, line in enumerate(doc.lines):
        shade = ' style="background-color:#f3f6fa;"' if index % 2 else ""
        cells = [
            (str(line.position), "right"),
            (_e(line.code), "left"),
            (_multiline(line.description), "left"),
            (format_number(line.quantity), "right"),
            (_e(line.unit), "left"),
            (format_amount(line.unit_price, cur), "right"),
            (format_number(line.discount_percent) if line.discount_percent else "", "right"),
            (format_number(line.tax_rate), "right"),
            (format_amount(line.net_amount, cur), "right"),
        ]
        body_rows.append(
            f"<tr{shade}>"
            + "".join(
                f'<td align="{a}" style="padding:4px 6px; border-bottom:1px solid #dde3ea;'
                f'{"" if i == 2 else " white-space:nowrap;"}">{v}</td>'
                for i, (v, a) in enumerate(cells)
            )
            + "</tr>"
        )
    if not doc.lines:
        body_rows.append(
            f'<tr><td colspan="{len(columns)}" style="padding:8px; color:#666666;">'
            "No lines.</td></tr>"
        )

    totals = [("Subtotal", format_amount(doc.subtotal, cur))]
    if doc.discount_percent:
        totals.append(
            (
                f"Discount {format_number(doc.discount_percent)} %",
                "−" + format_amount(doc.discount_total, cur),
            )
        )
        totals.append(("Net", format_amount(doc.subtotal - doc.discount_total, cur)))
    if len(doc.tax_breakdown) > 1:
        # One line per rate with its base, as a VAT invoice shows it (EN 16931 breakdown).
        for tax in doc.tax_breakdown:
            totals.append(
                (
                    f"Tax {format_number(tax.rate)} % on {format_amount(tax.base, cur)}",
                    format_amount(tax.tax, cur),
                )
            )
    elif doc.tax_breakdown:
        totals.append(
            (f"Tax {format_number(doc.tax_breakdown[0].rate)} %", format_amount(doc.tax_total, cur))
        )
    else:
        totals.append(("Tax", format_amount(doc.tax_total, cur)))
    totals_html = "".join(
        f'<tr><td style="padding:3px 10px 3px 0;">{_e(k)}</td>'
        f'<td align="right" style="padding:3px 0;">{_e(v)}</td></tr>'
        for k, v in totals
    )
    totals_html += (
        f'<tr><td style="padding:6px 10px 3px 0; border-top:2px solid {_ACCENT};">'
        f"<b>Total {_e(cur)}</b></td>"
        f'<td align="right" style="padding:6px 0 3px 0; border-top:2px solid {_ACCENT};">'
        f"<b>{_e(format_amount(doc.total, cur))}</b></td></tr>"
    )
    terms_html = (
        f'<h3 style="color:{_ACCENT};">Terms</h3><p>{_multiline(doc.terms)}</p>'
        if doc.terms
        else ""
    )
    notes_html = (
        f'<h3 style="color:{_ACCENT};">Notes</h3><p>{_multiline(doc.notes)}</p>'
        if doc.notes
        else ""
    )
    return f"""<html><body style="font-family:{css_font_family()}; font-size:9.5pt;">
<table width="100%" cellspacing="0" cellpadding="0"><tr>
<td valign="top">{logo}<span style="font-size:15pt; font-weight:bold; color:{_ACCENT};">{_e(doc.company_name)}</span></td>
<td valign="top" align="right"><span style="font-size:20pt; font-weight:bold; color:{_ACCENT};">QUOTATION</span>
<table cellspacing="0" cellpadding="1">{facts_html}</table></td>
</tr></table>
{banner_html}
<br/>
<table width="100%" cellspacing="0" cellpadding="0"><tr>
<td valign="top" width="60%"><span style="color:#666666;">Prepared for</span><br/>{"<br/>".join(customer_lines)}</td>
<td valign="top" width="40%" align="right"><span style="color:#666666;">Prepared by</span><br/>{"<br/>".join(owner_lines)}</td>
</tr></table>
<br/>
<table width="100%" cellspacing="0" cellpadding="0" style="border-collapse:collapse;">
<thead><tr>{header_row}</tr></thead>
{"".join(body_rows)}
</table>
<br/>
<table width="100%" cellspacing="0" cellpadding="0"><tr><td width="45%"></td><td>
<table width="100%" cellspacing="0" cellpadding="0">{totals_html}</table>
</td></tr></table>
{terms_html}
{notes_html}
</body></html>"""


def _load_logo(path: Path | None) -> QImage | None:
    if path is None:
        return None
    image = QImage(str(path))
    return None if image.isNull() else image


def _logo_box(image: QImage) -> tuple[int, int]:
    # Fit inside the box keeping the aspect ratio; never enlarge a small logo (it would blur).
    scale = min(_LOGO_MAX_WIDTH / image.width(), _LOGO_MAX_HEIGHT / image.height(), 1.0)
    return max(1, round(image.width() * scale)), max(1, round(image.height() * scale))


def build_text_document(doc: QuoteDocument) -> QTextDocument:
    """The laid-out quote (also used for an on-screen preview)."""
    text = QTextDocument()
    text.setDefaultFont(document_font())
    text.setDocumentMargin(0)
    logo = _load_logo(doc.company_logo)
    if logo is not None:
        text.addResource(QTextDocument.ResourceType.ImageResource, QUrl(_LOGO_URL), logo)
    text.setHtml(quote_html(doc, logo_size=_logo_box(logo) if logo is not None else None))
    text.setMetaInformation(QTextDocument.MetaInformation.DocumentTitle, f"Quote {doc.title}")
    return text


def write_quote_pdf(doc: QuoteDocument, path: str | Path) -> Path:
    """Write ``doc`` as an A4 PDF to ``path`` (parent folders must exist); returns the path.

    QTextDocument.print_ paginates, keeps table header rows on every page, puts 2 cm margins
    and page numbers on each page, and embeds the subset of every font used, so the file looks
    the same on a machine without our fonts.
    """
    target = Path(path)
    writer = QPdfWriter(str(target))
    writer.setTitle(f"Quote {doc.title}")
    writer.setCreator(doc.company_name)
    writer.setResolution(300)
    writer.setPageLayout(
        QPageLayout(
            QPageSize(QPageSize.PageSizeId.A4),
            QPageLayout.Orientation.Portrait,
            QMarginsF(0, 0, 0, 0),
        )
    )
    text = build_text_document(doc)
    # An unset page size makes print_ lay the document out for the writer itself (its DPI,
    # its page) with its own margins and page numbers; a preview's size must not leak in.
    text.setPageSize(QSizeF())
    text.print_(writer)
    return target
