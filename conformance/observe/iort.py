"""The ACPI IORT, read without firmware through ``-qtest`` and fw_cfg DMA (§0, §8 O1-O4).

QEMU builds its ACPI tables into the fw_cfg file ``etc/acpi/tables``.  Without firmware
the harness reads that file itself: QEMU is started with ``-qtest unix:PATH`` (the
harness listens on PATH, QEMU connects), and over that line-based protocol:

1. select the fw_cfg file directory (selector 0x19, a big-endian 16-bit register at
   ``0x09020008``) and read it 8 bytes at a time from the data register (``+0``);
2. write a ``FWCfgDmaAccess`` (control = selector << 16 | SELECT | READ, length, guest
   address) into guest RAM and its address, big-endian, to the DMA register
   (``+0x10``); QEMU copies the whole file into RAM at once;
3. ``read`` the RAM back (one command, hex), find the table whose signature is
   ``IORT`` and whose checksum is valid, and parse it (:func:`parse_iort`).

The blob is 128 KiB; the whole read takes about 50 ms.  :func:`parse_iort` works on
bytes, so it is unit-tested on a recorded table (``tests/observe/data/iort-*.hex``).
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import dataclass
from typing import Any

from catalogue.prediction import IortPrediction

FW_CFG_BASE = 0x09020000
FW_CFG_DATA = FW_CFG_BASE
FW_CFG_SELECTOR = FW_CFG_BASE + 8
FW_CFG_DMA = FW_CFG_BASE + 0x10
FW_CFG_FILE_DIR = 0x19
DMA_SELECT, DMA_READ, DMA_ERROR = 0x08, 0x02, 0x01
RAM_BASE = 0x40000000  # virt: start of guest RAM
ACPI_TABLES = "etc/acpi/tables"
_HEADER = 36  # ACPI table header
NODE_ITS, NODE_SMMUV3, NODE_RC, NODE_RMR = 0, 4, 2, 6


class IortError(ValueError):
    """The tables could not be read or the IORT is malformed (one line)."""


# ------------------------------------------------------------------------- parsing
def find_table(blob: bytes, starts: list[int] | None = None,
               signature: bytes = b"IORT") -> bytes:
    """The table with ``signature`` in ``blob``.

    In fw_cfg the checksums are still zero (the firmware's loader fills them), so a table
    is recognised by its start: ``starts`` are the ADD_CHECKSUM start offsets of
    ``etc/table-loader`` (:func:`table_starts`).  Without them, the first occurrence of
    the signature whose length fits the blob is taken.
    """
    candidates = starts if starts is not None else []
    if starts is None:
        i = blob.find(signature)
        while i >= 0:
            candidates.append(i)
            i = blob.find(signature, i + 1)
    for i in candidates:
        if blob[i:i + 4] != signature or i + _HEADER > len(blob):
            continue
        length = struct.unpack_from("<I", blob, i + 4)[0]
        if length >= _HEADER and i + length <= len(blob):
            return blob[i:i + length]
    raise IortError(f"no {signature.decode()} table in the ACPI blob ({len(blob)} bytes)")


LOADER_ENTRY = 128
LOADER_ADD_CHECKSUM = 3


def table_starts(loader: bytes, file: str = ACPI_TABLES) -> list[int]:
    """Start offsets of the tables in ``file``: the ADD_CHECKSUM commands of the loader."""
    out: list[int] = []
    for k in range(0, len(loader) - LOADER_ENTRY + 1, LOADER_ENTRY):
        (cmd,) = struct.unpack_from("<I", loader, k)
        if cmd != LOADER_ADD_CHECKSUM:
            continue
        name = loader[k + 4:k + 60].split(b"\0", 1)[0].decode("ascii", "replace")
        _off, start, _len = struct.unpack_from("<III", loader, k + 60)
        if name == file:
            out.append(start)
    return out


@dataclass(frozen=True)
class _Node:
    offset: int
    type: int
    length: int
    identifier: int
    maps: list[tuple[int, int, int, int, int]]  # input, count, output, ref offset, flags


def _nodes(t: bytes) -> list[_Node]:
    count, first = struct.unpack_from("<II", t, _HEADER)
    out: list[_Node] = []
    off = first
    for _ in range(count):
        if off + 16 > len(t):
            raise IortError(f"IORT node at offset {off} runs past the table end")
        typ, length, _rev, ident, nmaps, map_off = struct.unpack_from("<BHBIII", t, off)
        if length < 16 or off + length > len(t):
            raise IortError(f"IORT node at offset {off} has a bad length {length}")
        maps = [struct.unpack_from("<IIIII", t, off + map_off + 20 * k) for k in range(nmaps)]
        out.append(_Node(off, typ, length, ident, maps))
        off += length
    return out


def parse_iort(table: bytes) -> IortPrediction:
    """An IORT table (header included) -> the model's :class:`IortPrediction` shape."""
    if len(table) < _HEADER + 12 or table[:4] != b"IORT":
        raise IortError("not an IORT table")
    nodes = _nodes(table)
    by_off = {n.offset: n for n in nodes}

    def target(ref: int) -> str:
        n = by_off.get(ref)
        if n is None:
            return f"offset {ref}"
        if n.type == NODE_ITS:
            return "its"
        if n.type == NODE_SMMUV3:
            return f"smmu@0x{struct.unpack_from('<Q', table, n.offset + 16)[0]:08x}"
        return f"node type {n.type}"

    smmus: list[dict[str, Any]] = []
    rc_maps: list[dict[str, Any]] = []
    rmrs: list[dict[str, Any]] = []
    ats = 0
    for n in nodes:
        o = n.offset
        if n.type == NODE_SMMUV3:
            base, flags = struct.unpack_from("<QI", table, o + 16)
            gsiv = list(struct.unpack_from("<IIII", table, o + 44))
            smmus.append({"base": base, "gsiv": gsiv, "identifier": n.identifier,
                          "flags": flags})
        elif n.type == NODE_RC:
            ats = struct.unpack_from("<I", table, o + 24)[0]
            rc_maps = [{"input": m[0], "count": m[1], "output": m[2], "target": target(m[3])}
                       for m in n.maps]
        elif n.type == NODE_RMR:
            _flags, nranges, ranges_off = struct.unpack_from("<III", table, o + 16)
            ranges = [list(struct.unpack_from("<QQ", table, o + ranges_off + 20 * k))
                      for k in range(nranges)]
            m = n.maps[0] if n.maps else (0, 0, 0, 0, 0)
            ref = by_off.get(m[3])
            smmu = struct.unpack_from("<Q", table, ref.offset + 16)[0] if ref else 0
            rmrs.append({"smmu": smmu, "input": m[0], "count": m[1], "ranges": ranges})
    return IortPrediction(
        revision=table[8], node_count=len(nodes),
        its_present=any(n.type == NODE_ITS for n in nodes), smmu_nodes=smmus, rc_ats=ats,
        rc_id_mappings=rc_maps, rmr_nodes=rmrs)


def parse_file_dir(data: bytes) -> dict[str, tuple[int, int]]:
    """The fw_cfg file directory (big-endian count, then 64-byte entries) -> name:
    (size, selector)."""
    (count,) = struct.unpack_from(">I", data, 0)
    out: dict[str, tuple[int, int]] = {}
    for k in range(count):
        e = data[4 + 64 * k: 4 + 64 * (k + 1)]
        if len(e) < 64:
            break
        size, sel = struct.unpack_from(">IH", e, 0)
        out[e[8:].split(b"\0", 1)[0].decode("ascii", "replace")] = (size, sel)
    return out


# ------------------------------------------------------------------------- qtest
class QtestLine:
    """The qtest text protocol over an accepted UNIX socket (one command at a time)."""

    def __init__(self, sock: socket.socket, timeout: float = 10.0) -> None:
        self.sock = sock
        self.timeout = timeout
        self._buf = b""

    async def _line(self) -> str:
        loop = asyncio.get_running_loop()
        while b"\n" not in self._buf:
            chunk = await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 20), self.timeout)
            if not chunk:
                raise IortError("qtest connection closed by QEMU")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return line.decode("ascii", "replace").strip()

    async def cmd(self, text: str) -> str:
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_sendall(self.sock, (text + "\n").encode()),
                               self.timeout)
        while True:
            line = await self._line()
            if line.startswith("IRQ "):
                continue  # asynchronous interrupt notification
            if not line.startswith("OK"):
                raise IortError(f"qtest '{text.split()[0]}' failed: {line[:120]}")
            return line[2:].strip()

    async def read(self, addr: int, length: int) -> bytes:
        r = await self.cmd(f"read 0x{addr:x} {length}")
        return bytes.fromhex(r[2:] if r.startswith("0x") else r)


async def read_file_dir(q: QtestLine) -> dict[str, tuple[int, int]]:
    """The fw_cfg file directory, read 8 bytes at a time from the data register."""
    await q.cmd(f"writew 0x{FW_CFG_SELECTOR:x} 0x{_swap16(FW_CFG_FILE_DIR):04x}")
    head = await q.read(FW_CFG_DATA, 4)
    (count,) = struct.unpack(">I", head)
    data = bytearray(head)
    for _ in range(count * 8):
        data += await q.read(FW_CFG_DATA, 8)
    return parse_file_dir(bytes(data))


async def read_fw_cfg_file(q: QtestLine, name: str,
                           files: dict[str, tuple[int, int]]) -> bytes:
    """One fw_cfg file, by a DMA read into guest RAM."""
    if name not in files:
        raise IortError(f"fw_cfg has no file '{name}' (is ACPI off?)")
    size, sel = files[name]
    buf = RAM_BASE + 0x1000
    desc = struct.pack(">IIQ", (sel << 16) | DMA_SELECT | DMA_READ, size, buf)
    await q.cmd(f"write 0x{RAM_BASE:x} {len(desc)} 0x{desc.hex()}")
    dma = struct.unpack("<Q", struct.pack(">Q", RAM_BASE))[0]
    await q.cmd(f"writeq 0x{FW_CFG_DMA:x} 0x{dma:016x}")
    (ctl,) = struct.unpack(">I", await q.read(RAM_BASE, 4))
    if ctl & DMA_ERROR:
        raise IortError(f"fw_cfg DMA of '{name}' failed (control 0x{ctl:x})")
    return await q.read(buf, size)


def _swap16(v: int) -> int:
    return ((v & 0xFF) << 8) | (v >> 8)


async def read_iort(q: QtestLine) -> IortPrediction:
    """Read ``etc/acpi/tables`` through ``q`` and parse its IORT."""
    files = await read_file_dir(q)
    loader = await read_fw_cfg_file(q, "etc/table-loader", files)
    blob = await read_fw_cfg_file(q, ACPI_TABLES, files)
    return parse_iort(find_table(blob, table_starts(loader)))
