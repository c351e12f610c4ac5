"""The asyncio guest-agent client against a scripted fake agent on a UNIX socket.

The fake speaks the QGA wire conventions the client relies on: it ignores requests
until told it is "booted", answers ``guest-sync-delimited`` with a 0xFF byte before the
reply, may leave stale replies in the stream, and reports ``guest-exec`` output base64
encoded.  Nothing here needs QEMU.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from conformance.tiers.nested.qga import (
    ExecStatus,
    QgaClient,
    QgaCommandError,
    QgaLost,
    QgaTimeout,
)


class FakeAgent:
    def __init__(self) -> None:
        self.booted = True
        self.stale = b""
        self.files: dict[str, bytes] = {}
        self.execs: dict[int, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.drop_next = False

    async def handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if self.stale:
            w.write(self.stale)
        dec = json.JSONDecoder()
        buf = ""
        while True:
            chunk = await r.read(4096)
            if not chunk:
                break
            buf += chunk.replace(b"\xff", b"").decode()
            while buf.strip():
                try:
                    req, end = dec.raw_decode(buf.lstrip())
                except ValueError:
                    break
                buf = buf.lstrip()[end:]
                self.requests.append(req)
                if not self.booted:
                    continue
                if self.drop_next:
                    self.drop_next = False
                    w.close()
                    return
                w.write(self.reply(req))
                await w.drain()
        w.close()

    def reply(self, req: dict[str, Any]) -> bytes:
        cmd, args = req["execute"], req.get("arguments", {})
        if cmd == "guest-sync-delimited":
            return b"\xff" + json.dumps({"return": args["id"]}).encode() + b"\n"
        if cmd == "guest-exec":
            pid = 100 + len(self.execs)
            self.execs[pid] = args
            return json.dumps({"return": {"pid": pid}}).encode() + b"\n"
        if cmd == "guest-exec-status":
            a = self.execs[args["pid"]]
            if a["path"] == "/bin/false":
                r: dict[str, Any] = {"exited": True, "exitcode": 1}
            elif a["path"] == "/bin/sleep":
                r = {"exited": False}
            else:
                r = {"exited": True, "exitcode": 0,
                     "out-data": base64.b64encode(" ".join(a["arg"]).encode()).decode(),
                     "err-data": base64.b64encode(b"warn").decode()}
            return json.dumps({"return": r}).encode() + b"\n"
        if cmd == "guest-file-open":
            if args["path"] not in self.files:
                return json.dumps({"error": {"class": "GenericError",
                                             "desc": "No such file"}}).encode() + b"\n"
            self.pos = 0
            self.open = args["path"]
            return b'{"return": 7}\n'
        if cmd == "guest-file-read":
            data = self.files[self.open][self.pos:self.pos + 3]
            self.pos += len(data)
            return json.dumps({"return": {"count": len(data), "eof": not data,
                                          "buf-b64": base64.b64encode(data).decode()}}
                              ).encode() + b"\n"
        if cmd == "guest-file-close":
            return b'{"return": {}}\n'
        return json.dumps({"error": {"class": "CommandNotFound",
                                     "desc": f"The command {cmd} has not been found"}}
                          ).encode() + b"\n"


@pytest_asyncio.fixture
async def agent(tmp_path: Path) -> AsyncIterator[tuple[FakeAgent, str]]:
    fake = FakeAgent()
    path = str(tmp_path / "qga.sock")
    server = await asyncio.start_unix_server(fake.handle, path)
    yield fake, path
    server.close()
    await server.wait_closed()


async def client_for(path: str, timeout: float = 2.0) -> QgaClient:
    c = QgaClient(timeout=timeout)
    await c.connect(path)
    return c


@pytest.mark.asyncio
async def test_sync_skips_stale_replies(agent: tuple[FakeAgent, str]) -> None:
    fake, path = agent
    fake.stale = b'{"return": 12345}\n{"return": {"pid": 9}}\n\xff{"return": 1}\n'
    c = await client_for(path)
    await c.sync()
    assert await c.execute("guest-exec", {"path": "/bin/true", "arg": []}) == {"pid": 100}
    await c.close()


@pytest.mark.asyncio
async def test_wait_ready_retries_until_the_agent_runs(agent: tuple[FakeAgent, str]) -> None:
    fake, path = agent
    fake.booted = False
    c = await client_for(path)

    async def boot_later() -> None:
        await asyncio.sleep(0.3)
        fake.booted = True

    task = asyncio.ensure_future(boot_later())
    await c.wait_ready(timeout=5.0, attempt=0.1)
    await task
    syncs = [r for r in fake.requests if r["execute"] == "guest-sync-delimited"]
    assert len(syncs) >= 2  # the unanswered ones were retried with fresh ids
    assert len({r["arguments"]["id"] for r in syncs}) == len(syncs)
    await c.close()


@pytest.mark.asyncio
async def test_sync_times_out_when_the_agent_never_answers(
        agent: tuple[FakeAgent, str]) -> None:
    fake, path = agent
    fake.booted = False
    c = await client_for(path)
    with pytest.raises(QgaTimeout):
        await c.sync(timeout=0.2)
    with pytest.raises(QgaTimeout, match=r"did not answer within 0\.3 s"):
        await c.wait_ready(timeout=0.3, attempt=0.1)
    await c.close()


@pytest.mark.asyncio
async def test_run_decodes_output_and_exit(agent: tuple[FakeAgent, str]) -> None:
    _, path = agent
    c = await client_for(path)
    st = await c.run(["/bin/echo", "a", "b"], timeout=2.0)
    assert st == ExecStatus(exited=True, exitcode=0, stdout=b"a b", stderr=b"warn")
    assert st.ok and st.describe() == "exit code 0"
    bad = await c.run(["/bin/false"], timeout=2.0)
    assert not bad.ok and bad.exitcode == 1
    with pytest.raises(QgaTimeout, match="still running"):
        await c.run(["/bin/sleep", "100"], timeout=0.2, poll=0.05)
    await c.close()


@pytest.mark.asyncio
async def test_error_reply_is_typed(agent: tuple[FakeAgent, str]) -> None:
    _, path = agent
    c = await client_for(path)
    with pytest.raises(QgaCommandError) as e:
        await c.execute("guest-frobnicate")
    assert e.value.error_class == "CommandNotFound"
    assert "guest-frobnicate" in e.value.desc
    await c.close()


@pytest.mark.asyncio
async def test_read_file_in_chunks(agent: tuple[FakeAgent, str]) -> None:
    fake, path = agent
    fake.files["/proc/net/tcp"] = b"0123456789"
    c = await client_for(path)
    assert await c.read_file("/proc/net/tcp") == b"0123456789"
    with pytest.raises(QgaCommandError, match="No such file"):
        await c.read_file("/nope")
    await c.close()


@pytest.mark.asyncio
async def test_lost_connection_is_reported(agent: tuple[FakeAgent, str]) -> None:
    fake, path = agent
    c = await client_for(path)
    fake.drop_next = True
    with pytest.raises(QgaLost):
        await c.execute("guest-info")
    await c.close()


@pytest.mark.asyncio
async def test_connect_to_missing_socket(tmp_path: Path) -> None:
    c = QgaClient(timeout=1.0)
    with pytest.raises(QgaLost, match="cannot connect"):
        await c.connect(str(tmp_path / "absent.sock"))
