"""Printable documents made with Qt's own PDF writer (no external renderer, works offline).

:mod:`.quote_data` gathers a quote into plain data (no Qt); :mod:`.quote_pdf` lays it out and
writes the PDF; :mod:`.fonts` picks fonts that can show Chinese, Japanese and Korean text.
"""
