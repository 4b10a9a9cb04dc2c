"""The quote PDF: rendered headless by ``crm quote-pdf``, turned into PNG by poppler, and read
back as text to prove the Chinese customer name was drawn with an embedded CJK font.

Needs poppler-utils (pdftoppm, pdftotext, pdffonts) and a CJK font (Debian: fonts-noto-cjk);
without them the rendering test is skipped on a developer's machine with a message saying what
to install, and **fails** when the ``CI`` environment variable is set: CI installs both, so a
skip there would mean the check silently stopped running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QImage, QPainter
from pytestqt.qtbot import QtBot

import crm_desktop.cli_quotes  # noqa: F401  (registers the subcommands)
from crm_desktop import cli
from crm_desktop.config import Profile
from crm_desktop.models import Quote
from crm_desktop.printing.fonts import cjk_family
from crm_desktop.printing.quote_data import format_amount, load_quote_document
from crm_desktop.printing.quote_pdf import quote_html
from crm_desktop.services import quotes as quote_service
from crm_desktop.store import Store
from quotes.seed import seed_quote_world

POPPLER = all(shutil.which(tool) for tool in ("pdftoppm", "pdftotext", "pdffonts"))
NO_POPPLER = "install poppler-utils to check the PDF (pdftoppm, pdftotext, pdffonts)"
NO_CJK_FONT = "no CJK font installed (Debian: apt-get install fonts-noto-cjk)"


def on_ci() -> bool:
    """Whether the ``CI`` environment variable is set (GitHub, GitLab and most set CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def missing_tool(message: str) -> None:
    """Skip for a missing tool on a developer's machine; fail on CI, which installs it."""
    if on_ci():
        pytest.fail(f"{message} (CI is set: CI must install it, so this test cannot skip)")
    pytest.skip(message)


def make_logo(path: Path) -> Path:
    image = QImage(360, 120, QImage.Format.Format_ARGB32)
    image.fill(QColor("#1f4e79"))
    painter = QPainter(image)
    painter.setPen(QColor("white"))
    font = painter.font()
    font.setPixelSize(64)
    font.setBold(True)
    painter.setFont(font)
    painter.drawText(24, 88, "ACME")
    painter.end()
    assert image.save(str(path))
    return path


def make_quote(store: Store, profile: Profile, tmp_path: Path) -> tuple[str, dict[str, uuid.UUID]]:
    settings = profile.settings()
    settings.set("company_name", "Acme Pumpen GmbH · 艾克米泵业")
    settings.set("company_logo", str(make_logo(tmp_path / "logo.png")))
    settings.save()
    with store.sessions.begin() as session:
        ids = seed_quote_world(session)
        created = quote_service.create_quote(
            session=session,
            opportunity_id=ids["opportunity"],
            contact_id=ids["contact"],
            price_list_id=ids["list_cny"],
            valid_until=date.today() + timedelta(days=30),
            discount_percent=Decimal(5),
            terms="付款条件：发票后 30 天内付款。\nDelivery ex works Hamburg.",
        )
        quote_id = created.quote_id
        for product, quantity, discount in (
            ("PMP-100", 3, 0),
            ("VLV-DN50", 4, 10),
            ("SRV-INST", "12.5", 0),
            ("SRV-MAINT", 1, 0),
        ):
            quote_service.add_line(
                session=session,
                quote_id=quote_id,
                product_id=ids[f"product_{product}"],
                quantity=quantity,
                discount_percent=discount,
            )
        quote_service.send_quote(session=session, quote_id=quote_id)
        number = created.number
    return number, ids


def test_document_carries_customer_lines_totals_and_settings(
    qtbot: QtBot, store: Store, profile: Profile, tmp_path: Path
) -> None:
    number, _ids = make_quote(store, profile, tmp_path)
    with store.sessions() as session:
        quote = session.query(Quote).filter_by(number=number).one()
        doc = load_quote_document(
            session=session,
            quote_id=quote.id,
            company_name="Acme",
            company_logo=tmp_path / "missing.png",
        )
        assert doc.total == quote.total
    assert doc.company_logo is None  # a logo path from another machine is ignored
    assert doc.customer_name == "深圳腾飞科技有限公司"
    assert doc.customer_address == ("南山区科技园南区 8 栋 1201", "518057 深圳", "CN")
    assert (doc.contact_name, doc.contact_email) == ("张伟", "zhang.wei@tengfei.example")
    assert [line.code for line in doc.lines] == ["PMP-100", "VLV-DN50", "SRV-INST", "SRV-MAINT"]
    html = quote_html(doc)
    assert "深圳腾飞科技有限公司" in html
    assert format_amount(doc.total, "CNY") in html
    assert "12.5" in html and "h</td>" in html


def test_render_headless_to_pdf_and_png_with_chinese_text(
    qtbot: QtBot, store: Store, profile: Profile, tmp_path: Path
) -> None:
    if not POPPLER:
        missing_tool(NO_POPPLER)
    if cjk_family() is None:
        missing_tool(NO_CJK_FONT)
    number, _ids = make_quote(store, profile, tmp_path)
    store.dispose()  # the CLI opens the profile's store itself
    pdf = tmp_path / "quote.pdf"
    assert cli.main(["--profile", str(profile.directory), "quote-pdf", number, str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")

    fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
    assert "CJK" in fonts.stdout  # the CJK font is embedded, not merely referenced
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    # Text extraction, not only pixels: the Chinese was drawn as text with a font that has the
    # glyphs. (Noto CJK shares some glyphs between an ideograph and its radical look-alike, e.g.
    # 飞 and ⻜, and Qt's ToUnicode map names the radical, so those few extract as radicals; the
    # strings below avoid them.)
    for expected in (
        "科技有限公司",
        "张伟",
        "Acme Pumpen GmbH",
        "付款条件",
        number,
        "QUOTATION",
        "53,430.12",
    ):
        assert expected in text

    subprocess.run(
        ["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "page")],
        check=True,
    )
    png = tmp_path / "page-1.png"
    image = QImage(str(png))
    assert not image.isNull()
    assert image.width() > 600 and image.height() > image.width()  # portrait A4
    shots = os.environ.get("CRM_SCREENSHOT_DIR")
    if shots:
        shutil.copy(png, Path(shots) / "quote-pdf.png")


def test_quote_pdf_reports_an_unknown_number(
    qtbot: QtBot, profile: Profile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(
        ["--profile", str(profile.directory), "quote-pdf", "Q-NOPE", str(tmp_path / "x.pdf")]
    )
    assert code == 1
    assert "no quote Q-NOPE" in capsys.readouterr().err


def test_expire_quotes_command(
    qtbot: QtBot, store: Store, profile: Profile, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_quote(store, profile, tmp_path)
    store.dispose()
    later = (date.today() + timedelta(days=31)).isoformat()
    assert cli.main(["--profile", str(profile.directory), "expire-quotes", "--today", later]) == 0
    assert "1 quotes expired" in capsys.readouterr().err
    assert cli.main(["--profile", str(profile.directory), "expire-quotes", "--today", later]) == 0
    assert "0 quotes expired" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["true", "1", "yes"])
def test_missing_pdf_tools_fail_on_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        missing_tool(NO_POPPLER)


@pytest.mark.parametrize("value", [None, "", "false", "0"])
def test_missing_pdf_tools_skip_off_ci(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="fonts-noto-cjk"):
        missing_tool(NO_CJK_FONT)
