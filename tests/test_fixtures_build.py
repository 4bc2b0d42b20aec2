"""The committed fixture APKs must be byte-for-byte reproducible from fixtures/src.

Runs ``fixtures/build.py --check``: every fixture is rebuilt into a temporary
directory and compared with fixtures/SHA256SUMS (and the committed files in
fixtures/apk/ with SHA256SUMS).  Skipped, naming what is missing, when the
Android build tools are not installed (Debian: libsmali-java aapt
android-framework-res zipalign apksigner dexdump, plus a JRE).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUILD_SCRIPT = REPO / "fixtures" / "build.py"
TOOLS = ("java", "smali", "aapt", "zipalign", "apksigner", "dexdump")
FRAMEWORK_RES = Path(
    os.environ.get(
        "PERMAUDIT_FRAMEWORK_RES", "/usr/share/android-framework-res/framework-res.apk"
    )
)


def _missing() -> list[str]:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if not FRAMEWORK_RES.is_file():
        missing.append(f"{FRAMEWORK_RES} (package android-framework-res)")
    return missing


def test_fixtures_reproducible() -> None:
    missing = _missing()
    if missing:
        pytest.skip("fixture build tools not available: " + ", ".join(missing))
    assert BUILD_SCRIPT.is_file(), BUILD_SCRIPT
    proc = subprocess.run(
        [sys.executable, str(BUILD_SCRIPT), "--check"],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, (
        f"fixtures/build.py --check exited {proc.returncode}\n"
        f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
    )
