"""SMMU registers with HMP ``xp /1wx``, one 32-bit word per command.

The SMMUv3 model answers 0 to 8-byte reads of its 32-bit registers, so ``xp /8wx`` and
``xp /1gx`` return zeros; one ``xp /1wx ADDR`` per register is the reliable way (catalogue
§0).  The output of one command is ``000000000c000000: 0x0d44101a``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.session import QmpSession

#: register name -> offset from the SMMU base (SMMUv3 architecture, page 0)
ID_REGISTERS: dict[str, int] = {
    "IDR0": 0x00, "IDR1": 0x04, "IDR2": 0x08, "IDR3": 0x0C, "IDR4": 0x10, "IDR5": 0x14,
    "IIDR": 0x18, "AIDR": 0x1C, "GBPA": 0x44,
}
_XP_RE = re.compile(r"^\s*([0-9a-fA-F]+):\s+0x([0-9a-fA-F]+)\s*$")


class XpParseError(ValueError):
    """``xp`` printed something that is not ``ADDR: 0xVALUE``."""


def parse_xp_word(text: str, addr: int) -> int:
    """The value of one ``xp /1wx`` line, checking it is for ``addr``."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    m = _XP_RE.match(lines[0]) if len(lines) == 1 else None
    if not m:
        raise XpParseError(f"unexpected 'xp /1wx 0x{addr:x}' output: {text.strip()[:120]!r}")
    if int(m[1], 16) != addr:
        raise XpParseError(f"'xp /1wx 0x{addr:x}' answered for address 0x{m[1]}")
    return int(m[2], 16)


async def read_registers(session: QmpSession, base: int,
                         registers: dict[str, int] | None = None) -> dict[str, int]:
    """Read each register of ``registers`` (default :data:`ID_REGISTERS`) at ``base``."""
    out: dict[str, int] = {}
    for name, off in (registers or ID_REGISTERS).items():
        addr = base + off
        out[name] = parse_xp_word(await session.hmp(f"xp /1wx 0x{addr:x}"), addr)
    return out
