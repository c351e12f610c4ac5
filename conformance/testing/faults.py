"""Fault injection into real QEMU processes, and leak accounting.

Used by ``tests/reliability/`` (a handful per fault kind, in the normal test run) and
``benchmarks/fault_injection.py`` (hundreds of random iterations).  Each :class:`Fault`
is a :data:`~conformance.runner.FaultHook` acting on the live QEMU the runner started,
at one :class:`~conformance.runner.Phase` (or at a random moment, from a timer), and
knows which verdict the harness must then give (:meth:`Fault.expect`).  The rules are
those of :mod:`conformance.runner` and docs/reliability.md:

=================  ===============================  ===================================
fault              what it does                     expected verdict
=================  ===============================  ===================================
``sigkill``        ``kill -KILL`` QEMU              infra-error (killed from outside)
``sigterm``        ``kill -TERM`` QEMU              infra-error (terminated from outside)
``sigsegv``        ``kill -SEGV`` QEMU              nonconformance "QEMU crashed"
``sigabrt``        ``kill -ABRT`` (an assert)       nonconformance "QEMU crashed"
``sigstop``        ``kill -STOP``: QEMU hangs       infra-error "hung ... stopped"
``close-qmp``      shut the QMP socket down         infra-error "QMP connection lost"
``unlink-qmp``     remove the socket before connect infra-error "QMP ... did not appear"
``flood``          write MiBs into QEMU's stderr    undisturbed, or nonconformance on
                                                    error/warnings only
``raise``          the hook raises (harness bug)    infra-error "harness error"
``cancel``         cancel the run (Ctrl-C)          the run raises CancelledError
``none``           nothing (control)                the undisturbed verdict
=================  ===============================  ===================================

``timer-sigkill`` / ``timer-sigsegv`` send the signal from a timer at a random delay
after start, so they land at arbitrary points (mid-command, during ``quit``...).  Whether
they landed is read from QEMU's wait status afterwards; one that arrives after QEMU
exited by itself expects the undisturbed verdict.

:func:`leaks` counts what a run may leave behind: QEMU processes whose command line
names the temporary root, entries in that root, UNIX sockets bound under it, and
unreaped (zombie) children of this process.  A process counts as a harness-started QEMU
when its command line has ``-qmp unix:<root>/...``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conformance.result import Verdict
from conformance.runner import FaultContext, Phase
from conformance.strays import qemu_processes
from conformance.tiers.host import QemuProcess
from conformance.tiers.local import TMP_PREFIX, process_state

KINDS = ("sigkill", "sigterm", "sigsegv", "sigabrt", "sigstop", "close-qmp", "unlink-qmp",
         "flood", "raise", "cancel", "none", "timer-sigkill", "timer-sigsegv")
_SIGNALS = {"sigkill": signal.SIGKILL, "sigterm": signal.SIGTERM,
            "sigsegv": signal.SIGSEGV, "sigabrt": signal.SIGABRT, "sigstop": signal.SIGSTOP}
FLOOD_BYTES = 4 * 1024 * 1024


class InjectedHarnessBug(RuntimeError):
    """Raised by the ``raise`` fault: stands for a bug in harness code."""


def _pid(proc: QemuProcess) -> int:
    pid = getattr(proc, "pid", None)
    if not isinstance(pid, int):
        raise TypeError(f"fault injection needs a local QEMU process, not {proc!r}")
    return pid


@dataclass
class Fault:
    """One fault of kind ``kind`` at ``phase`` (the ``index``-th time it is reached)."""

    kind: str
    phase: Phase = Phase.CONNECTED
    index: int = 0
    delay: float = 0.0  # timer faults: seconds after start
    fired: bool = False
    notes: list[str] = field(default_factory=list)
    _timer: asyncio.Task[None] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind '{self.kind}' (choose from {KINDS})")
        if self.kind == "unlink-qmp":
            self.phase, self.index = Phase.STARTED, 0  # STARTED is reached once
        if self.kind == "close-qmp" and self.phase is Phase.STARTED:
            self.phase = Phase.CONNECTED  # nothing to close before the connection

    def __str__(self) -> str:
        if self.kind.startswith("timer-"):
            return f"{self.kind}@{self.delay * 1000:.0f}ms"
        return f"{self.kind}@{self.phase.value}#{self.index}"

    # ------------------------------------------------------------------ the hook
    async def __call__(self, phase: Phase, ctx: FaultContext) -> None:
        if self.kind.startswith("timer-"):
            if phase is Phase.STARTED and self._timer is None:
                self._timer = asyncio.ensure_future(self._later(ctx.proc))
            return
        if self.fired or phase is not self.phase or ctx.index != self.index:
            return
        self.fired = True
        await self._act(ctx)

    async def _later(self, proc: QemuProcess) -> None:
        await asyncio.sleep(self.delay)
        sig = _SIGNALS[self.kind.removeprefix("timer-")]
        if process_state(_pid(proc)) not in (None, "Z"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(_pid(proc), sig)
                self.fired = True

    def cancel_timer(self) -> None:
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()

    async def _act(self, ctx: FaultContext) -> None:
        pid = _pid(ctx.proc)
        k = self.kind
        if k in _SIGNALS:
            os.kill(pid, _SIGNALS[k])
            if k != "sigstop":  # let it die, so the next command sees EOF, not a race
                await ctx.proc.wait(5.0)
        elif k == "close-qmp":
            sock = _client_socket(ctx)
            if sock is None:
                self.notes.append("no QMP socket to close")
            else:
                sock.shutdown(socket.SHUT_RDWR)
        elif k == "unlink-qmp":
            path = ctx.proc.qmp.path
            assert path is not None
            for _ in range(2500):  # QEMU creates it while parsing options
                if os.path.exists(path) or await ctx.proc.wait(0.002) is not None:
                    break
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        elif k == "flood":
            line = b"qemu-system-aarch64: injected stderr flood " + b"x" * 80 + b"\n"
            chunk = line * (65536 // len(line))
            with contextlib.suppress(OSError), open(f"/proc/{pid}/fd/2", "ab") as f:
                for _ in range(FLOOD_BYTES // len(chunk)):
                    f.write(chunk)
        elif k == "raise":
            raise InjectedHarnessBug(f"injected harness bug at {self}")
        elif k == "cancel":
            task = asyncio.current_task()
            assert task is not None
            task.cancel()
            await asyncio.sleep(0)

    # ------------------------------------------------------------------ oracle
    def expect(self, v: Verdict, baseline: Verdict) -> str | None:
        """Why ``v`` is misclassified for this fault (``None`` if it is right).

        ``baseline`` is the verdict of the same scenario without a fault.
        """
        k = self.kind
        if k == "none" or (not self.fired and k not in ("cancel",)):
            same = v.status == baseline.status
            return None if same else f"expected undisturbed '{baseline.status}', got " \
                                     f"'{v.status}' ({v.reason})"
        if k.startswith("timer-"):
            k = k.removeprefix("timer-")
            if v.signal != _SIGNALS[k]:  # QEMU had ended by itself: no fault happened
                same = v.status == baseline.status
                return None if same else (f"signal did not land (exit {v.exit_code}) yet "
                                          f"'{v.status}' != '{baseline.status}' ({v.reason})")
        want: dict[str, tuple[str, tuple[str, ...]]] = {
            "sigkill": ("infra-error", ("SIGKILL", "not a QEMU fault")),
            "sigterm": ("infra-error", ("from outside", "not a QEMU fault")),
            "sigsegv": ("nonconformance", ("QEMU crashed", "SIGSEGV")),
            "sigabrt": ("nonconformance", ("QEMU crashed", "SIGABRT")),
            "sigstop": ("infra-error", ("stopped", "from outside")),
            "close-qmp": ("infra-error", ("QMP connection lost",)),
            "unlink-qmp": ("infra-error", ("did not appear",)),
            "raise": ("infra-error", ("harness error", "InjectedHarnessBug")),
        }
        if k == "flood":
            # only what QEMU printed changed: the verdict may differ from the undisturbed
            # one only through the stderr-derived fields the model predicts
            paths = {str(d.get("path")).split(".")[0].split("[")[0] for d in v.differences}
            if v.status == baseline.status and paths <= {"error", "warnings"}:
                return None
            if v.status == "nonconformance" and paths and paths <= {"error", "warnings"}:
                return None
            return (f"flood: '{v.status}' (undisturbed '{baseline.status}') with "
                    f"differences at {sorted(paths)}: {v.reason[:200]}")
        status, words = want[k]
        if v.status != status:
            return f"expected '{status}', got '{v.status}' ({v.reason})"
        missing = [w for w in words if w.lower() not in v.reason.lower()]
        if missing:
            return f"reason lacks {missing}: {v.reason}"
        return None


def _client_socket(ctx: FaultContext) -> socket.socket | None:
    """The harness's end of the QMP connection (to shut it down from "outside")."""
    writer = getattr(ctx.session._client, "_writer", None)
    if writer is None:
        return None
    sock = writer.transport.get_extra_info("socket")
    if sock is None:
        return None
    return socket.socket(fileno=os.dup(sock.fileno()))  # a third party's own handle


# ---------------------------------------------------------------------- leak accounting
@dataclass
class Leaks:
    processes: list[str] = field(default_factory=list)  # "pid cmd"
    entries: list[str] = field(default_factory=list)  # smmuv3-conf-* under the temp root
    sockets: list[str] = field(default_factory=list)  # bound UNIX socket paths
    zombies: list[int] = field(default_factory=list)  # unreaped children

    @property
    def count(self) -> int:
        return len(self.processes) + len(self.entries) + len(self.sockets) + len(self.zombies)

    def __str__(self) -> str:
        return (f"{len(self.processes)} process(es) {self.processes}, {len(self.entries)} "
                f"temp entr(y/ies) {self.entries}, {len(self.sockets)} socket(s) "
                f"{self.sockets}, {len(self.zombies)} zombie(s) {self.zombies}")


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            "utf-8", "replace")
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for t in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            out += [int(x) for x in t.read_text().split()]
    return out


def leaks(tmp_root: str | Path, *, exclude: Callable[[int], bool] = lambda p: False
          ) -> Leaks:
    """What is left that a run rooted at ``tmp_root`` created (see module docstring)."""
    root = str(tmp_root)
    out = Leaks()
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and not exclude(int(d.name)):
            cmd = _cmdline(d.name)
            # a QEMU the harness started: its -qmp socket lives under the root
            if f"unix:{root}/" in cmd:
                out.processes.append(f"{d.name} {cmd[:120]}")
    with contextlib.suppress(OSError):
        out.entries = sorted(str(p) for p in Path(root).iterdir()
                             if p.name.startswith(TMP_PREFIX))
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
            parts = line.split()
            if len(parts) >= 8 and parts[7].startswith(root):
                out.sockets.append(parts[7])
    for c in _children(os.getpid()):
        if process_state(c) == "Z":
            out.zombies.append(c)
    # and as `pgrep -af 'bin/qemu-system-aarch64'` sees them (the provisioned QEMU runs
    # under its loader's name): any QEMU naming the root, e.g. a forked-away daemon
    listed = {p.split()[0] for p in out.processes}
    out.processes += [f"{pid} {cmd[:120]}" for pid, cmd in qemu_processes(root + "/")
                      if str(pid) not in listed and not exclude(pid)]
    return out


def process_pool_pids() -> set[int]:
    """Children that exist now (e.g. a pytest-xdist worker's own helpers) to exclude."""
    return set(_children(os.getpid()))


# ---------------------------------------------------------------------- broken binaries
#: fake binaries: answer ``--version`` like QEMU 11.1.3, then hang before QMP works
HUNG_MODES = ("no-socket", "no-greeting")
_FAKE = '''#!{python}
# A QEMU build that deadlocks before QMP ({mode}); written by conformance.testing.faults
import socket, sys, time
if "--version" in sys.argv:
    print("QEMU emulator version 11.1.3 (fake: hangs before QMP)")
    sys.exit(0)
if "{mode}" == "no-greeting":
    spec = sys.argv[sys.argv.index("-qmp") + 1]
    s = socket.socket(socket.AF_UNIX)
    s.bind(spec.removeprefix("unix:").split(",")[0])
    s.listen(8)  # accepts connections, never says a word
time.sleep(3600)
'''


def hung_binary(directory: Path, mode: str) -> Path:
    """A fake ``qemu-system-aarch64`` in ``directory`` that hangs before QMP (``mode``)."""
    import sys

    if mode not in HUNG_MODES:
        raise ValueError(f"unknown mode {mode!r} (choose from {HUNG_MODES})")
    d = directory / f"hung-{mode}" / "bin"
    d.mkdir(parents=True, exist_ok=True)
    exe = d / "qemu-system-aarch64"
    exe.write_text(_FAKE.format(python=sys.executable, mode=mode))
    exe.chmod(0o755)
    return exe
