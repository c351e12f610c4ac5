"""One process reaper for every tier: nothing a run starts outlives it.

Every tier that starts processes on this machine (the local QEMU under test, the nested
tier's L0) uses the same layers (the rationale is docs/reliability.md):

1. :func:`die_with_parent` as ``preexec_fn``: ``PR_SET_PDEATHSIG`` = SIGKILL, so the
   kernel kills the child if the harness itself dies without running any Python
   (SIGKILL, OOM killer, a pytest-xdist worker crash);
2. :func:`track`: objects owning a live process, killed synchronously
   (``_kill_sync()``) by an ``atexit`` hook when the interpreter exits with them alive
   (Ctrl-C through pytest, an exception escaping an event loop);
3. :func:`sweep_stale`: private temporary folders are named
   ``<prefix><harness pid>-<random>``; those whose harness process is gone are removed
   when a tier starts and at exit (:func:`sweep_at_exit`), so the survivor of a crashed
   worker removes what the dead one left.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import shutil
import signal
import tempfile
import weakref
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

_PR_SET_PDEATHSIG = 1
_prctl: Any = None
with contextlib.suppress(OSError, AttributeError):  # not Linux: layers 2 and 3 still hold
    _prctl = ctypes.CDLL(None, use_errno=True).prctl


class Reapable(Protocol):
    def _kill_sync(self) -> None:
        """Kill the process and remove its files, without an event loop."""


_live: weakref.WeakSet[Any] = weakref.WeakSet()
_sweeps: set[tuple[str, str]] = set()


def die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """``preexec_fn``: ask the kernel to SIGKILL this child when the harness dies."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def track(obj: Reapable) -> None:
    """Kill ``obj``'s process at interpreter exit unless :func:`untrack` came first."""
    _live.add(obj)


def untrack(obj: Reapable) -> None:
    _live.discard(obj)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale(prefix: str, tmp_root: str | None = None) -> list[str]:
    """Remove ``<prefix><pid>-*`` folders under ``tmp_root`` whose harness pid is gone.

    Returns the removed paths.  Folders of live harness processes (another pytest-xdist
    worker, a parallel run) are left alone.
    """
    root = Path(tmp_root or tempfile.gettempdir())
    removed: list[str] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for d in entries:
        if not d.name.startswith(prefix):
            continue
        owner = d.name[len(prefix):].split("-", 1)[0]
        if not owner.isdigit() or pid_alive(int(owner)):
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(str(d))
        logger.debug("removed stale %s (harness pid %s is gone)", d, owner)
    return removed


def sweep_at_exit(prefix: str, tmp_root: str | None = None) -> bool:
    """Also sweep ``prefix`` folders under ``tmp_root`` at exit; False if already noted."""
    key = (prefix, tmp_root or "")
    if key in _sweeps:
        return False
    _sweeps.add(key)
    return True


@atexit.register
def _reap() -> None:
    for obj in list(_live):
        obj._kill_sync()
    for prefix, root in _sweeps:
        sweep_stale(prefix, root or None)
