"""report.html and matrix.html opened in headless Chromium: they render, and log nothing to the console.

Chromium is a Debian package (``chromium``) that scripts/install-system-deps.sh installs; the test is
skipped, saying so, only where it is not installed. Chromium's own ``--enable-logging=stderr`` output
carries every console message of the page as ``...:CONSOLE...`` lines: a negative control page with a
script error checks that they are seen, so a silent log proves something.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
import reports_fixtures as fx
from splicecheck.reports.matrix import write_matrix
from splicecheck.reports.render import render_all

CHROMIUM = next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package `chromium`; "
                                                          "scripts/install-system-deps.sh installs it)")


def chromium(page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-dev-shm-usage", f"--user-data-dir={tmp / 'profile'}", "--enable-logging=stderr", "--v=0",
            *extra, page.resolve().as_uri()]
    env = dict(os.environ, HOME=str(tmp))  # chromium writes to $HOME: keep it in the test's folder
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, check=False)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and the raw (filtered) scanlines of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    i, idat, width, height = 8, b"", 0, 0
    while i < len(data):
        length, kind = struct.unpack(">I4s", data[i:i + 8])
        chunk = data[i + 8:i + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        i += 12 + length
    return width, height, zlib.decompress(idat)


def screenshot(page: Path, tmp: Path, size: str = "1280,2000") -> tuple[Path, list[str]]:
    shot = tmp / f"{page.stem}.png"
    proc = chromium(page, tmp, f"--screenshot={shot}", f"--window-size={size}")
    assert shot.is_file(), f"chromium wrote no screenshot (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    return shot, console_messages(proc.stderr)


def assert_not_blank(shot: Path, size: str) -> None:
    width, height, raw = png_pixels(shot.read_bytes())
    assert (width, height) == tuple(int(x) for x in size.split(","))
    # a blank page compresses to a handful of byte values; text, badges and tables give many
    assert len(set(raw)) > 64, "the screenshot looks blank"


def test_console_errors_are_detected(tmp_path: Path) -> None:
    """Negative control: a page with a script error shows up in the log the next tests read."""
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><html><body><p>x</p><script>console.error("marker-7f3");'
                   "no_such_function();</script></body></html>")
    _, messages = screenshot(bad, tmp_path, "400,300")
    text = "\n".join(messages)
    assert "marker-7f3" in text and "Uncaught ReferenceError" in text


def test_report_html_renders_without_console_errors(tmp_path: Path) -> None:
    written = render_all(fx.run(partial=True), tmp_path / "report")
    shot, messages = screenshot(written["html"], tmp_path)
    assert messages == []
    assert_not_blank(shot, "1280,2000")
    dom = chromium(written["html"], tmp_path, "--dump-dom").stdout
    assert "splicecheck report: mutant:seq-off-by-one 0.1.0" in dom
    assert dom.count('class="case"') == len(fx.results()) and dom.count("<svg") == 2


def test_matrix_html_renders_without_console_errors(tmp_path: Path) -> None:
    render_all(fx.run(), tmp_path / "runs" / "a")
    written = write_matrix([tmp_path / "runs" / "a", fx.write_jsonl(tmp_path / "b.jsonl", fx.run(partial=True))],
                           tmp_path / "matrix")
    shot, messages = screenshot(written["html"], tmp_path, "1000,1400")
    assert messages == []
    assert_not_blank(shot, "1000,1400")
