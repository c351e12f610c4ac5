"""The IORT with CANWBS for the ``iommufd`` variant, regenerated from L0's own table.

Linux allocates an ARM SMMUv3 vIOMMU (``IOMMU_VIOMMU_ALLOC``) only if the SMMU has S2FWB
or the IORT root-complex node says the device can do write-back with stage-2 forced
(``CANWBS``, bit 2 of the RC node's memory access flags).  The SMMUv3 that L0's QEMU
emulates has neither (features without S2FWB; RC flags ``0x3``), so L1 would answer
``IOMMU_VIOMMU_ALLOC failed: Operation not supported`` for every nested scenario.

Instead of patching the kernel, L1 boots through UEFI/ACPI and the kernel's initrd ACPI
table upgrade (``CONFIG_ACPI_TABLE_UPGRADE``) replaces the IORT with a copy of **L0's own
IORT** in which only three things change: the CANWBS bit, the OEM revision (+1) and the
checksum.  The table is never written by hand: :func:`read_live_iort` boots L1 once
without an override and reads ``/sys/firmware/acpi/tables/IORT`` with the guest agent.

Why not read it under ``-qtest`` (fw_cfg ``etc/acpi/tables``, no guest)?  That table is
built before firmware numbers the PCI buses, so the root complex's ID mapping to the SMMU
covers bus 0 only; QEMU rebuilds the tables when the firmware reads them after
enumeration.  A kernel given the qtest table leaves the devices behind the root ports
without stream table entries, and L0's SMMU reports ``C_BAD_STREAMID`` for them (seen:
sid 0x200 and 0x300, the virtio-serial and virtio-net of L0).  :func:`override_cpio` wraps the
result as ``kernel/firmware/acpi/IORT.aml`` in an uncompressed cpio that goes in front of
the compressed initramfs.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from pathlib import Path

from conformance.tiers.nested.l1 import L1Error, L1Machine
from conformance.tiers.nested.qga import QgaError

from . import ImageError, cpio

IORT_NODE_ROOT_COMPLEX = 2
MF_CANWBS = 1 << 2
HEADER = struct.Struct("<4sIBB6s8sI4sI")  # ACPI table header, 36 bytes


@dataclass(frozen=True)
class RootComplex:
    offset: int  # of the node in the table
    mem_access_flags: int

    @property
    def flags_offset(self) -> int:
        # node header (16) + cache_coherency (4) + hints (1) + reserved (2)
        return self.offset + 16 + 7


def checksum_ok(table: bytes) -> bool:
    return sum(table) % 256 == 0


def fix_checksum(table: bytearray) -> None:
    table[9] = 0
    table[9] = (-sum(table)) % 256


def root_complexes(table: bytes) -> list[RootComplex]:
    """Root-complex nodes of an IORT (raises :class:`ImageError` on a malformed table)."""
    if len(table) < 48 or table[:4] != b"IORT":
        raise ImageError("IORT: not an IORT table")
    length = HEADER.unpack_from(table)[1]
    if length != len(table):
        raise ImageError(f"IORT: header length {length} != table size {len(table)}")
    count, first = struct.unpack_from("<II", table, 36)
    out = []
    off = first
    for i in range(count):
        if off + 16 > len(table):
            raise ImageError(f"IORT: node {i} at {off} runs past the table end")
        ntype, nlen = struct.unpack_from("<BH", table, off)
        if nlen < 16:
            raise ImageError(f"IORT: node {i} has length {nlen}")
        if ntype == IORT_NODE_ROOT_COMPLEX:
            out.append(RootComplex(off, table[off + 23]))
        off += nlen
    return out


def with_canwbs(table: bytes) -> bytes:
    """``table`` with CANWBS set on every root-complex node, OEM revision + 1, checksummed."""
    rcs = root_complexes(table)
    if not rcs:
        raise ImageError("IORT: no root-complex node (is L0 a virt machine with PCIe?)")
    t = bytearray(table)
    for rc in rcs:
        t[rc.flags_offset] |= MF_CANWBS
    oem_rev = struct.unpack_from("<I", t, 24)[0]
    struct.pack_into("<I", t, 24, (oem_rev + 1) & 0xFFFFFFFF)
    fix_checksum(t)
    return bytes(t)


def override_cpio(table: bytes) -> bytes:
    """The uncompressed cpio the kernel's ACPI table upgrade reads at the initrd's start."""
    sig = table[:4].decode()
    return cpio.write([
        cpio.Entry.dir("kernel"),
        cpio.Entry.dir("kernel/firmware"),
        cpio.Entry.dir("kernel/firmware/acpi"),
        cpio.Entry.file(f"kernel/firmware/acpi/{sig}.aml", table),
    ])


def read_live_iort(qemu: Path, firmware: Path, kernel: Path, initrd: Path,
                   timeout: float = 300.0) -> bytes:
    """Boot L1 once (``kernel`` + ``initrd`` without an override) under L0 and return
    ``/sys/firmware/acpi/tables/IORT`` as L1's kernel received it from L0's firmware."""
    async def go() -> bytes:
        m = L1Machine(qemu, firmware, kernel, initrd)
        try:
            await m.boot(timeout)
            return await m.qga.read_file("/sys/firmware/acpi/tables/IORT")
        finally:
            await m.shutdown(keep_logs=False)

    try:
        table = asyncio.run(go())
    except (L1Error, QgaError) as e:
        raise ImageError(f"reading L0's IORT from a first L1 boot: {e}") from None
    root_complexes(table)  # validates
    return table
