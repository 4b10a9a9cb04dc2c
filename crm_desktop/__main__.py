"""``python -m crm_desktop`` and the ``crm-desktop`` script: start the desktop app."""

from __future__ import annotations

import sys

from crm_desktop.app import main

if __name__ == "__main__":
    sys.exit(main())
