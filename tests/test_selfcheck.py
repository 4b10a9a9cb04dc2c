"""``--self-check`` as CI runs it on the packaged build: a separate process, exit code 0."""

from __future__ import annotations

import os
import subprocess
import sys


def test_self_check_passes_in_a_fresh_process() -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run(
        [sys.executable, "-m", "crm_desktop", "--self-check"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("self-check: ok")
