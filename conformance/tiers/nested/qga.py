"""An asyncio client for qemu-guest-agent (QGA), as used by the nested tier.

``qemu.qmp``'s ``QMPClient`` speaks QMP (greeting, capabilities negotiation); QGA has no
greeting and its stream may hold stale replies from an earlier client, so this module
implements the QGA conventions directly:

* :meth:`QgaClient.sync` sends the resynchronisation byte ``0xFF`` and
  ``guest-sync-delimited`` with a fresh id, skips everything up to the agent's ``0xFF``
  marker and waits for that id to come back.  Until the agent runs in the guest, the
  request goes unanswered; :meth:`QgaClient.wait_ready` retries it, which is how the
  harness knows that L1 has booted.
* :meth:`QgaClient.execute` sends one command and returns its ``return`` value, or raises
  :class:`QgaCommandError` with the error class and description.
* :meth:`QgaClient.exec` / :meth:`QgaClient.exec_status` / :meth:`QgaClient.run` wrap
  ``guest-exec`` and ``guest-exec-status`` (base64 output decoded);
  :meth:`QgaClient.read_file` wraps ``guest-file-open/read/close``.

Requests are serialised with a lock: QGA answers strictly in order, one at a time.
Every wait has a timeout (:class:`QgaTimeout`); a closed socket is :class:`QgaLost`.
Logging is silent unless the application configures ``conformance.tiers.nested.qga``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import random
from dataclasses import dataclass
from typing import Any

from conformance.errors import HarnessError

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

DELIMITER = b"\xff"


class QgaError(HarnessError):
    """Base class of guest-agent failures."""


class QgaTimeout(QgaError):
    """The agent did not answer in time."""


class QgaLost(QgaError):
    """The connection to the agent's socket closed or failed."""


class QgaCommandError(QgaError):
    """The agent answered with an error reply."""

    def __init__(self, command: str, error_class: str, desc: str) -> None:
        super().__init__(f"{command}: {error_class}: {desc}")
        self.command = command
        self.error_class = error_class
        self.desc = desc


@dataclass
class ExecStatus:
    """``guest-exec-status`` decoded; ``exitcode``/``signal`` only once ``exited``."""

    exited: bool
    exitcode: int | None = None
    signal: int | None = None
    stdout: bytes = b""
    stderr: bytes = b""

    @classmethod
    def from_reply(cls, r: dict[str, Any]) -> ExecStatus:
        return cls(exited=bool(r.get("exited")), exitcode=r.get("exitcode"),
                   signal=r.get("signal"),
                   stdout=base64.b64decode(r.get("out-data", "")),
                   stderr=base64.b64decode(r.get("err-data", "")))

    @property
    def ok(self) -> bool:
        return self.exited and self.exitcode == 0 and self.signal is None

    def describe(self) -> str:
        if not self.exited:
            return "still running"
        if self.signal is not None:
            return f"killed by signal {self.signal}"
        return f"exit code {self.exitcode}"


class QgaClient:
    """One connection to a qemu-guest-agent UNIX (or TCP) socket."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._buf = b""
        self._lock = asyncio.Lock()
        self._ids = itertools.count(random.randrange(1, 1 << 30))

    @property
    def connected(self) -> bool:
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self, path: str) -> None:
        try:
            self._reader, self._writer = await asyncio.wait_for(
                asyncio.open_unix_connection(path), self.timeout)
        except TimeoutError:
            raise QgaTimeout(f"connecting to {path} timed out") from None
        except OSError as e:
            raise QgaLost(f"cannot connect to the guest agent at {path}: {e}") from None

    async def close(self) -> None:
        w, self._writer, self._reader = self._writer, None, None
        if w is not None:
            w.close()
            with contextlib.suppress(OSError, TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(w.wait_closed(), 2.0)

    # ------------------------------------------------------------------ framing
    async def _send(self, obj: dict[str, Any], prefix: bytes = b"") -> None:
        if self._writer is None:
            raise QgaLost("not connected to the guest agent")
        try:
            self._writer.write(prefix + json.dumps(obj).encode() + b"\n")
            await self._writer.drain()
        except (OSError, RuntimeError) as e:
            raise QgaLost(f"writing to the guest agent failed: {e}") from None

    async def _fill(self, deadline: float) -> None:
        if self._reader is None:
            raise QgaLost("not connected to the guest agent")
        loop = asyncio.get_running_loop()
        left = deadline - loop.time()
        if left <= 0:
            raise TimeoutError
        try:
            chunk = await asyncio.wait_for(self._reader.read(65536), left)
        except TimeoutError:  # a subclass of OSError: not a lost connection
            raise
        except OSError as e:
            raise QgaLost(f"reading from the guest agent failed: {e}") from None
        if not chunk:
            raise QgaLost("the guest agent's socket closed")
        self._buf += chunk

    async def _next_message(self, deadline: float) -> Any:
        """The next JSON value on the stream (stray delimiter bytes skipped)."""
        dec = json.JSONDecoder()
        while True:
            text = self._buf.lstrip(DELIMITER + b" \t\r\n")
            self._buf = text
            if text:
                try:
                    obj, end = dec.raw_decode(text.decode("utf-8", errors="replace"))
                except ValueError:
                    obj, end = None, -1
                if end >= 0:
                    consumed = len(text.decode("utf-8", errors="replace")[:end].encode())
                    self._buf = text[consumed:]
                    return obj
            await self._fill(deadline)

    # ------------------------------------------------------------------ protocol
    async def sync(self, timeout: float | None = None) -> None:
        """Resynchronise with ``guest-sync-delimited`` (discarding stale replies)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if timeout is not None else self.timeout)
        sync_id = next(self._ids)
        async with self._lock:
            await self._send({"execute": "guest-sync-delimited",
                              "arguments": {"id": sync_id}}, prefix=DELIMITER)
            try:
                while True:
                    # skip to the agent's delimiter, then read the reply after it
                    while DELIMITER not in self._buf:
                        self._buf = b""
                        await self._fill(deadline)
                    self._buf = self._buf[self._buf.index(DELIMITER) + 1:]
                    msg = await self._next_message(deadline)
                    if isinstance(msg, dict) and msg.get("return") == sync_id:
                        return
            except TimeoutError:
                raise QgaTimeout("guest-sync-delimited was not answered in time") from None

    async def wait_ready(self, timeout: float, attempt: float = 3.0) -> None:
        """Retry :meth:`sync` until the agent answers (the guest has booted)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                await self.sync(min(attempt, max(0.1, deadline - loop.time())))
                return
            except QgaTimeout:
                if loop.time() >= deadline:
                    raise QgaTimeout(f"the guest agent did not answer within "
                                     f"{timeout:g} s") from None

    async def execute(self, command: str, arguments: dict[str, Any] | None = None,
                      timeout: float | None = None) -> Any:
        loop = asyncio.get_running_loop()
        limit = timeout if timeout is not None else self.timeout
        deadline = loop.time() + limit
        msg: dict[str, Any] = {"execute": command}
        if arguments:
            msg["arguments"] = arguments
        async with self._lock:
            await self._send(msg)
            try:
                while True:
                    reply = await self._next_message(deadline)
                    if not isinstance(reply, dict):
                        continue
                    if "return" in reply:
                        return reply["return"]
                    if "error" in reply:
                        err = reply["error"]
                        raise QgaCommandError(command, str(err.get("class", "?")),
                                              str(err.get("desc", "")))
            except TimeoutError:
                # the reply may still come: the stream is no longer in step
                self._buf = b""
                raise QgaTimeout(f"guest agent did not answer '{command}' within "
                                 f"{limit:g} s") from None

    async def exec(self, argv: list[str], capture: bool = True,
                   env: list[str] | None = None) -> int:
        """``guest-exec``: start ``argv`` in the guest; returns its pid."""
        args: dict[str, Any] = {"path": argv[0], "arg": argv[1:], "capture-output": capture}
        if env is not None:
            args["env"] = env
        r = await self.execute("guest-exec", args)
        return int(r["pid"])

    async def exec_status(self, pid: int) -> ExecStatus:
        return ExecStatus.from_reply(await self.execute("guest-exec-status", {"pid": pid}))

    async def run(self, argv: list[str], timeout: float = 60.0,
                  poll: float = 0.05) -> ExecStatus:
        """Run ``argv`` to completion in the guest; :class:`QgaTimeout` if it does not end."""
        pid = await self.exec(argv)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            st = await self.exec_status(pid)
            if st.exited:
                return st
            if loop.time() > deadline:
                raise QgaTimeout(f"{argv[0]} (pid {pid} in the guest) still running after "
                                 f"{timeout:g} s")
            await asyncio.sleep(poll)

    async def sh(self, script: str, timeout: float = 60.0) -> ExecStatus:
        return await self.run(["/bin/sh", "-c", script], timeout)

    async def read_file(self, path: str, limit: int = 16 << 20) -> bytes:
        """The contents of a guest file (``guest-file-open``/``read``/``close``)."""
        handle = await self.execute("guest-file-open", {"path": path, "mode": "r"})
        out = bytearray()
        try:
            while len(out) < limit:
                r = await self.execute("guest-file-read", {"handle": handle, "count": 65536})
                out += base64.b64decode(r.get("buf-b64", ""))
                if r.get("eof") or not r.get("count"):
                    break
        finally:
            with contextlib.suppress(QgaError):
                await self.execute("guest-file-close", {"handle": handle})
        return bytes(out)
