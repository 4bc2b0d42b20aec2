"""The HTML report as a browser draws it: headless Chromium (Debian's ``chromium``) renders the
English and Chinese reports of loan_harvest and the hostile-strings report to PNG, and the DOM
it ends with holds no script. Skipped, saying so, when chromium is not installed
(``apt-get install chromium fonts-noto-cjk``); docs/output-formats.md shows the same command."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import permaudit
from permaudit.formats import render

from .conftest import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium fonts-noto-cjk)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-extensions"]


def _chromium(*args: str, tmp: Path) -> subprocess.CompletedProcess[bytes]:
    assert CHROMIUM is not None
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args], capture_output=True, timeout=180,
                          env={"HOME": str(tmp), "PATH": "/usr/bin:/bin"}, check=False)


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.parametrize(("fixture", "lang"), [("loan_harvest", "en"), ("loan_harvest", "zh"), ("hostile_strings", "en")])
def test_html_report_renders_in_chromium(fixture: str, lang: str, tmp_path: Path) -> None:
    result = permaudit.audit(ROOT / "fixtures" / "apk" / f"{fixture}.apk", category="lending")
    page = tmp_path / f"{fixture}.{lang}.html"
    page.write_text(render([result], "html", lang=lang), encoding="utf-8")
    shot = tmp_path / f"{fixture}.{lang}.png"
    done = _chromium(f"--screenshot={shot}", "--window-size=1200,3000", page.as_uri(), tmp=tmp_path)
    assert shot.is_file(), done.stderr.decode(errors="replace")[-2000:]
    assert _png_size(shot) == (1200, 3000)
    assert shot.stat().st_size > 50_000  # text, tables and colour, not a blank page
    dom = _chromium("--dump-dom", page.as_uri(), tmp=tmp_path).stdout.decode("utf-8", errors="replace")
    assert "<h1>" in dom and "<script" not in dom.lower()
    if fixture == "hostile_strings":
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom  # shown as text, never run
