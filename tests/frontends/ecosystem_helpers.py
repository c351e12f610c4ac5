"""Helpers of the ecosystem tests: headless Chromium screenshots and a tiny PNG reader.

Kept dependency-free (no Pillow): Chromium writes 8-bit RGB(A) PNGs, which
:func:`read_png` decodes with :mod:`zlib` and the five PNG row filters.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import pytest

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--hide-scrollbars")


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot(page: Path, png: Path, size: tuple[int, int] = (1280, 900)) -> None:
    """Render ``page`` in headless Chromium into ``png`` (fresh profile, nothing left)."""
    binary = chromium_binary()
    if binary is None:
        pytest.skip("chromium is not installed (./setup.sh installs Debian's package)")
    with tempfile.TemporaryDirectory(prefix="smmuv3-chromium-") as profile:
        cmd = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
               f"--window-size={size[0]},{size[1]}", f"--screenshot={png}",
               page.resolve().as_uri()]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=90)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # zygote/renderer children, if any
            proc.wait()
    assert png.exists(), f"chromium wrote no screenshot: {out.decode(errors='replace')[-500:]}"


def read_png(path: Path) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG (what Chromium writes): width, height, pixel rows.

    Each row is ``width * channels`` bytes; channels is 3 or 4 (see ``len(row) // width``).
    """
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, hdr = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            hdr = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", hdr[:10])
    assert depth == 8 and color in (2, 6), f"unsupported PNG (depth {depth}, color {color})"
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows: list[bytes] = []
    prev = bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def count_colour(rows: list[bytes], width: int, rgb: tuple[int, int, int],
                 y_range: range | None = None) -> int:
    """How many pixels (in ``y_range``) have exactly colour ``rgb``."""
    bpp = len(rows[0]) // width
    n = 0
    for y in y_range if y_range is not None else range(len(rows)):
        row = rows[y]
        for x in range(0, len(row), bpp):
            if (row[x], row[x + 1], row[x + 2]) == rgb:
                n += 1
    return n
