"""QEMU processes that outlived the harness's hold on them: find them, end them.

The harness normally owns every QEMU it starts (its child, killed by PDEATHSIG if the
harness dies).  A QEMU that forks away (``-daemonize``: the daemon calls ``setsid``
and its parent exits 0) is no longer its child, so reaping the child leaves the
daemon running.  ``-daemonize`` is refused at load (:mod:`conformance.argcheck`); this
module is the containment behind that rule: after a QEMU is reaped, any process whose
command line still names that QEMU's private folder is killed.

Leak checks must match what the process *is*, not its name: the provisioned QEMU runs
through trixie's loader, so its ``comm`` is ``ld-linux-x86-64`` and ``pgrep
qemu-system`` misses it.  :func:`qemu_processes` matches the command line
(``.../bin/qemu-system-aarch64`` anywhere in it), like ``pgrep -af
'bin/qemu-system-aarch64'``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

QEMU_MARK = "bin/qemu-system-"


def _cmdline(pid: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace")


def processes_naming(marker: str) -> list[tuple[int, str]]:
    """``(pid, command line)`` of every other process whose command line has ``marker``."""
    me = os.getpid()
    out: list[tuple[int, str]] = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != me:
            cmd = _cmdline(d.name)
            if marker in cmd:
                out.append((int(d.name), cmd))
    return out


def is_qemu(argv: list[str]) -> bool:
    """Whether the program of ``argv`` is a QEMU system emulator: ``argv[0]`` itself, or
    what a loader (``ld-linux ... --library-path L .../bin/qemu-system-aarch64``) or an
    interpreter runs.  A path given as an option's value (``pytest --qemu PATH``) is
    not the program."""
    for i, a in enumerate(argv[:4]):
        if os.path.basename(a).startswith("qemu-system-") and (
                i == 0 or not argv[i - 1].startswith("-")):
            return True
    return False


def qemu_processes(marker: str = "") -> list[tuple[int, str]]:
    """QEMU system emulators (also run through a loader) whose command line has ``marker``."""
    return [(p, c) for p, c in processes_naming(marker) if QEMU_MARK in c and
            is_qemu(c.split(" "))]


def _gone(pid: int) -> bool:
    """Exited (no such process, or a zombie: its sockets and files are released)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def kill_strays(marker: str, wait: float = 10.0) -> list[int]:
    """SIGKILL every process naming ``marker`` (a reaped QEMU's folder) and wait up to
    ``wait`` seconds until they are gone (not our children: polled); their pids.

    The scan is repeated until none is left: a ``-daemonize`` QEMU forks, and a child
    born after a scan (or between the scan and the kill) names the marker too."""
    killed: list[int] = []
    deadline = time.monotonic() + wait
    while True:
        for pid, _ in processes_naming(marker):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                if pid not in killed:
                    killed.append(pid)
        # nothing named it: nothing can fork one later (one scan, the common case)
        if not killed or (all(_gone(p) for p in killed) and not processes_naming(marker)):
            return killed
        if time.monotonic() > deadline:
            return killed
        time.sleep(0.002)
