"""One QMP session with a QEMU under test, recorded.

:class:`QmpSession` wraps ``qemu.qmp``'s asyncio :class:`~qemu.qmp.QMPClient` (no sync
wrappers) and adds what a conformance harness needs:

* a **transcript** of every command and reply (:class:`~conformance.result.QmpExchange`),
  shown to the user when a verdict is not ``pass``;
* a **per-command timeout**, after which QEMU counts as hung (:class:`QmpTimeout`);
* **typed failures** that say whether QEMU died (:class:`QemuDied`, with the exit status),
  or whether only the socket broke (:class:`QmpLost`);
* :meth:`open`, which races "QMP answers" against "QEMU exits": a QEMU that fails during
  machine creation never greets, so waiting for the greeting alone would hang.

QMP error replies are *observations*, not failures: :meth:`command` raises
:class:`CommandFailed` carrying the error class and description, and callers that expect
refusals (``device_add`` of a forbidden device) catch it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, NoReturn

from qemu.qmp import ExecInterruptedError, ExecuteError, QMPClient, QMPError

from conformance.errors import QemuDied, QmpLost, QmpStartupFailed, QmpTimeout
from conformance.result import QmpExchange
from conformance.tiers.host import ExitStatus, QemuProcess

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

#: seconds to wait for QEMU to reach the QMP greeting or exit
STARTUP_TIMEOUT = 30.0
#: seconds a single QMP command may take
COMMAND_TIMEOUT = 20.0
#: seconds to wait for QEMU's exit after the QMP connection broke (a crashing QEMU
#: closes the socket before the kernel has finished its core dump)
LOST_GRACE = 3.0
_POLL = 0.002


def _retrieve(t: asyncio.Future[Any]) -> None:
    if not t.cancelled():
        t.exception()


class CommandFailed(Exception):
    """QEMU answered a command with an error (an observation, not a harness failure)."""

    def __init__(self, command: str, error_class: str, desc: str) -> None:
        super().__init__(f"{command}: {error_class}: {desc}")
        self.command = command
        self.error_class = error_class
        self.desc = desc


class QmpSession:
    """A recorded QMP conversation with one :class:`~conformance.tiers.host.QemuProcess`."""

    def __init__(self, proc: QemuProcess, *, startup_timeout: float = STARTUP_TIMEOUT,
                 command_timeout: float = COMMAND_TIMEOUT) -> None:
        self.proc = proc
        self.startup_timeout = startup_timeout
        self.command_timeout = command_timeout
        self.transcript: list[QmpExchange] = []
        self._client = QMPClient("smmuv3-conformance")
        # qemu.qmp logs a failed negotiation at ERROR level; for this harness a QEMU that
        # exits before greeting is an ordinary outcome, recorded in the transcript.
        logging.getLogger(f"qemu.qmp.protocol.{self._client.name}").setLevel(logging.CRITICAL)
        self._t0 = time.monotonic()
        self.connected = False

    def _record(self, direction: str, message: Any) -> None:
        self.transcript.append(QmpExchange(direction, message,
                                           round(time.monotonic() - self._t0, 4)))

    # ------------------------------------------------------------------ startup
    async def open(self) -> ExitStatus | None:
        """Connect, or notice that QEMU exited first.

        Returns ``None`` once QMP is up, or QEMU's :class:`ExitStatus` if it ended before
        greeting (the "exits" outcome).  Raises :class:`QmpTimeout` if neither happens in
        ``startup_timeout`` seconds after the socket appeared, and
        :class:`QmpStartupFailed` if the socket never appears or keeps refusing.
        """
        deadline = time.monotonic() + self.startup_timeout
        while not self.proc.qmp_ready():
            status = await self.proc.wait(_POLL)
            if status is not None:
                return status
            if time.monotonic() > deadline:
                raise QmpStartupFailed(f"QMP socket {self.proc.qmp.for_client()} did not "
                                       f"appear within {self.startup_timeout:g} s")
        exited = asyncio.ensure_future(self.proc.wait(max(0.0, deadline - time.monotonic())))
        connect: asyncio.Future[None] | None = None
        try:
            while True:
                connect = asyncio.ensure_future(self._client.connect(self.proc.qmp.for_client()))
                done, _ = await asyncio.wait({connect, exited},
                                             return_when=asyncio.FIRST_COMPLETED)
                if connect in done and connect.exception() is None:
                    self.connected = True
                    self._record("<<<", {"QMP": "greeting"})
                    return None
                if exited in done:
                    status = exited.result()
                    if status is not None:
                        return status
                    raise QmpTimeout(f"QEMU neither greeted on QMP nor exited within "
                                     f"{self.startup_timeout:g} s")
                # refused: the socket file exists before QEMU listens on it; retry
                err = connect.exception()
                if time.monotonic() > deadline:
                    raise QmpStartupFailed(f"cannot connect to QMP at "
                                           f"{self.proc.qmp.for_client()}: {err}")
                await asyncio.sleep(_POLL)
        finally:
            # never swallow our own cancellation (Ctrl-C): wait() does not raise t's
            for t in (connect, exited):  # what they end with is ours to read, not the
                if t is not None:      # loop's "exception was never retrieved" on stderr
                    t.add_done_callback(_retrieve)
            pending = [t for t in (connect, exited) if t is not None and not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                await asyncio.wait(pending)
            if not self.connected:
                with contextlib.suppress(Exception):
                    await self._client.disconnect()

    # ------------------------------------------------------------------ commands
    async def command(self, name: str, arguments: dict[str, Any] | None = None) -> Any:
        """Run one QMP command; return its ``return`` value.

        Raises :class:`CommandFailed` for an error reply, :class:`QemuDied` if QEMU
        ended, :class:`QmpTimeout` if it did not answer, :class:`QmpLost` otherwise.
        """
        msg: dict[str, Any] = {"execute": name}
        if arguments:
            msg["arguments"] = arguments
        self._record(">>>", msg)
        try:
            ret = await asyncio.wait_for(self._client.execute(name, arguments),
                                         self.command_timeout)
        except ExecuteError as e:
            self._record("<<<", {"error": {"class": e.error_class, "desc": str(e)}})
            raise CommandFailed(name, e.error_class, str(e)) from None
        except TimeoutError:
            self._record("<<<", {"timeout": self.command_timeout})
            await self._ended_or(0.5, f"during '{name}'", f"during '{name}'", QmpTimeout(
                f"QEMU did not answer '{name}' within {self.command_timeout:g} s (hang)"))
        except (ExecInterruptedError, QMPError, EOFError, OSError) as e:
            self._record("<<<", {"disconnected": type(e).__name__})
            await self._ended_or(LOST_GRACE, f"during '{name}'", f"during '{name}'", QmpLost(
                f"QMP connection lost during '{name}' ({type(e).__name__}) while QEMU is "
                "still running"))
        self._record("<<<", {"return": ret})
        return ret

    async def command_and_event(self, name: str, event: str,
                                arguments: dict[str, Any] | None = None) -> Any:
        """:meth:`command`, then wait for the QMP ``event`` it causes (``system_reset``
        returns before the main loop resets the machine; ``RESET`` says it is done)."""
        with self._client.listener(event) as listener:
            ret = await self.command(name, arguments)
            try:
                await asyncio.wait_for(listener.get(), self.command_timeout)
            except TimeoutError:
                self._record("<<<", {"timeout": self.command_timeout, "event": event})
                await self._ended_or(0.5, f"waiting for {event}", f"after '{name}'", QmpTimeout(
                    f"no {event} event within {self.command_timeout:g} s after '{name}' "
                    "(hang)"))
        self._record("<<<", {"event": event})
        return ret

    async def _ended_or(self, grace: float, doing: str, where: str,
                        otherwise: Exception) -> NoReturn:
        """After QMP failed us: :class:`QemuDied` if QEMU ends within ``grace`` seconds
        (it was ``doing`` something), else ``otherwise`` (a hang, a lost connection)."""
        status = await self.proc.wait(grace)
        if status is not None:
            raise QemuDied(f"QEMU ended ({status.describe()}) {doing}", status,
                           where=where) from None
        raise otherwise from None

    async def hmp(self, command_line: str) -> str:
        """An HMP command through ``human-monitor-command``; its text output."""
        out = await self.command("human-monitor-command", {"command-line": command_line})
        return str(out)

    async def quit(self, timeout: float = 10.0) -> ExitStatus:
        """``quit`` and wait for the exit status (:class:`QmpTimeout` if it hangs)."""
        self._record(">>>", {"execute": "quit"})
        lost = False
        try:
            await asyncio.wait_for(self._client.execute("quit"), timeout)
        except (ExecInterruptedError, QMPError, EOFError, OSError):
            lost = True  # QEMU may close the socket before replying: fine if it exits
        except TimeoutError:
            pass
        await self.close()
        status = await self.proc.wait(LOST_GRACE if lost else timeout)
        if status is None:
            if lost:
                raise QmpLost("QMP connection lost during 'quit' while QEMU is still "
                              "running")
            raise QmpTimeout(f"QEMU did not exit within {timeout:g} s after 'quit'")
        self._record("<<<", {"exited": status.describe()})
        return status

    async def close(self) -> None:
        """Drop the connection (QEMU's EOF after ``quit`` is expected, not an error)."""
        if self.connected:
            self.connected = False
            with contextlib.suppress(Exception):  # not CancelledError: Ctrl-C must stop us
                await asyncio.wait_for(self._client.disconnect(), 5.0)
