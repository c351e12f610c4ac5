"""IORT parsing, on a table recorded from QEMU 11.1.3 (fw_cfg ``etc/acpi/tables``)."""

import shlex
import struct
from pathlib import Path

import pytest

from catalogue.prediction import Prediction, diff
from conformance.observe.iort import (
    IortError,
    find_table,
    parse_file_dir,
    parse_iort,
    table_starts,
)
from reference_model import predict

RECORDED = "iort-two-smmus-pxb-gicv3.hex"


def _load(path: Path) -> tuple[list[str], bytes]:
    lines = path.read_text().splitlines()
    argv = shlex.split(lines[0].lstrip("# ").split(" ", 2)[2])
    return argv, bytes.fromhex("".join(ln for ln in lines if not ln.startswith("#")))


def test_recorded_two_smmus_pxb(recorded: Path) -> None:
    _, table = _load(recorded / RECORDED)
    t = parse_iort(table)
    assert (t.revision, t.node_count, t.its_present, t.rc_ats) == (5, 4, True, 0)
    # the SMMU on pcie.0 comes first (sorted by RID) although it was created second
    assert [n["base"] for n in t.smmu_nodes] == [0x0C020000, 0x0C000000]
    assert [n["identifier"] for n in t.smmu_nodes] == [2, 1]
    assert t.smmu_nodes[1]["gsiv"] == [144, 145, 147, 146]
    assert {n["flags"] for n in t.smmu_nodes} == {1}
    assert t.rc_id_mappings == [
        {"input": 0, "count": 0xFF, "output": 0, "target": "smmu@0x0c020000"},
        {"input": 0x8000, "count": 0xFF, "output": 0x8000, "target": "smmu@0x0c000000"},
        {"input": 0x100, "count": 0x7EFF, "output": 0x100, "target": "its"},
        {"input": 0x8100, "count": 0x7EFF, "output": 0x8100, "target": "its"},
    ]
    assert t.rmr_nodes == []


def test_model_agrees_with_recorded_table(recorded: Path) -> None:
    argv, table = _load(recorded / RECORDED)
    p = predict([*argv, "-qtest", "unix:/nonexistent"], observe=("iort",))
    assert p.iort is not None
    got = diff(Prediction("starts", iort=p.iort), Prediction("starts", iort=parse_iort(table)))
    assert got == []


def test_find_table_by_loader_start(recorded: Path) -> None:
    _, table = _load(recorded / RECORDED)
    decoy = b"IORT" + b"\xff" * 60  # the signature inside another table's data
    blob = b"\0" * 8 + decoy + table + b"\0" * 32
    entry = bytearray(128)
    struct.pack_into("<I", entry, 0, 3)  # ADD_CHECKSUM
    entry[4:4 + len(b"etc/acpi/tables")] = b"etc/acpi/tables"
    struct.pack_into("<III", entry, 60, 8 + len(decoy) + 9, 8 + len(decoy), len(table))
    starts = table_starts(bytes(entry))
    assert starts == [8 + len(decoy)]
    assert find_table(blob, starts) == table


def test_no_iort_is_one_line_error() -> None:
    with pytest.raises(IortError, match="no IORT table"):
        find_table(b"\0" * 100)
    with pytest.raises(IortError, match="not an IORT"):
        parse_iort(b"DSDT" + b"\0" * 60)


def test_file_dir() -> None:
    entry = struct.pack(">IHH", 131072, 0x23, 0) + b"etc/acpi/tables".ljust(56, b"\0")
    assert parse_file_dir(struct.pack(">I", 1) + entry) == {"etc/acpi/tables": (131072, 0x23)}
