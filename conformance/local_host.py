"""QEMU as a child process of the harness (the TCG tier, and native KVM).

Each :class:`LocalProcess` gets a private temporary directory (``smmuv3-conf-*`` under
``$TMPDIR``) holding its QMP socket and its stderr/stdout files.  QMP is opened by QEMU
as a listening UNIX socket (``-qmp unix:PATH,server=on,wait=off``): QEMU creates it while
parsing its options, so the harness can connect as soon as the path exists, and a QEMU
that fails during machine creation simply exits, without waiting for a client.

Clean-up is unconditional: :meth:`LocalProcess.terminate` sends SIGTERM, then SIGKILL
after a grace period, reaps the child and removes the directory, whatever state QEMU
is in.  As a last line of defence, processes still alive when the interpreter exits are
killed by an ``atexit`` hook, so an interrupted run leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import weakref
from pathlib import Path

from conformance.hosts import ExitStatus, QemuHost, QemuProcess, QmpAddress

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

#: arguments the harness adds to every QEMU it starts (before the tier's and scenario's)
HARNESS_ARGS = ("-S", "-nodefaults", "-display", "none")
_live: weakref.WeakSet[LocalProcess] = weakref.WeakSet()


def _exit_status(returncode: int) -> ExitStatus:
    if returncode < 0:
        return ExitStatus(code=None, signal=-returncode)
    return ExitStatus(code=returncode)


class LocalProcess(QemuProcess):
    """One QEMU child process with its private temporary directory."""

    def __init__(self, argv: list[str], workdir: Path, qmp_path: Path,
                 proc: asyncio.subprocess.Process) -> None:
        self.argv = argv
        self.qmp = QmpAddress(path=str(qmp_path))
        self.workdir = workdir
        self._proc = proc
        self._stderr_path = workdir / "stderr.log"
        self._stderr_cache: str | None = None
        self._status: ExitStatus | None = None
        self._cleaned = False
        _live.add(self)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def qmp_ready(self) -> bool:
        return self.qmp.path is not None and os.path.exists(self.qmp.path)

    @property
    def status(self) -> ExitStatus | None:
        """The exit status once known (``None`` while running)."""
        if self._status is None and self._proc.returncode is not None:
            self._status = _exit_status(self._proc.returncode)
        return self._status

    async def wait(self, timeout: float) -> ExitStatus | None:
        try:
            rc = await asyncio.wait_for(self._proc.wait(), timeout)
        except TimeoutError:
            return None
        self._status = _exit_status(rc)
        return self._status

    def stderr_text(self) -> str:
        if self._stderr_cache is not None:
            return self._stderr_cache
        try:
            return self._stderr_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    async def terminate(self, grace: float = 2.0) -> ExitStatus:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)
            if await self.wait(grace) is None:
                logger.debug("pid %d ignored SIGTERM; sending SIGKILL", self.pid)
                with contextlib.suppress(ProcessLookupError):
                    self._proc.kill()
                await self._proc.wait()
        status = self.status
        assert status is not None
        self._cleanup()
        return status

    def _cleanup(self) -> None:
        if self._cleaned:
            return
        self._stderr_cache = self.stderr_text()
        shutil.rmtree(self.workdir, ignore_errors=True)
        self._cleaned = True
        _live.discard(self)

    def _kill_sync(self) -> None:
        """Last resort at interpreter exit: kill and remove, without an event loop."""
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(self._proc.pid, 0)
        self._cleanup()


@atexit.register
def _kill_leftovers() -> None:
    for p in list(_live):
        p._kill_sync()


class LocalHost(QemuHost):
    """Start QEMU on this machine with a fixed accelerator.

    ``tier`` is the name verdicts carry; ``accel_args`` what the tier adds to every
    scenario (``-accel tcg`` for TCG).
    """

    def __init__(self, binary: str, tier: str = "tcg",
                 accel_args: tuple[str, ...] = ("-accel", "tcg"),
                 unavailable: str | None = None, tmp_root: str | None = None) -> None:
        self.binary = binary
        self.tier = tier
        self._accel_args = list(accel_args)
        self._unavailable = unavailable
        self._tmp_root = tmp_root

    def tier_args(self) -> list[str]:
        return list(self._accel_args)

    def unavailable_reason(self) -> str | None:
        return self._unavailable

    def harness_args(self, qmp_path: str) -> list[str]:
        return [*HARNESS_ARGS, "-qmp", f"unix:{qmp_path},server=on,wait=off"]

    async def start(self, argv: list[str]) -> LocalProcess:
        workdir = Path(tempfile.mkdtemp(prefix="smmuv3-conf-", dir=self._tmp_root))
        qmp_path = workdir / "qmp.sock"
        full = [self.binary, *self.harness_args(str(qmp_path)), *argv]
        try:
            with open(workdir / "stderr.log", "wb") as err, \
                 open(workdir / "stdout.log", "wb") as out:
                proc = await asyncio.create_subprocess_exec(
                    *full, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    start_new_session=True)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        logger.debug("started pid %d: %s", proc.pid, full)
        return LocalProcess(full, workdir, qmp_path, proc)


def kvm_unavailable_reason() -> str | None:
    """Why native KVM cannot run accel=on scenarios here (``None`` if it can)."""
    if os.uname().machine not in ("aarch64", "arm64"):
        return f"native KVM tier needs an aarch64 host (this is {os.uname().machine})"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "native KVM tier needs read/write access to /dev/kvm"
    return None
