"""Writing results to stdout when stdout may be full, closed or a vanished pipe.

The exit status of a run is its result, so a failure to *deliver* the result must never
look like one (exit 1 reads as "nonconformance" to CI and ``git bisect``):

=====================================  =========================================
what happened                          what the CLI does
=====================================  =========================================
the reader went away (``| head``:      stop quietly, exit 141 (128 + SIGPIPE),
EPIPE)                                 as ``cat`` or ``grep`` would
stdout full or broken (``/dev/full``:  one line on stderr, exit 2 (128 for
ENOSPC, EIO, EDQUOT, EFBIG)            ``bisect-run``: abort the bisection)
stdout closed (``>&-``)                refused before anything runs: exit 2/128
=====================================  =========================================
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import signal
import sys
from collections.abc import Iterator

EPIPE_EXIT = 128 + signal.SIGPIPE
#: errors that mean "the output could not be written"
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EIO, errno.EDQUOT, errno.EFBIG,
                          errno.EBADF, errno.EROFS})


@contextlib.contextmanager
def quiet_on_write_error() -> Iterator[None]:
    """Writing a result failed mid-run: the run ends without a result, as on a signal.

    The clean-up that follows (cancelled QMP sessions, QEMUs reaped by the harness itself)
    must not print asyncio's "Unknown child process" or "exception was never retrieved"
    after the one line the CLI prints."""
    try:
        yield
    except OSError:
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        raise


def usage_exit(command: str) -> int:
    return 128 if command == "bisect-run" else 2


def stdout_usable() -> str | None:
    """Why stdout cannot take the results (``None``: it can)."""
    if sys.stdout is None or sys.stdout.closed:
        return "stdout is closed"
    try:
        fd = sys.stdout.fileno()
    except io.UnsupportedOperation:  # an in-memory stream (a caller's StringIO, pytest's
        return None                  # capture): nothing to fstat, and it takes writes
    except ValueError:
        return "stdout is closed"
    try:
        os.fstat(fd)
    except OSError:
        return "stdout is closed"
    return None


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null so the interpreter's final flush cannot fail again."""
    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.close(fd)
    except OSError:
        pass


def write_failed(command: str, e: OSError) -> int | None:
    """Exit status for an output write error (``None``: ``e`` is not one)."""
    if isinstance(e, BrokenPipeError) or e.errno == errno.EPIPE:
        _silence_stdout()
        return EPIPE_EXIT
    if e.errno not in WRITE_ERRNOS:
        return None
    _silence_stdout()
    with contextlib.suppress(OSError):
        print(f"python -m conformance {command}: error: cannot write the results: "
              f"{e.strerror or e}", file=sys.stderr)
    return usage_exit(command)


def flush(command: str) -> int | None:
    """Flush stdout now (not at interpreter exit); an exit status if that failed."""
    if sys.stdout is None:
        return None
    try:
        sys.stdout.flush()
    except OSError as e:
        return write_failed(command, e)
    return None
