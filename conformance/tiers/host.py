"""Where a QEMU under test runs: the seam between tiers and observation.

The observation code (QMP with ``qemu.qmp``'s asyncio ``QMPClient``, ``info mtree``,
``qom-get``, ``xp``) is the same on every tier.  What differs is *where* the process runs
and how its QMP socket is reached:

* :class:`LocalHost` (TCG tier, native KVM tier): a child process of the harness, QMP on
  a UNIX socket in a private temporary directory.
* the nested host (``conformance.tiers.nested``): QEMU runs inside an L1 Linux guest, started
  with qemu-guest-agent's ``guest-exec``; its QMP listens on TCP inside L1 and is reached
  through L0's user-mode ``hostfwd``.

A tier's host hands out :class:`QemuProcess` objects.  The contract every implementation
keeps: ``terminate()`` is idempotent and leaves no process, socket or temporary file
behind, whatever state the QEMU is in (running, hung, stopped with SIGSTOP, dead).
"""

from __future__ import annotations

import abc
import os
import signal as _signal
import socket
from dataclasses import dataclass
from pathlib import Path

from conformance.errors import HostError

#: host requirement (catalogue.vocabulary.REQUIREMENTS) -> (device node, reason if absent)
REQUIREMENT_CHECKS: dict[str, tuple[str, str]] = {
    "iommufd": ("/dev/iommu", "host has no /dev/iommu (iommufd)"),
    "vfio": ("/dev/vfio/vfio", "host has no /dev/vfio/vfio"),
    "vfio-iommufd": ("/dev/vfio/devices", "host has no /dev/vfio/devices (VFIO cdev for iommufd)"),
}


@dataclass(frozen=True)
class QmpAddress:
    """A UNIX socket path, or a (host, port) TCP address."""

    path: str | None = None
    host: str | None = None
    port: int | None = None

    def for_client(self) -> str | tuple[str, int]:
        if self.path is not None:
            return self.path
        assert self.host is not None and self.port is not None
        return (self.host, self.port)


@dataclass
class ExitStatus:
    """How a QEMU process ended: ``code`` for a normal exit, ``signal`` for a kill."""

    code: int | None
    signal: int | None = None

    def describe(self) -> str:
        if self.signal is not None:
            try:
                name = _signal.Signals(self.signal).name
            except ValueError:
                name = str(self.signal)
            return f"killed by signal {name}"
        return f"exit code {self.code}"


class QemuProcess(abc.ABC):
    """One QEMU under test."""

    argv: list[str]
    qmp: QmpAddress

    @abc.abstractmethod
    async def wait(self, timeout: float) -> ExitStatus | None:
        """Wait for the process to end; ``None`` if it is still running at ``timeout``."""

    @abc.abstractmethod
    def stderr_text(self) -> str:
        """Everything QEMU wrote to stderr so far (complete once it has ended)."""

    @abc.abstractmethod
    async def terminate(self, grace: float = 2.0) -> ExitStatus:
        """SIGTERM, then SIGKILL after ``grace`` seconds; reap; remove sockets/temp files."""

    @abc.abstractmethod
    def qmp_ready(self) -> bool:
        """True once the QMP endpoint accepts connections (socket exists / port open)."""

    # Optional abilities: a host whose ``features`` promise them overrides these.

    #: the ``-D`` trace log while QEMU runs (feature ``trace-file``), else ``None``
    trace_path: Path | None = None

    def trace_text(self) -> str | None:
        """The whole trace log, kept after clean-up (feature ``trace-file``)."""
        return None

    async def qtest_connection(self, timeout: float = 10.0) -> socket.socket:
        """The qtest connection QEMU opened to the harness (feature ``qtest``)."""
        raise HostError("this host cannot start QEMU with -qtest")

    def stopped(self) -> bool:
        """True if QEMU is stopped from outside (SIGSTOP): it cannot answer anything."""
        return False


class QemuHost(abc.ABC):
    """A place where QEMU processes can be started.

    A host *declares* what it can do in :attr:`features`; the runner and the observers
    ask for a feature, never for a host class:

    ``trace-file``
        ``start(..., trace=EVENTS)`` writes a ``-D`` trace log the harness can read
        (:meth:`QemuProcess.trace_text`);
    ``qtest``
        ``start(..., qtest=True)`` adds a qtest socket
        (:meth:`QemuProcess.qtest_connection`), which only works without KVM.
    """

    #: tier name this host serves ("tcg", "kvm", "nested", "hw")
    tier: str
    #: what this host can do beyond starting QEMU with QMP (see the class docstring)
    features: frozenset[str] = frozenset()

    @abc.abstractmethod
    def tier_args(self) -> list[str]:
        """Arguments the tier adds to every scenario (accelerator, CPU, firmware)."""

    @abc.abstractmethod
    async def start(self, argv: list[str], qtest: bool = False,
                    trace: tuple[str, ...] = ()) -> QemuProcess:
        """Start ``binary + harness args (-S, -nodefaults, QMP) + argv``.

        ``qtest`` and ``trace`` are only passed when :attr:`features` has ``qtest`` /
        ``trace-file``; a host without them may ignore them.
        """

    def missing_requirement(self, requirement: str) -> str | None:
        """Why this host cannot meet a scenario's ``requires`` entry, else ``None``.

        The default checks this machine's device nodes; a host that runs QEMU elsewhere
        (the nested tier's L1) answers for that machine.
        """
        check = REQUIREMENT_CHECKS.get(requirement)
        if check is None:
            return f"unknown '{requirement}'"
        path, reason = check
        return None if os.path.exists(path) else reason

    @abc.abstractmethod
    def unavailable_reason(self) -> str | None:
        """``None`` if this host can run scenarios, else why not (the skip reason)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the host (stop L1 for the nested tier)."""
