"""The IORT with CANWBS for the ``iommufd`` variant, regenerated from L0's own table.

Linux allocates an ARM SMMUv3 vIOMMU (``IOMMU_VIOMMU_ALLOC``) only if the SMMU has S2FWB
or the IORT root-complex node says the device can do write-back with stage-2 forced
(``CANWBS``, bit 2 of the RC node's memory access flags).  The SMMUv3 that L0's QEMU
emulates has neither (features without S2FWB; RC flags ``0x3``), so L1 would answer
``IOMMU_VIOMMU_ALLOC failed: Operation not supported`` for every nested scenario.

Instead of patching the kernel, L1 boots through UEFI/ACPI and the kernel's initrd ACPI
table upgrade (``CONFIG_ACPI_TABLE_UPGRADE``) replaces the IORT with a copy of **L0's own
IORT** in which only three things change: the CANWBS bit, the OEM revision (+1) and the
checksum.  The table is never written by hand: :func:`read_acpi_table` starts the x86
L0 QEMU with exactly the L0 machine and device arguments but ``-qtest`` instead of a CPU,
and reads ``etc/acpi/tables`` through the fw_cfg MMIO interface (selector at
``0x09020008``, big-endian; data at ``0x09020000``).  :func:`override_cpio` wraps the
result as ``kernel/firmware/acpi/IORT.aml`` in an uncompressed cpio that goes in front of
the compressed initramfs.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from . import ImageError, cpio

FW_CFG_BASE = 0x09020000  # virt: data at +0, selector at +8
FW_CFG_FILE_DIR = 0x19
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


def find_table(blob: bytes, signature: bytes) -> bytes:
    """Cut one table out of fw_cfg's ``etc/acpi/tables`` (tables laid end to end)."""
    pos = 0
    while True:
        pos = blob.find(signature, pos)
        if pos < 0:
            raise ImageError(f"no {signature.decode()} table in etc/acpi/tables")
        if pos + 36 <= len(blob):
            length = struct.unpack_from("<I", blob, pos + 4)[0]
            if 36 <= length <= len(blob) - pos:
                return blob[pos:pos + length]
        pos += 1


class _Qtest:
    """Just enough of the qtest line protocol for fw_cfg reads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.pending = b""

    def cmd(self, line: str) -> str:
        self.sock.sendall(line.encode() + b"\n")
        while True:
            while b"\n" in self.buf:
                reply, self.buf = self.buf.split(b"\n", 1)
                text = reply.decode()
                if text.startswith("IRQ"):
                    continue
                if not text.startswith("OK"):
                    raise ImageError(f"qtest: '{line}' answered '{text}'")
                return text[2:].strip()
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ImageError(f"qtest: QEMU closed the connection during '{line}'")
            self.buf += chunk

    def select(self, key: int) -> None:
        self.cmd(f"write {FW_CFG_BASE + 8:#x} 2 0x{key:04x}")
        self.pending = b""

    def read(self, n: int) -> bytes:
        """The next ``n`` bytes of the selected item (read 8 at a time, rest kept)."""
        out = bytearray(self.pending)
        while len(out) < n:
            hexdata = self.cmd(f"read {FW_CFG_BASE:#x} 8")
            out += bytes.fromhex(hexdata.removeprefix("0x"))
        self.pending = bytes(out[n:])
        return bytes(out[:n])

    def file(self, name: str) -> bytes:
        self.select(FW_CFG_FILE_DIR)
        (count,) = struct.unpack(">I", self.read(4))
        entries = self.read(64 * count)
        for i in range(count):
            size, key = struct.unpack_from(">IH", entries, 64 * i)
            fname = entries[64 * i + 8:64 * i + 64].split(b"\0", 1)[0].decode()
            if fname == name:
                self.select(key)
                return self.read(size)
        raise ImageError(f"fw_cfg has no file {name}")


def read_acpi_table(qemu: Path | str, machine_args: Sequence[str], signature: str = "IORT",
                    timeout: float = 60.0) -> bytes:
    """Start ``qemu`` with ``machine_args`` under qtest and return its ACPI table."""
    with tempfile.TemporaryDirectory(prefix="smmuv3-iort-") as tmp:
        path = os.path.join(tmp, "qtest.sock")
        srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        srv.bind(path)
        srv.listen(1)
        srv.settimeout(timeout)
        argv = [str(qemu), *machine_args, "-qtest", f"unix:{path}", "-qtest-log", "/dev/null",
                "-display", "none", "-S"]
        err = open(os.path.join(tmp, "stderr"), "w+b")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err)
        try:
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                raise ImageError(f"qtest: {qemu} did not connect within {timeout:g} s") \
                    from None
            with conn:
                conn.settimeout(timeout)
                q = _Qtest(conn)
                try:
                    blob = q.file("etc/acpi/tables")
                except (OSError, ImageError) as e:
                    time.sleep(0.2)
                    err.seek(0)
                    tail = err.read().decode(errors="replace").strip().splitlines()[-1:]
                    raise ImageError(f"reading L0's ACPI tables: {e} {' '.join(tail)}") \
                        from None
            table = find_table(blob, signature.encode())
        finally:
            srv.close()
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            err.close()
    with contextlib.suppress(ImageError):
        root_complexes(table)
    return table
