"""`xp /1wx` parsing, on replies recorded from QEMU 11.1.3."""

import itertools
import json
from pathlib import Path

import pytest

from conformance.observe.registers import ID_REGISTERS, XpParseError, parse_xp_word


def test_recorded_stage2_idrs(recorded: Path) -> None:
    t = json.loads((recorded / "transcript-idr-stage2.json").read_text())
    replies = {}
    for sent, got in itertools.pairwise(t):
        cmd = sent["message"].get("arguments", {}).get("command-line", "")
        if sent["dir"] == ">>>" and cmd.startswith("xp /1wx"):
            addr = int(cmd.split()[-1], 16)
            replies[addr - 0x0C000000] = parse_xp_word(got["message"]["return"], addr)
    got_named = {n: replies[o] for n, o in ID_REGISTERS.items()}
    assert got_named["IDR0"] == 0x0D441019
    assert got_named["IDR3"] == 0x00001414
    assert got_named["IDR5"] == 0x74
    assert got_named["GBPA"] == 0x1000


def test_wrong_address_is_refused() -> None:
    with pytest.raises(XpParseError, match="answered for address"):
        parse_xp_word("000000000c000004: 0x02730010\r\n", 0x0C000000)


def test_garbage_is_refused() -> None:
    with pytest.raises(XpParseError, match="unexpected"):
        parse_xp_word("Cannot access memory\r\n", 0x0C000000)
