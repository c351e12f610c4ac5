"""How a guest run ends: the serial file decides completed/faulted, QEMU's exit and the
timeout decide exited/hung (conformance.tiers.nested.guest._wait_for_guest)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conformance.tiers.nested import guest


class Files:
    dir = "/d"

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    async def read(self, path: str) -> str:
        assert path == "/d/serial.log"
        return self.texts.pop(0) if len(self.texts) > 1 else self.texts[0]


class Proc:
    def __init__(self, ended: bool) -> None:
        self.ended = ended

    async def wait(self, timeout: float) -> Any:
        return object() if self.ended else None


@pytest.mark.parametrize("texts,ended,timeout,state", [
    (["G begin steps=1\n", "G begin steps=1\nG 0 cmd ok\nG end\n"], False, 5.0, "completed"),
    (["G begin steps=1\nG fault kind=0x4 esr=0x96000010 elr=0x10 far=0x0 step=0\n"], False,
     5.0, "faulted"),
    (["G begin steps=1\n"], True, 5.0, "exited"),
    (["G begin steps=1\n"], False, 0.3, "hung"),
])
def test_wait_for_guest(texts: list[str], ended: bool, timeout: float, state: str,
                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(guest, "POLL", 0.01)
    got = asyncio.run(guest._wait_for_guest(Files(texts), Proc(ended), timeout))  # type: ignore[arg-type]
    assert got == state
