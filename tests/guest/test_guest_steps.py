"""Guest steps as scenario data: parsing errors are one line, the script encodes as the
payload reads it (images/payload/main.c)."""

from __future__ import annotations

import struct

import pytest

from catalogue.guest_steps import (
    GuestStepError,
    cd_words,
    cmd_words,
    compile_script,
    parse_steps,
    ste_words,
)
from catalogue.scenario import ScenarioError, parse_scenario


def test_script_header_and_records() -> None:
    steps = parse_steps("t", [{"pci_find": "8086:10d3"}, {"cmd": {"op": "SYNC"}}])
    blob = compile_script(steps, 0x0C000000)
    magic, count, base = struct.unpack_from("<4sIQ", blob)
    assert (magic, count, base) == (b"SMG1", 2, 0x0C000000)
    op, n, ven, dev = struct.unpack_from("<IIQQ", blob, 16)
    assert (op, n, ven, dev) == (1, 2, 0x8086, 0x10D3)
    op, n, w0, w1 = struct.unpack_from("<IIQQ", blob, 16 + 8 + 16)
    assert (op, n, w0, w1) == (15, 2, 0x46, 0)


def test_read_is_smmu_relative() -> None:
    blob = compile_script(parse_steps("t", [{"read": "GERROR"}]), 0x0C000000)
    assert struct.unpack_from("<IIQ", blob, 16) == (7, 1, 0x0C000060)


@pytest.mark.parametrize("cfg,word0", [("abort", 0x1), ("bypass", 0x9), ("s1", 0x4130000B),
                                       ("s2", 0xD), ("nested", 0xF)])
def test_ste_word0(cfg: str, word0: int) -> None:
    (s,) = parse_steps("t", [{"ste": {"sid": 0x10, "config": cfg, "cd": 0x41300000}}])
    assert ste_words(s.args)[0] == (word0 if cfg == "s1" else word0 | 0x41300000)


def test_cfgi_all_is_range_31_and_sid_in_word0() -> None:
    (s,) = parse_steps("t", [{"cmd": {"op": "CFGI_ALL"}}])
    assert cmd_words(s.args) == (0x04, 31)
    (s,) = parse_steps("t", [{"cmd": {"op": "CMD_CFGI_STE", "sid": 0x10}}])
    assert cmd_words(s.args) == (0x03 | (0x10 << 32), 0)


@pytest.mark.parametrize("raw,msg", [
    ([{"bogus": 1}], "unknown step 'bogus'"),
    ([{"cmd": {"op": "TLBI_FOO"}}], "unknown op 'TLBI_FOO'"),
    ([{"ste": {"sid": 1}}], "missing field 'config'"),
    ([{"ste": {"sid": 1, "config": "weird"}}], "config must be one of"),
    ([{"pci_find": "8086"}], "VVVV:DDDD"),
    ([{"msi": {"doorbell": -1}}], "non-negative integer"),
    ([], "non-empty array"),
    ([{"dma": {"iova": 0x43000000, "at": []}}], "array of 1-8"),
    ([{"dma": {"iova": 0x43000800, "at": [0x42000000]}}], "'iova' must be 4K-aligned"),
    ([{"dma": {"iova": 0x43000000, "at": [0x42000010]}}], "'at' must be 4K-aligned"),
    ([{"map": {"ttb": 0x41400000, "iova": 1 << 39, "pa": 0}}], "below 2**39"),
])
def test_bad_steps_are_one_line(raw: object, msg: str) -> None:
    with pytest.raises(GuestStepError) as e:
        parse_steps("f.toml: scenario 'x'", raw)
    assert msg in str(e.value) and "\n" not in str(e.value)
    assert str(e.value).startswith("f.toml: scenario 'x'")


def test_scenario_error_names_the_step() -> None:
    with pytest.raises(ScenarioError, match=r"guest\[1\]: unknown step 'nope'"):
        parse_scenario({"name": "g", "rows": ["5c"], "tiers": ["nested"], "args": "-M virt",
                        "guest": [{"cmd": {"op": "SYNC"}}, {"nope": {}}]}, source="f.toml")


def test_dma_and_map_records() -> None:
    steps = parse_steps("t", [
        {"map": {"ttb": 0x41400000, "iova": 0x43000000, "pa": 0x42000000}},
        {"dma": {"iova": 0x43000000, "at": [0x42000000, 0x43000000]}}])
    blob = compile_script(steps, smmu_base=0)
    recs = struct.unpack_from("<II4Q", blob, 16)
    assert recs == (22, 4, 0x41400000, 0x43000000, 0x42000000, 1)
    dma = struct.unpack_from("<II5Q", blob, 16 + 8 + 32)
    assert dma == (23, 5, 0x10000000, 0x43000000, 2, 0x42000000, 0x43000000)


def test_cd_is_valid_for_a_walk() -> None:
    """QEMU's decode_cd needs V, AA64 and A (TERM_MODEL 1); R records faults."""
    (s,) = parse_steps("t", [{"cd": {"address": 0x41300000, "asid": 3, "ttb0": 0x41400000}}])
    w0 = cd_words(s.args)[0]
    assert w0 >> 31 & 1 and w0 >> 41 & 1 and w0 >> 46 & 1 and w0 >> 45 & 1
    assert w0 >> 48 == 3
