"""L1: one booted arm64 Linux guest (under L0, TCG) that runs the QEMUs under test.

:class:`L1Machine` owns the L0 process and everything around it: a private temporary
folder (``smmuv3-nested-*``) for the guest-agent socket, the console log and the L0
stderr; a free loopback port that L0 forwards to L2's QMP port in L1; and the
:class:`~conformance.tiers.nested.qga.QgaClient`.  :meth:`L1Machine.boot` returns once the
guest agent answers and L1 has been prepared:

* ``/dev/kvm`` exists (else the boot is reported as unusable, with the dmesg tail);
* the passthrough e1000e (``0000:01:00.0``) is bound to ``vfio-pci`` through
  ``driver_override`` and ``drivers_probe``;
* the capabilities are read from L1 itself: ``kvm``, ``vfio``, and ``iommufd`` /
  ``vfio-iommufd`` when ``/dev/iommu`` and ``/dev/vfio/devices`` exist.

:meth:`L1Machine.healthy` checks that L1 is still usable after an L2 (agent answers,
no QEMU left running, device still bound to vfio-pci, ``/dev/kvm`` present).
:meth:`L1Machine.shutdown` stops L0 (SIGTERM, then SIGKILL) and removes the folder; it
is idempotent, and an ``atexit`` hook does the same for machines still running when the
interpreter exits; L0 is started with ``PR_SET_PDEATHSIG`` so that even a SIGKILLed
harness leaves no L0, and the next boot sweeps temporary folders of dead harnesses.
The console log is kept in ``log_dir`` when one is given.
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
import time
from dataclasses import dataclass, field
from pathlib import Path

from conformance.errors import HarnessError
from conformance.tiers import reaper
from conformance.tiers.nested import machine
from conformance.tiers.nested.qga import QgaClient, QgaError

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

BOOT_TIMEOUT = 300.0
#: temporary folders are ``TMP_PREFIX<harness pid>-<random>``
TMP_PREFIX = "smmuv3-nested-"


def sweep_stale() -> list[str]:
    """Remove ``smmuv3-nested-<pid>-*`` folders whose harness process is gone."""
    return reaper.sweep_stale(TMP_PREFIX)


class L1Error(HarnessError):
    """L1 could not be booted or prepared; ``str()`` is one line with the evidence."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class BootInfo:
    seconds: float
    kernel_release: str = ""
    capabilities: set[str] = field(default_factory=set)


class L1Machine:
    """An L0 process running one L1 guest."""

    def __init__(self, qemu: Path, firmware: Path, kernel: Path, initrd: Path,
                 log_dir: Path | None = None, append: str = "",
                 smmu: str = "machine") -> None:
        self.qemu, self.firmware, self.kernel, self.initrd = qemu, firmware, kernel, initrd
        self.log_dir = log_dir
        self.append = append
        self.smmu = smmu
        self.qga = QgaClient()
        self.qmp_port = 0
        self.boot_info: BootInfo | None = None
        self.boots = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: Path | None = None
        reaper.track(self)

    # ------------------------------------------------------------------ paths
    @property
    def console_log(self) -> Path:
        if self.log_dir is not None:
            return self.log_dir / f"l1-console-{self.boots}.log"
        assert self._tmp is not None
        return self._tmp / "console.log"

    def console_tail(self, lines: int = 15) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except (OSError, AssertionError):
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def l0_stderr(self) -> str:
        if self._tmp is None:
            return ""
        try:
            return (self._tmp / "l0-stderr.log").read_text(errors="replace").strip()
        except OSError:
            return ""

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ------------------------------------------------------------------ lifecycle
    async def boot(self, timeout: float = BOOT_TIMEOUT) -> BootInfo:
        """Start L0 and wait until L1's guest agent answers; prepare L1."""
        if self.running:
            raise L1Error("L1 is already running")
        self.boots += 1
        t0 = time.monotonic()
        sweep_stale()
        self._tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-"))
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        qga_sock = self._tmp / "qga.sock"
        self.qmp_port = free_port()
        argv = machine.l0_argv(self.qemu, self.firmware, self.kernel, self.initrd, qga_sock,
                               self.console_log, self.qmp_port, self.append, self.smmu)
        (self._tmp / "l0-argv.txt").write_text(" ".join(argv) + "\n")
        if self.log_dir is not None:
            (self.log_dir / "l0-argv.txt").write_text(" ".join(argv) + "\n")
        with open(self._tmp / "l0-stderr.log", "wb") as err:
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL, stderr=err,
                                          start_new_session=True,
                                          preexec_fn=reaper.die_with_parent)
        logger.debug("L0 pid %d: %s", self._proc.pid, argv)
        try:
            await self._connect_agent(qga_sock, t0 + timeout)
            try:
                info = await self._prepare(time.monotonic() - t0)
            except QgaError as e:
                raise L1Error(f"preparing L1 through the guest agent: {e}; console: "
                              f"{self.console_tail(3)!r}") from None
        except BaseException:
            await self.shutdown()
            raise
        self.boot_info = info
        return info

    async def _connect_agent(self, sock: Path, deadline: float) -> None:
        while not sock.exists():
            self._check_alive("before opening the guest-agent socket")
            if time.monotonic() > deadline:
                raise L1Error(f"L0 did not create {sock}")
            await asyncio.sleep(0.05)
        self.qga = QgaClient()
        try:
            await self.qga.connect(str(sock))
        except QgaError as e:
            raise L1Error(f"L0's guest-agent socket: {e}") from None
        while True:
            self._check_alive("while L1 was booting")
            try:
                await self.qga.sync(3.0)
                return
            except QgaError:
                if time.monotonic() > deadline:
                    raise L1Error("L1's guest agent did not answer within the boot timeout; "
                                  f"console: {self.console_tail(5)!r}") from None

    def _check_alive(self, when: str) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            raise L1Error(f"L0 exited ({self._proc.returncode}) {when}: "
                          f"{self.l0_stderr()[-300:] or self.console_tail(5)!r}")

    async def _prepare(self, boot_seconds: float) -> BootInfo:
        st = await self.qga.sh(
            "uname -r; for f in /dev/kvm /dev/iommu /dev/vfio/vfio; do "
            "[ -e $f ] && echo have:$f; done; true")
        lines = st.stdout.decode().split()
        release = lines[0] if lines else "?"
        caps: set[str] = set()
        if "have:/dev/kvm" not in lines:
            dmesg = (await self.qga.sh("dmesg | grep -i kvm | tail -3")).stdout.decode()
            raise L1Error(f"L1 has no /dev/kvm (kernel {release}): {dmesg.strip()!r}")
        caps.add("kvm")
        if "have:/dev/iommu" in lines:
            caps.add("iommufd")
        await self.bind_vfio()
        st = await self.qga.sh("[ -e /dev/vfio/vfio ] && echo vfio; "
                               "[ -d /dev/vfio/devices ] && echo cdev; true")
        out = st.stdout.decode().split()
        if "vfio" in out:
            caps.add("vfio")
        if "cdev" in out:
            caps.add("vfio-iommufd")
        return BootInfo(round(boot_seconds, 2), release, caps)

    async def bind_vfio(self, bdf: str = machine.PASSTHROUGH_BDF) -> None:
        """Bind ``bdf`` in L1 to vfio-pci (unbinding any other driver first)."""
        d = f"/sys/bus/pci/devices/{bdf}"
        st = await self.qga.sh(
            f"[ -d {d} ] || {{ echo 'no device {bdf}'; exit 3; }}; "
            f"if [ -e {d}/driver ]; then "
            f"  [ \"$(basename $(readlink {d}/driver))\" = vfio-pci ] && exit 0; "
            f"  echo {bdf} > {d}/driver/unbind; fi; "
            f"echo vfio-pci > {d}/driver_override && echo {bdf} > /sys/bus/pci/drivers_probe; "
            f"[ \"$(basename $(readlink {d}/driver))\" = vfio-pci ] || "
            f"{{ echo 'not bound'; exit 4; }}")
        if not st.ok:
            raise L1Error(f"binding {bdf} to vfio-pci in L1 failed ({st.describe()}): "
                          f"{(st.stdout + st.stderr).decode().strip()}")

    async def healthy(self) -> str | None:
        """``None`` if L1 can run the next L2, else what is wrong."""
        if not self.running:
            return "L0 is not running"
        try:
            await self.qga.sync(10.0)
            st = await self.qga.sh(
                "pidof qemu-system-aarch64 && echo LEFTOVER; "
                f"[ \"$(basename $(readlink /sys/bus/pci/devices/{machine.PASSTHROUGH_BDF}"
                "/driver))\" = vfio-pci ] || echo UNBOUND; [ -e /dev/kvm ] || echo NOKVM; true",
                timeout=20.0)
        except QgaError as e:
            return f"guest agent: {e}"
        out = st.stdout.decode()
        for word, why in (("LEFTOVER", "a QEMU is still running in L1"),
                          ("UNBOUND", "the passthrough device is no longer bound to vfio-pci"),
                          ("NOKVM", "/dev/kvm disappeared")):
            if word in out:
                return why
        return None

    async def reboot(self, timeout: float = BOOT_TIMEOUT) -> BootInfo:
        await self.shutdown(keep_logs=True)
        return await self.boot(timeout)

    async def shutdown(self, keep_logs: bool = True) -> None:
        """Stop L0 and remove its temporary folder (idempotent)."""
        await self.qga.close()
        p, self._proc = self._proc, None
        if p is not None and p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            for _ in range(50):
                if p.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        if self._tmp is not None:
            if keep_logs and self.log_dir is not None:
                with contextlib.suppress(OSError):
                    shutil.copy2(self._tmp / "l0-stderr.log",
                                 self.log_dir / f"l0-stderr-{self.boots}.log")
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _kill_sync(self) -> None:
        p, self._proc = self._proc, None
        if p is not None and p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError, OSError):
                p.wait(5)
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
