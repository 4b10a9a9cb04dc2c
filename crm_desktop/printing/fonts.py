"""Font choice for printed documents: a Latin family first, then a CJK-capable fallback.

Qt embeds (a subset of) every font it draws with into the PDF, so the file shows the same on a
machine without those fonts. What matters is that a font able to draw the text is *installed
here*: a customer named 深圳腾飞科技 printed with a Latin-only font comes out as empty boxes.
We therefore name a list of families and let Qt fall back glyph by glyph, with the first
available CJK family in the list. On Debian/Ubuntu that is ``fonts-noto-cjk``; Windows and
macOS ship Microsoft YaHei / PingFang.

Needs a QGuiApplication (the font database lives in it).
"""

from __future__ import annotations

from PySide6.QtGui import QFont, QFontDatabase

#: Latin families tried first, in order (the look of the document).
LATIN_FAMILIES: tuple[str, ...] = (
    "Noto Sans",
    "DejaVu Sans",
    "Segoe UI",
    "Helvetica Neue",
    "Arial",
    "Liberation Sans",
)

#: CJK-capable families, Simplified Chinese first (most of our non-Latin customers), then the
#: other Noto CJK cuts, which also cover Chinese ideographs with slightly different glyph shapes.
CJK_FAMILIES: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Microsoft YaHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "SimSun",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "Noto Sans CJK KR",
    "Noto Serif CJK SC",
    "AR PL UMing CN",
)


def _available(candidates: tuple[str, ...]) -> list[str]:
    installed = {family.casefold(): family for family in QFontDatabase.families()}
    return [installed[name.casefold()] for name in candidates if name.casefold() in installed]


def cjk_family() -> str | None:
    """The first installed CJK-capable family, or ``None`` if this machine has none."""
    found = _available(CJK_FAMILIES)
    return found[0] if found else None


def document_families() -> list[str]:
    """Families for a document, best first: one Latin family, then a CJK one (where installed)."""
    families = _available(LATIN_FAMILIES)[:1]
    cjk = cjk_family()
    if cjk is not None:
        families.append(cjk)
    return families or [QFont().defaultFamily()]


def document_font(point_size: float = 9.5) -> QFont:
    """A font for printed documents that falls back to CJK glyphs where the Latin family has none."""
    font = QFont()
    font.setFamilies(document_families())
    font.setPointSizeF(point_size)
    return font


def css_font_family() -> str:
    """The same family list as a CSS ``font-family`` value for rich text."""
    return ", ".join(f"'{family}'" for family in document_families())
