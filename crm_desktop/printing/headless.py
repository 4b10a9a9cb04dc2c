"""A Qt application for printing without a window (the CLI, scripts, CI).

Laying out text needs a QGuiApplication (fonts live in it) but no display: the ``offscreen``
platform is picked unless ``QT_QPA_PLATFORM`` says otherwise or an application already runs.
"""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QGuiApplication


def ensure_gui_application() -> QCoreApplication:
    """The running Qt application, or a new offscreen QGuiApplication kept for the process."""
    existing = QGuiApplication.instance()
    if existing is not None:
        return existing
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    return QGuiApplication(sys.argv[:1])
