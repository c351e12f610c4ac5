"""QEMU as a child process of the harness (the TCG tier, and native KVM).

Each :class:`LocalProcess` gets a private temporary directory (``smmuv3-conf-*`` under
``$TMPDIR``) holding its QMP socket and its stderr/stdout files.  QMP is opened by QEMU
as a listening UNIX socket (``-qmp unix:PATH,server=on,wait=off``): QEMU creates it while
parsing its options, so the harness can connect as soon as the path exists, and a QEMU
that fails during machine creation simply exits, without waiting for a client.

Clean-up is unconditional, in layers (docs/reliability.md):

1. :meth:`LocalProcess.terminate` sends SIGTERM, then SIGKILL after a grace period (at
   once if QEMU is stopped, e.g. by SIGSTOP: a stopped process cannot act on SIGTERM),
   reaps the child and removes the directory, whatever state QEMU is in; if the
   awaiting task is cancelled half-way, it kills synchronously before re-raising.
2. Processes still alive when the interpreter exits (Ctrl-C through pytest, an
   exception escaping an event loop) are killed by an ``atexit`` hook.
3. QEMU is started with ``PR_SET_PDEATHSIG`` = SIGKILL: if the harness process itself
   dies without running any Python (SIGKILL, OOM killer, a pytest-xdist worker crash),
   the kernel kills its QEMUs.  The launcher execs QEMU, so the setting reaches it.
4. Temporary directories are named ``smmuv3-conf-<harness pid>-*``;
   :func:`sweep_stale` removes those whose harness process no longer exists.  It runs
   when a :class:`LocalHost` is created and at exit, so the survivor of a crashed worker
   (the pytest-xdist controller, the next run) removes what the dead one left.

:meth:`LocalProcess.stderr_text` reads at most the last :data:`STDERR_READ_LIMIT` bytes:
a QEMU flooding its stderr (it goes to a file, never a pipe, so QEMU cannot block on it)
costs the harness bounded memory and time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path

from catalogue.vocabulary import HARNESS_ARGS
from conformance.elfinfo import start_error
from conformance.errors import HostError
from conformance.stderr_summary import tail
from conformance.strays import kill_strays
from conformance.tiers import reaper
from conformance.tiers.host import ExitStatus, QemuHost, QemuProcess, QmpAddress

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

#: arguments the harness adds to every QEMU it starts (before the tier's and scenario's)
#: temporary directories are ``TMP_PREFIX<harness pid>-<random>``
TMP_PREFIX = "smmuv3-conf-"
#: bytes of QEMU's stderr the harness reads (the tail; the head is dropped)
STDERR_READ_LIMIT = 256 * 1024
#: AF_UNIX socket paths are limited to 107 bytes; our longest is
#: ``<root>/smmuv3-conf-<pid>-XXXXXXXX/qtest.sock`` (about 40 bytes past the root).
_SOCKET_SUFFIX_MAX = 48
_SUN_PATH_MAX = 107


def socket_safe_root(tmp_root: str | None = None) -> str:
    """The folder to create work folders in: ``tmp_root`` (default ``$TMPDIR``) when the
    sockets inside fit AF_UNIX's path limit, else ``/tmp``.

    A deep ``$TMPDIR`` (pytest's ``tmp_path`` under xdist, a CI workspace) would otherwise
    make every QEMU start fail with "AF_UNIX path too long".
    """
    root = tmp_root or tempfile.gettempdir()
    if len(os.fsencode(root)) + _SOCKET_SUFFIX_MAX <= _SUN_PATH_MAX:
        return root
    logger.debug("%s is too long for AF_UNIX socket paths; using /tmp", root)
    return "/tmp"


def sweep_stale(tmp_root: str | None = None) -> list[str]:
    """Remove ``smmuv3-conf-<pid>-*`` folders whose harness process is gone
    (:func:`conformance.tiers.reaper.sweep_stale`)."""
    return reaper.sweep_stale(TMP_PREFIX, tmp_root)


def process_state(pid: int) -> str | None:
    """The one-letter state of ``/proc/PID/stat`` (``T`` stopped, ``Z`` zombie...)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode("ascii", "replace")
    except OSError:
        return None
    return stat[stat.rfind(")") + 2:][:1] or None


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
        #: the listening qtest socket (only when started with ``qtest=True``)
        self.qtest_listener: socket.socket | None = None
        self._qtest_conn: socket.socket | None = None
        #: the ``-D`` trace log (only when started with trace events)
        self.trace_path: Path | None = None
        self._trace_cache: str | None = None
        reaper.track(self)

    @property
    def pid(self) -> int:
        return self._proc.pid

    def qmp_ready(self) -> bool:
        return self.qmp.path is not None and os.path.exists(self.qmp.path)

    def stopped(self) -> bool:
        """True if QEMU is stopped (SIGSTOP/SIGTSTP/ptrace): it cannot answer anything."""
        return self._proc.returncode is None and process_state(self.pid) in ("T", "t")

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
        """QEMU's stderr so far: at most its last :data:`STDERR_READ_LIMIT` bytes."""
        if self._stderr_cache is not None:
            return self._stderr_cache
        try:
            with open(self._stderr_path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - STDERR_READ_LIMIT))
                data = f.read(STDERR_READ_LIMIT)
        except OSError:
            return ""
        return tail(data, size)  # marks what was dropped, keeps the real last line

    def trace_text(self) -> str | None:
        """The whole trace log (``None`` when not tracing); kept after clean-up."""
        if self._trace_cache is not None or self.trace_path is None:
            return self._trace_cache
        try:
            return self.trace_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    async def terminate(self, grace: float = 2.0) -> ExitStatus:
        try:
            if self._proc.returncode is None:
                if self.stopped():
                    logger.debug("pid %d is stopped; sending SIGKILL", self.pid)
                    with contextlib.suppress(ProcessLookupError):
                        self._proc.kill()
                else:
                    with contextlib.suppress(ProcessLookupError):
                        self._proc.send_signal(signal.SIGTERM)
                    if await self.wait(grace) is None:
                        logger.debug("pid %d ignored SIGTERM; sending SIGKILL", self.pid)
                        with contextlib.suppress(ProcessLookupError):
                            self._proc.kill()
                await self._proc.wait()
        except BaseException:  # cancelled (Ctrl-C) half-way: finish without the loop
            self._kill_sync()
            raise
        status = self.status
        assert status is not None
        self._cleanup()
        return status

    async def qtest_connection(self, timeout: float = 10.0) -> socket.socket:
        """The qtest connection QEMU opened to the harness (accepted once)."""
        if self._qtest_conn is None:
            if self.qtest_listener is None:
                raise HostError("QEMU was not started with -qtest")
            loop = asyncio.get_running_loop()
            try:
                conn, _ = await asyncio.wait_for(loop.sock_accept(self.qtest_listener),
                                                 timeout)
            except TimeoutError:
                raise HostError(f"QEMU did not connect to the qtest socket within "
                                f"{timeout:g} s") from None
            self._qtest_conn = conn
        return self._qtest_conn

    def _cleanup(self) -> None:
        if self._cleaned:
            return
        for sock in (self._qtest_conn, self.qtest_listener):
            if sock is not None:
                sock.close()
        self._stderr_cache = self.stderr_text()
        self._trace_cache = self.trace_text()
        if kill_strays(f"unix:{self.workdir}/"):  # it forked away (-daemonize): contained
            logger.warning("killed processes of %s that outlived it", self.workdir)
        shutil.rmtree(self.workdir, ignore_errors=True)
        self._cleaned = True
        reaper.untrack(self)

    def _kill_sync(self) -> None:
        """Last resort (cancelled terminate, interpreter exit): kill and remove, without
        an event loop."""
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, OSError):
                _, st = os.waitpid(self._proc.pid, 0)
                self._status = _exit_status(os.waitstatus_to_exitcode(st))
        self._cleanup()


class LocalHost(QemuHost):
    """Start QEMU on this machine with a fixed accelerator.

    ``tier`` is the name verdicts carry; ``accel_args`` what the tier adds to every
    scenario (``-accel tcg`` for TCG).
    """

    def __init__(self, binary: str, tier: str = "tcg",
                 accel_args: tuple[str, ...] = ("-accel", "tcg"),
                 unavailable: str | None = None, tmp_root: str | None = None,
                 features: frozenset[str] | None = None) -> None:
        self.binary = binary
        self.tier = tier
        #: a local QEMU writes its -D trace log where the harness reads it; qtest
        #: cannot be combined with KVM, so only a TCG host offers it
        self.features = features if features is not None else frozenset(
            {"trace-file", "qtest"} if "kvm" not in accel_args else {"trace-file"})
        self._accel_args = list(accel_args)
        self._unavailable = unavailable
        self._tmp_root = socket_safe_root(tmp_root)
        if reaper.sweep_at_exit(TMP_PREFIX, self._tmp_root):  # first host on this root
            sweep_stale(self._tmp_root)

    def tier_args(self) -> list[str]:
        return list(self._accel_args)

    def unavailable_reason(self) -> str | None:
        return self._unavailable

    def harness_args(self, qmp_path: str) -> list[str]:
        return [*HARNESS_ARGS, "-qmp", f"unix:{qmp_path},server=on,wait=off"]

    async def start(self, argv: list[str], qtest: bool = False,
                    trace: tuple[str, ...] = ()) -> LocalProcess:
        """Start QEMU; with ``qtest``, also ``-qtest unix:<tmp>/qtest.sock`` (the harness
        listens there before QEMU starts; see :meth:`LocalProcess.qtest_connection`);
        with ``trace`` events, ``-trace EVENT``... ``-D <tmp>/trace.log`` (the log goes
        to that file, never to stderr; :meth:`LocalProcess.trace_text`)."""
        try:
            workdir = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-",
                                            dir=self._tmp_root))
        except OSError as e:
            raise HostError(f"cannot create a temporary folder in "
                            f"{self._tmp_root}: {e.strerror}") from None
        qmp_path = workdir / "qmp.sock"
        full = [self.binary, *self.harness_args(str(qmp_path)), *argv]
        listener: socket.socket | None = None
        try:
            if qtest:
                qtest_path = workdir / "qtest.sock"
                listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                listener.setblocking(False)
                listener.bind(str(qtest_path))
                listener.listen(1)
                full[1:1] = ["-qtest", f"unix:{qtest_path}", "-qtest-log", "/dev/null"]
            if trace:
                full[1:1] = ["-D", str(workdir / "trace.log"),
                             *(a for e in trace for a in ("-trace", e))]
            with open(workdir / "stderr.log", "wb") as err, \
                 open(workdir / "stdout.log", "wb") as out:
                proc = await asyncio.create_subprocess_exec(
                    *full, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                    start_new_session=True, preexec_fn=reaper.die_with_parent)
        except OSError as e:
            if listener is not None:
                listener.close()
            shutil.rmtree(workdir, ignore_errors=True)
            raise HostError(start_error(self.binary, str(workdir), e)) from None
        except BaseException:
            if listener is not None:
                listener.close()
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        logger.debug("started pid %d: %s", proc.pid, full)
        lp = LocalProcess(full, workdir, qmp_path, proc)
        lp.qtest_listener = listener
        if trace:
            lp.trace_path = workdir / "trace.log"
        return lp


def kvm_unavailable_reason() -> str | None:
    """Why native KVM cannot run accel=on scenarios here (``None`` if it can)."""
    if os.uname().machine not in ("aarch64", "arm64"):
        return f"native KVM tier needs an aarch64 host (this is {os.uname().machine})"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "native KVM tier needs read/write access to /dev/kvm"
    return None
