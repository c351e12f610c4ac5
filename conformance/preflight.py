"""Checks of what a user typed, done before any QEMU starts.

Every mistake a user can make must cost nothing and say so in one line: a run that
starts 90 QEMUs and then cannot write its ``--html`` report, or exits 125 on every
commit of a bisection because ``--profile`` is misspelt, misleads CI and ``git bisect``.
Each check raises :class:`PreflightError` (the CLI prints it and exits 2, 128 for
``bisect-run``):

* :func:`check_profile`: ``--profile`` names a profile the model has;
* :func:`claim_log_dir`: ``--log-dir`` is (or can be made) a writable directory with
  room in it; verdicts an earlier run left there are removed (they would be read as this
  run's); a lock file names the run using it, so a second run on the same folder is
  refused instead of interleaving its logs with the first one's;
* :func:`check_output_dir`: ``--html`` (and similar) is a writable directory.

Log writes that fail *during* a run (the disk filled up) are collected by
:func:`log_write_failed` and reported by the CLI at the end (:func:`log_failures`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from reference_model.profiles import PROFILES

#: files the runner writes into ``<log dir>/<tier>/<scenario>/``
LOG_FILES = ("argv.txt", "stderr.log", "qmp.jsonl", "verdict.json", "trace.log")
LOCK_NAME = ".smmuv3-conformance.lock"


class PreflightError(Exception):
    """A user error found before the run: one line."""


def check_profile(name: str | None, option: str = "--profile",
                  allow_auto: bool = False) -> None:
    """``name`` is a profile the model has (or ``auto`` where the front end resolves it
    from the build's fingerprint: ``run`` and the pytest plugin)."""
    if name is None or (allow_auto and name == "auto"):
        return
    if name not in PROFILES:
        choices = [*PROFILES, "auto"] if allow_auto else list(PROFILES)
        raise PreflightError(f"{option} {name}: unknown profile (choose from "
                             f"{', '.join(choices)})")


def _writable_dir(path: Path, option: str) -> None:
    if path.exists() and not path.is_dir():
        raise PreflightError(f"{option} {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise PreflightError(f"{option} {path}: cannot create: {e.strerror}") from None
    probe = path / f".smmuv3-write-test-{os.getpid()}"
    try:  # root ignores permission bits: only a real write tells (read-only fs, full)
        with open(probe, "wb") as f:
            f.write(b"x" * 4096)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise PreflightError(f"{option} {path}: cannot write: {e.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def check_output_dir(path: str | Path, option: str) -> None:
    _writable_dir(Path(path), option)


class LogDir:
    """A claimed ``--log-dir``: held (locked) until :meth:`release`."""

    def __init__(self, path: Path, fd: int, cleared: int) -> None:
        self.path = path
        self.fd = fd
        self.cleared = cleared

    def release(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def claim_log_dir(path: str | Path, option: str = "--log-dir") -> LogDir:
    p = Path(path)
    _writable_dir(p, option)
    try:
        fd = os.open(p / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise PreflightError(f"{option} {p}: cannot create its lock file: {e.strerror}"
                             ) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        other = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
            raise PreflightError(f"{option} {p}: another run (pid {other}) is using this "
                                 "directory; give each run its own") from None
        raise PreflightError(f"{option} {p}: cannot lock: {e.strerror}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    cleared = 0
    for f in sorted(p.glob("*/*/verdict.json")):  # an earlier run's verdicts: stale
        for name in LOG_FILES:
            with contextlib.suppress(FileNotFoundError):
                (f.parent / name).unlink()
                cleared += 1
        with contextlib.suppress(OSError):
            f.parent.rmdir()
    return LogDir(p, fd, cleared)


_failures: list[str] = []


def log_write_failed(where: Path, e: OSError) -> None:
    _failures.append(f"{where}: {e.strerror or e}")


def log_failures() -> list[str]:
    """Log writes that failed since the last call (and forget them)."""
    out = list(_failures)
    _failures.clear()
    return out
