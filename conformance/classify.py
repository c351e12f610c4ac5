"""How an abnormal end of QEMU becomes a verdict (the rationale: docs/reliability.md).

* QEMU killed by a signal QEMU raises on itself (SIGABRT from ``assert``/``abort``,
  SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) -> ``nonconformance`` "QEMU
  crashed", with the signal and the last stderr line;
* QEMU killed by a signal only *someone else* sends (SIGKILL: the OOM killer, a user;
  SIGTERM/SIGINT/SIGHUP, which QEMU turns into "terminating on signal N from pid P")
  -> ``infra-error``: the build was not tested, ``git bisect run`` must skip it (125);
* QEMU exiting by itself in the middle of the session -> ``nonconformance``;
* no QMP answer within ``command_timeout`` (or the scenario over ``scenario_timeout``)
  -> ``nonconformance`` "QEMU hung", unless the process is *stopped* (state ``T``:
  SIGSTOP from outside), which is an ``infra-error``.
"""

from __future__ import annotations

import re
import signal

from conformance.errors import QmpTimeout
from conformance.result import Status
from conformance.stderr_summary import last_line, tail_lines
from conformance.tiers.host import ExitStatus, QemuProcess

#: how many of QEMU's last stderr lines a verdict keeps
STDERR_TAIL_LINES = 20


def stderr_tail(text: str, lines: int = STDERR_TAIL_LINES, keep_marker: bool = True) -> str:
    """The last ``lines`` lines of QEMU's stderr (:func:`conformance.stderr_summary.tail_lines`:
    the harness's bytes-dropped marker kept or not)."""
    return tail_lines(text, lines, keep_marker)

#: signals QEMU raises on itself: assert()/abort(), bad memory access, bad instruction
CRASH_SIGNALS = frozenset({signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE,
                           signal.SIGILL, signal.SIGTRAP, signal.SIGSYS})
_TERMINATED_RE = re.compile(r"terminating on signal (\d+)(?: from pid (\d+))?[^\n]*")


def externally_terminated(stderr: str) -> str | None:
    """QEMU's own "terminating on signal N from pid P" line, if it printed one."""
    found = list(_TERMINATED_RE.finditer(stderr))
    return found[-1][0].strip() if found else None


def classify_end(status: ExitStatus, stderr: str, where: str) -> tuple[Status, str]:
    """Verdict status and reason for a QEMU that ended while the harness talked to it."""
    last = last_line(stderr)
    tail = f": {last}" if last else ""
    if status.signal is not None:
        if status.signal in CRASH_SIGNALS:
            return "nonconformance", f"QEMU crashed ({status.describe()}) {where}{tail}"
        return "infra-error", (f"QEMU was {status.describe()} {where}; not a QEMU fault "
                               "(sent from outside: OOM killer, a user, another process)")
    ext = externally_terminated(stderr)
    if ext is not None:
        return "infra-error", (f"QEMU was terminated from outside {where} ({ext}); "
                               "not a QEMU fault")
    return "nonconformance", f"QEMU exited unexpectedly ({status.describe()}) {where}{tail}"


def is_stopped(proc: QemuProcess) -> bool:
    """True if QEMU was stopped from outside (it cannot answer; not its fault)."""
    return proc.stopped()


def classify_hang(e: QmpTimeout, proc: QemuProcess) -> tuple[Status, str]:
    """A timeout is QEMU's hang unless the process was stopped from outside."""
    if is_stopped(proc):
        return "infra-error", (f"QEMU hung: {e}; the process was stopped (SIGSTOP/SIGTSTP "
                               "from outside), not a QEMU fault")
    return "nonconformance", f"QEMU hung: {e}"
