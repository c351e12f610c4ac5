"""The nested tier's :class:`~conformance.tiers.host.QemuHost`: QEMU under test runs in L1.

:class:`NestedHost` boots L1 (:class:`~conformance.tiers.nested.l1.L1Machine`) lazily, at the
first scenario that needs it, and keeps it for the whole session; each scenario gets a
fresh L2 (:class:`NestedProcess`):

* a fresh folder ``/run/nested/<n>`` in L1 for its stdout/stderr;
* started with ``guest-exec`` through ``/bin/sh -c 'exec "$@" 2>stderr'``, so that QEMU
  is the process the agent reports on (exit code or signal);
* QMP on ``tcp:0.0.0.0:4444`` inside L1, which L0 forwards from a loopback port on the
  host: the runner's ``qemu.qmp`` session connects to ``("127.0.0.1", port)`` and runs
  unchanged.  Because L0's forwarder accepts connections even when nothing listens in
  L1, :meth:`NestedProcess.qmp_ready` turns true only once the port is in LISTEN state
  in L1's ``/proc/net/tcp``;
* a background poller (``guest-exec-status`` every 50-250 ms) notices the exit.

Only one L2 runs at a time (one QMP port); concurrent ``start`` calls queue.  After an
L2 that had to be killed, or any guest-agent failure, L1 is checked before the next L2
(:meth:`~conformance.tiers.nested.l1.L1Machine.healthy`): the passthrough device is re-bound
to vfio-pci if that is all that is wrong, otherwise L1 is rebooted.

Which image L1 boots: ``$SMMUV3_NESTED_IMAGE`` (``stock``, ``iommufd`` or ``auto``, the
default: iommufd if built, else stock).  The image's capabilities (``kvm``, ``vfio``,
``iommufd``, ``vfio-iommufd``) answer the scenarios' ``requires``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import signal
import time
from pathlib import Path

from artefacts.images import VARIANTS, find
from artefacts.provision import install_for
from catalogue.vocabulary import HARNESS_ARGS
from conformance.errors import HarnessError
from conformance.tiers.host import ExitStatus, QemuHost, QemuProcess, QmpAddress
from conformance.tiers.nested import hostprobe, machine
from conformance.tiers.nested.l1 import L1Error, L1Machine
from conformance.tiers.nested.qga import QgaClient, QgaError

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

L2_QEMU = "/usr/bin/qemu-system-aarch64"
ZERO_BIOS = "/run/zero-bios.bin"
#: what the nested tier adds to every scenario: KVM, the host CPU, and firmware "loaded"
#: (a zero-filled file), because accel=on needs ACPI with firmware (P10)
TIER_ARGS = ("-accel", "kvm", "-cpu", "host", "-bios", ZERO_BIOS)
_LISTEN_KEY = f":{machine.L2_QMP_PORT:04X} "


def _listening(proc_net_tcp: str) -> bool:
    """Whether ``/proc/net/tcp`` text shows the QMP port in LISTEN (state 0A)."""
    for line in proc_net_tcp.splitlines()[1:]:
        f = line.split()
        if len(f) > 3 and f[1].endswith(_LISTEN_KEY.strip()) and f[3] == "0A":
            return True
    return False


class NestedProcess(QemuProcess):
    """One L2 QEMU inside L1."""

    def __init__(self, host: NestedHost, argv: list[str], pid: int, workdir: str,
                 qmp_port: int) -> None:
        self.argv = argv
        self.qmp = QmpAddress(host="127.0.0.1", port=qmp_port)
        self.pid = pid
        self.workdir = workdir
        self._host = host
        self._qga: QgaClient = host.l1.qga
        self._status: ExitStatus | None = None
        self._exited = asyncio.Event()
        self._ready = False
        self._stderr = ""
        self._cleaned = False
        self.agent_error: str | None = None
        self._poller = asyncio.ensure_future(self._poll())

    # ------------------------------------------------------------------ polling
    async def _poll(self) -> None:
        interval = 0.05
        try:
            while True:
                st = await self._qga.exec_status(self.pid)
                if st.exited:
                    self._status = (ExitStatus(code=None, signal=st.signal)
                                    if st.signal is not None else ExitStatus(code=st.exitcode))
                    await self._refresh_stderr()
                    self._exited.set()
                    return
                if not self._ready:
                    tcp = (await self._qga.read_file("/proc/net/tcp")).decode(errors="replace")
                    self._ready = _listening(tcp)
                else:
                    interval = min(0.25, interval * 1.5)
                await asyncio.sleep(interval)
        except QgaError as e:
            self.agent_error = f"guest agent failed while watching L2: {e}"
            self._host.suspect(self.agent_error)
            self._status = ExitStatus(code=None, signal=None)
            self._exited.set()

    async def _refresh_stderr(self) -> None:
        with contextlib.suppress(QgaError):
            self._stderr = (await self._qga.read_file(f"{self.workdir}/stderr")
                            ).decode(errors="replace")

    # ------------------------------------------------------------------ QemuProcess
    def qmp_ready(self) -> bool:
        return self._ready and not self._exited.is_set()

    async def wait(self, timeout: float) -> ExitStatus | None:
        if not self._exited.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exited.wait(), timeout)
        return self._status if self._exited.is_set() else None

    def stderr_text(self) -> str:
        if self.agent_error and not self._stderr:
            return self.agent_error
        return self._stderr

    async def terminate(self, grace: float = 2.0) -> ExitStatus:
        try:
            if not self._exited.is_set():
                for sig, wait_s in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
                    with contextlib.suppress(QgaError):
                        await self._qga.sh(f"kill -{sig.value} {self.pid} 2>/dev/null; true",
                                           timeout=15.0)
                    if await self.wait(wait_s) is not None:
                        break
                    if sig == signal.SIGKILL:
                        self._host.suspect(f"L2 pid {self.pid} survived SIGKILL")
                else:
                    self._host.suspect(f"L2 pid {self.pid} did not end")
                if self._status is not None and self._status.signal == signal.SIGKILL:
                    self._host.suspect("L2 needed SIGKILL")
            if self._status is not None and self._status.signal not in (None, signal.SIGTERM):
                self._host.suspect(f"L2 ended with signal {self._status.signal}")
            if not self._stderr:
                await self._refresh_stderr()
        finally:
            await self._cleanup()
        return self._status or ExitStatus(code=None, signal=signal.SIGKILL)

    async def _cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        if not self._poller.done():
            self._poller.cancel()
            with contextlib.suppress(BaseException):
                await self._poller
        with contextlib.suppress(QgaError):
            await self._qga.sh(f"rm -rf {shlex.quote(self.workdir)}", timeout=15.0)
        self._host.release(self)


class NestedHost(QemuHost):
    """Runs scenarios in L2 inside one L1 per session."""

    tier = "nested"

    def __init__(self, image: str | None = None, log_dir: Path | None = None,
                 boot_timeout: float = 300.0) -> None:
        self.image_name = image or os.environ.get("SMMUV3_NESTED_IMAGE", "auto")
        self.log_dir = log_dir
        self.boot_timeout = boot_timeout
        self._l1: L1Machine | None = None
        self._unavailable: str | None = None
        self._capabilities: tuple[str, ...] = ()
        self._boot_lock = asyncio.Lock()
        self._slot = asyncio.Lock()
        self._current: NestedProcess | None = None
        self._suspect: str | None = None
        self._counter = 0
        self.boot_seconds: list[float] = []
        self.reboots = 0
        self.closed = False
        self._boot_failed: str | None = None
        self.probed_host: hostprobe.ProbedHost | None = None  # L1's host SMMU, at each boot
        self.host_probe_error: str | None = None
        self._resolve()

    # ------------------------------------------------------------------ setup
    def _resolve(self) -> None:
        want = self.image_name
        if want not in (*VARIANTS, "auto"):
            self._unavailable = (f"SMMUV3_NESTED_IMAGE={want!r} is not one of "
                                 f"{', '.join(VARIANTS)}, auto")
            return
        img = (find("iommufd") or find("stock")) if want == "auto" else find(want)
        if img is None:
            which = "stock" if want == "auto" else want
            self._unavailable = (f"nested tier: image '{which}' is not built "
                                 f"(run: python -m images build {which})")
            return
        l0 = install_for("amd64")
        if not l0.is_complete() or not l0.firmware().exists():
            self._unavailable = ("nested tier: the x86 QEMU 11.1.3 (L0) is not provisioned "
                                 "(run: python -m conformance provision)")
            return
        self.image = img
        self._capabilities = img.capabilities
        self._l0 = l0

    @property
    def l1(self) -> L1Machine:
        assert self._l1 is not None
        return self._l1

    def tier_args(self) -> list[str]:
        return list(TIER_ARGS)

    def unavailable_reason(self) -> str | None:
        return self._unavailable

    def missing_requirement(self, requirement: str) -> str | None:
        """Why a scenario's ``requires`` entry cannot be met by this L1 (or ``None``)."""
        if requirement in self._capabilities:
            return None
        return (f"L1 image '{self.image.variant}' has no {requirement} "
                f"(build and select the iommufd image: python -m images build iommufd)")

    def suspect(self, why: str) -> None:
        """Mark L1 as possibly unusable: it is checked before the next L2."""
        logger.info("L1 suspect: %s", why)
        self._suspect = why

    async def ensure_l1(self) -> L1Machine:
        """L1, booted on first use (once per host; a failed boot makes the host
        unavailable).  Public for the runners that stage files in L1 before L2 starts:
        the guest tier's payload, the Linux L2 guest."""
        async with self._boot_lock:
            if self._unavailable:
                raise L1Error(self._unavailable)
            if self._l1 is None:
                self._l1 = L1Machine(self._l0.launcher, self._l0.firmware(), self.image.kernel,
                                     self.image.initrd, log_dir=self.log_dir)
            if self._boot_failed is not None:
                raise L1Error(f"L1 failed to boot earlier in this session: {self._boot_failed}")
            if not self._l1.running:
                try:
                    info = await self._l1.boot(self.boot_timeout)
                except L1Error as e:
                    self._boot_failed = str(e)
                    raise
                self.boot_seconds.append(info.seconds)
                self._check_caps(info.capabilities)
                await self._probe_host_smmu(info.capabilities)
                self._suspect = None
            elif self._suspect is not None:
                why = await self._l1.healthy()
                if why == "the passthrough device is no longer bound to vfio-pci":
                    with contextlib.suppress(L1Error, QgaError):
                        await self._l1.bind_vfio()
                        why = await self._l1.healthy()
                if why is not None:
                    logger.info("rebooting L1 (%s; after: %s)", why, self._suspect)
                    try:
                        info = await self._l1.reboot(self.boot_timeout)
                    except L1Error as e:
                        self._boot_failed = str(e)
                        raise
                    self.boot_seconds.append(info.seconds)
                    self.reboots += 1
                    await self._probe_host_smmu(info.capabilities)
                self._suspect = None
            return self._l1

    def _check_caps(self, seen: set[str]) -> None:
        missing = set(self._capabilities) - seen
        if missing:
            raise L1Error(f"L1 booted from image '{self.image.variant}' lacks "
                          f"{', '.join(sorted(missing))} (its manifest promises them)")

    async def _probe_host_smmu(self, caps: set[str]) -> None:
        """Probe L1's host SMMU at every boot (:mod:`conformance.tiers.nested.hostprobe`)."""
        self.probed_host, self.host_probe_error = await hostprobe.probe_l1(
            self.l1.qga, caps, self.log_dir)

    def host_smmu(self) -> hostprobe.ProbedHost | None:
        """The host SMMU the model is given (raises if L1 has one it could not probe)."""
        if self.host_probe_error:
            raise HarnessError(f"nested L1: host SMMU probe failed: {self.host_probe_error}")
        return self.probed_host

    # ------------------------------------------------------------------ QemuHost
    async def start(self, argv: list[str], qtest: bool = False,
                    trace: tuple[str, ...] = ()) -> NestedProcess:
        # features is empty: the runner never asks this host for qtest or a trace file
        # (L1Error and QgaError are HarnessErrors; re-raised to say which step failed)
        await self._slot.acquire()
        try:
            try:
                l1 = await self.ensure_l1()
            except L1Error as e:
                raise HarnessError(f"nested L1: {e}") from None
            self._counter += 1
            workdir = f"/run/nested/{self._counter}"
            full = [L2_QEMU, *HARNESS_ARGS, "-qmp",
                    f"tcp:0.0.0.0:{machine.L2_QMP_PORT},server=on,wait=off", *argv]
            script = (f'mkdir -p {workdir} && cd {workdir} && '
                      f'exec "$@" >{workdir}/stdout 2>{workdir}/stderr')
            try:
                pid = await l1.qga.exec(["/bin/sh", "-c", script, "sh", *full], capture=False)
            except QgaError as e:
                self.suspect(str(e))
                raise HarnessError(f"nested L1: guest-exec of L2 failed: {e}") from None
            proc = NestedProcess(self, full, pid, workdir, l1.qmp_port)
            self._current = proc
            return proc
        except BaseException:
            self._slot.release()
            raise

    def release(self, proc: NestedProcess) -> None:
        if self._current is proc:
            self._current = None
            self._slot.release()

    async def close(self) -> None:
        self.closed = True
        if self._current is not None:
            with contextlib.suppress(Exception):
                await self._current.terminate(1.0)
        if self._l1 is not None:
            await self._l1.shutdown()


_shared: NestedHost | None = None


def make_host(binary: str) -> NestedHost:
    """The ``nested`` tier's host (``conformance.tiers`` looks this up).

    One host per process, so that every user in a session (the pytest plugin, the
    nested tests' fixture, ``python -m conformance run``) shares one L1 boot; after
    :meth:`NestedHost.close` the next call boots a new one.  ``binary`` is the
    harness's QEMU path; the nested tier always runs the arm64 QEMU that the L1 image
    holds (``/usr/bin/qemu-system-aarch64`` in L1), so it is unused.  L0/L1 logs go to
    ``$SMMUV3_NESTED_LOG_DIR/l1-<time>-<pid>/`` when that is set.
    """
    global _shared
    del binary
    if _shared is None or _shared.closed:
        log_root = os.environ.get("SMMUV3_NESTED_LOG_DIR")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        log_dir = Path(log_root) / f"l1-{stamp}-{os.getpid()}" if log_root else None
        _shared = NestedHost(log_dir=log_dir)
    return _shared
