"""Summarising a QEMU stderr that may be huge: what is kept, and what is the harness's.

QEMU's stderr goes to a file; the harness reads at most its last
:data:`~conformance.tiers.local.STDERR_READ_LIMIT` bytes (:func:`tail`).  Three rules
keep the summary honest when QEMU prints megabytes:

* the "bytes dropped" marker is the harness's note, never QEMU's error message
  (:func:`is_marker`; :func:`qemu_lines` leaves it out);
* QEMU's real last line is always kept, even when it is longer than the read limit or
  has no final newline (only a *partial first* line is dropped, never the last one);
* warnings are capped (:data:`WARNINGS_KEPT` plus one line counting the rest) and every
  shown line is clipped to :data:`LINE_CHARS`, so three flooding scenarios cannot make
  megabytes of text or JSON.
"""

from __future__ import annotations

import re

WARNINGS_KEPT = 20
LINE_CHARS = 500
_MARKER_RE = re.compile(r"^\[\.\.\. \d+ bytes of stderr dropped \.\.\.\]$")


def marker(dropped: int) -> str:
    return f"[... {dropped} bytes of stderr dropped ...]"


def is_marker(line: str) -> bool:
    return bool(_MARKER_RE.match(line.strip()))


def tail(data: bytes, size: int) -> str:
    """The text of the last ``len(data)`` bytes of a ``size``-byte stderr."""
    text = data.decode("utf-8", errors="replace")
    if size <= len(data):
        return text
    body = text.rstrip("\n")
    cut = body.find("\n")
    # drop the partial first line, unless it is the only (hence the last) line
    kept = text[cut + 1:] if cut >= 0 else text
    return marker(size - len(kept.encode("utf-8", errors="replace"))) + "\n" + kept


def clip(line: str, limit: int = LINE_CHARS) -> str:
    return line if len(line) <= limit else \
        f"{line[:limit]}[... {len(line) - limit} more characters]"


def qemu_lines(text: str) -> list[str]:
    """QEMU's own non-empty lines (the harness's marker left out)."""
    return [ln for ln in text.splitlines() if ln.strip() and not is_marker(ln)]


def last_line(text: str) -> str:
    lines = qemu_lines(text)
    return clip(lines[-1].strip()) if lines else ""


def cap_warnings(warnings: list[str]) -> list[str]:
    if len(warnings) <= WARNINGS_KEPT:
        return [clip(w) for w in warnings]
    return [clip(w) for w in warnings[:WARNINGS_KEPT]] + [
        f"[... {len(warnings) - WARNINGS_KEPT} more warning lines ...]"]


def tail_lines(text: str, lines: int, keep_marker: bool = True) -> str:
    """The last ``lines`` lines, clipped; without the marker when it is QEMU's message."""
    kept = (text.rstrip().splitlines() if keep_marker else qemu_lines(text))[-lines:]
    return "\n".join(clip(ln) for ln in kept)
