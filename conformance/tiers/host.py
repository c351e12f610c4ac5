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
from dataclasses import dataclass


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
            import signal as _s
            try:
                name = _s.Signals(self.signal).name
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


class QemuHost(abc.ABC):
    """A place where QEMU processes can be started."""

    #: tier name this host serves ("tcg", "kvm", "nested", "hw")
    tier: str

    @abc.abstractmethod
    def tier_args(self) -> list[str]:
        """Arguments the tier adds to every scenario (accelerator, CPU, firmware)."""

    @abc.abstractmethod
    async def start(self, argv: list[str]) -> QemuProcess:
        """Start ``binary + harness args (-S, -nodefaults, QMP) + argv``."""

    @abc.abstractmethod
    def unavailable_reason(self) -> str | None:
        """``None`` if this host can run scenarios, else why not (the skip reason)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release the host (stop L1 for the nested tier)."""
