"""Choosing the QEMU binary under test.

Resolution order, first match wins (QEMU's own functional tests use the same variable):

1. ``--qemu PATH`` on the command line (or the pytest option of the same name);
2. the ``QEMU_TEST_QEMU_BINARY`` environment variable;
3. the QEMU 11.1.3 provisioned by ``./setup.sh`` (``python -m conformance provision``).

A user's build tree works the same way: ``--qemu ~/qemu/build/qemu-system-aarch64``.
The binary is checked with ``--version`` (it must say ``QEMU emulator version``); the
target architecture is checked later, by the capability probe (``query-target``).
Problems raise :class:`~conformance.errors.BinaryError` with a one-line message naming
the path and where it came from.
"""

from __future__ import annotations

import functools
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from artefacts.provision import install_for
from conformance.elfinfo import why_not_runnable
from conformance.errors import BinaryError

ENV_VAR = "QEMU_TEST_QEMU_BINARY"
_VERSION_RE = re.compile(r"QEMU emulator version (\d+)\.(\d+)\.(\d+)(.*)")


@dataclass(frozen=True)
class QemuBinary:
    """A checked QEMU binary: ``path`` is absolute, ``version`` the ``--version`` line."""

    path: str
    origin: str  # "--qemu", "QEMU_TEST_QEMU_BINARY", "provisioned"
    version: str
    version_tuple: tuple[int, int, int]


def _provisioned() -> Path:
    return install_for().launcher


def resolve_path(explicit: str | None = None, option: str = "--qemu") -> tuple[Path, str]:
    """The path that would be used, and where it came from (no checks yet)."""
    if explicit:
        return Path(explicit).expanduser(), option
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser(), ENV_VAR
    return _provisioned(), "provisioned"


@functools.cache
def _check(path: str, origin: str) -> QemuBinary:
    p = Path(path)
    hint = " (run ./setup.sh to provision QEMU 11.1.3)" if origin == "provisioned" else ""
    if not p.exists():
        raise BinaryError(f"{path} (from {origin}): no such file{hint}")
    if p.is_dir():
        raise BinaryError(f"{path} (from {origin}): is a directory, expected a "
                          "qemu-system-aarch64 binary")
    if not os.access(p, os.X_OK):
        raise BinaryError(f"{path} (from {origin}): not executable")
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise BinaryError(f"{path} (from {origin}): '--version' did not finish in 30 s") from None
    except OSError as e:
        raise BinaryError(f"{path} (from {origin}): cannot run: "
                          f"{why_not_runnable(path) or e.strerror}") from None
    first = (r.stdout.splitlines() or [""])[0]
    m = _VERSION_RE.search(first)
    if r.returncode != 0 or not m:
        raise BinaryError(f"{path} (from {origin}): not a QEMU system emulator "
                          f"('--version' printed {first[:80]!r}, exit {r.returncode})")
    return QemuBinary(path=str(p.absolute()),
                      origin=origin, version=first.strip(),
                      version_tuple=(int(m[1]), int(m[2]), int(m[3])))


def choose(explicit: str | None = None, option: str = "--qemu") -> QemuBinary:
    """Resolve and check the binary under test (raises :class:`BinaryError`).

    ``option`` is how the user named it (``--qemu-b`` for diff's second build)."""
    path, origin = resolve_path(explicit, option)
    return _check(str(path), origin)
