"""QEMU trace events through the ``log`` backend: ``-trace EVENT ... -D FILE``.

The harness never lets trace output reach stderr (errors and warnings are compared
exactly): every traced event is enabled with ``-trace`` and the log goes to a file of
the run's private folder with ``-D``.  QEMU 11.1.3's log backend writes one line per
event, ``NAME ARGS`` (``smmu_add_mr smmuv3-iommu-memory-region-0-0``; an event
without arguments keeps a trailing blank: ``smmu_reset_exit ``), flushed per line
(``qemu_log`` unlocks with ``fflush``), so the file can be read while QEMU runs.
With ``-msg timestamp=on`` each line starts with an ISO-8601 time
(``2026-01-01T12:00:00.123456Z smmu_add_mr ...``); older log backends used
``PID@SECONDS.MICROS:`` (``1234@1700000000.123456:smmu_add_mr ...``).  Both prefixes
are removed; a line that is not ``NAME[ ARGS]`` is kept as ``("", line)`` so that
nothing is dropped silently.

:class:`TraceReader` reads the file in phases: what is new since the previous
:meth:`~TraceReader.take` (complete lines only), so the runner can say which lines
machine start wrote and which each QMP event did.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from catalogue.prediction import TracePrediction

#: trace events the harness enables for the ``trace`` observable
TRACE_EVENTS = ("smmu_add_mr", "smmu_reset_exit")
#: name of the log file in the run's folder (and in the per-test log directory)
TRACE_FILE = "trace.log"

_PREFIX_RE = re.compile(
    r"^(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z\s+"  # -msg timestamp=on
    r"|\d+@\d+\.\d+:)")  # PID@SECONDS.MICROS: (older log backend)
_EVENT_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\s(.*))?$")

#: one trace line: (event name, arguments); name "" for a line that is not an event
TraceLine = tuple[str, str]


def parse_line(raw: str) -> TraceLine | None:
    """One log line -> (event, arguments), or ``None`` for a blank line."""
    line = _PREFIX_RE.sub("", raw.rstrip("\r\n"), count=1)
    if not line.strip():
        return None
    m = _EVENT_RE.match(line)
    if m is None:
        return ("", line)
    return (m.group(1), (m.group(2) or "").strip())


def parse(text: str) -> list[TraceLine]:
    """Every event of a log text, in order."""
    out: list[TraceLine] = []
    for raw in text.splitlines():
        ev = parse_line(raw)
        if ev is not None:
            out.append(ev)
    return out


class TraceReader:
    """Reads a growing trace log phase by phase (complete lines only)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._offset = 0
        self.text = ""  # everything read so far

    def take(self) -> list[TraceLine]:
        """The events written since the previous call."""
        try:
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # a partial last line waits for the next call
        chunk = data[:end].decode("utf-8", errors="replace")
        self._offset += end
        self.text += chunk
        return parse(chunk)


def trace_prediction(phases: list[list[TraceLine]]) -> TracePrediction:
    """The observation, per phase (0: machine start, i: the i-th QMP event)."""
    return TracePrediction(
        add_mr=[[a for e, a in p if e == "smmu_add_mr"] for p in phases],
        reset_exit=[sum(1 for e, _ in p if e == "smmu_reset_exit") for p in phases])

