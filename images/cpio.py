"""Write ``newc`` cpio archives (the initramfs format) in pure Python, reproducibly.

Every entry gets uid/gid 0, mtime 0 (or ``SOURCE_DATE_EPOCH``) and a stable inode number,
and entries are written in the order given, so the same input gives the same bytes, and
:func:`gzip_bytes` compresses with a zero gzip timestamp.  The kernel's initrd ACPI table
upgrade reads an *uncompressed* archive placed before the compressed one, which is why the
writer and the compressor are separate.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
from dataclasses import dataclass

MAGIC = b"070701"


@dataclass(frozen=True)
class Entry:
    """One archive member; ``name`` has no leading slash."""

    name: str
    mode: int  # full st_mode (S_IFREG | 0o755, S_IFDIR | 0o755, S_IFLNK | 0o777 ...)
    data: bytes = b""  # file bytes, or the link target for a symlink

    @staticmethod
    def dir(name: str, perm: int = 0o755) -> Entry:
        return Entry(name, stat.S_IFDIR | perm)

    @staticmethod
    def file(name: str, data: bytes, perm: int = 0o644) -> Entry:
        return Entry(name, stat.S_IFREG | perm, data)

    @staticmethod
    def symlink(name: str, target: str) -> Entry:
        return Entry(name, stat.S_IFLNK | 0o777, target.encode())


def _pad4(n: int) -> bytes:
    return b"\0" * (-n % 4)


def _header(ino: int, mode: int, nlink: int, mtime: int, size: int, namesize: int) -> bytes:
    fields = (ino, mode, 0, 0, nlink, mtime, size, 0, 0, 0, 0, namesize, 0)
    return MAGIC + b"".join(f"{v:08X}".encode() for v in fields)


def write(entries: list[Entry]) -> bytes:
    """The archive bytes for ``entries`` (plus the ``TRAILER!!!`` record)."""
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))
    out = io.BytesIO()
    names: set[str] = set()
    for ino, e in enumerate(entries, start=1):
        name = e.name.lstrip("/")
        if not name or name in names:
            raise ValueError(f"cpio: empty or duplicate member name {e.name!r}")
        names.add(name)
        bname = name.encode() + b"\0"
        nlink = 2 if stat.S_ISDIR(e.mode) else 1
        hdr = _header(ino, e.mode, nlink, mtime, len(e.data), len(bname))
        out.write(hdr + bname + _pad4(len(hdr) + len(bname)))
        out.write(e.data + _pad4(len(e.data)))
    bname = b"TRAILER!!!\0"
    hdr = _header(0, 0, 1, 0, 0, len(bname))
    out.write(hdr + bname + _pad4(len(hdr) + len(bname)))
    return out.getvalue()


def read(data: bytes) -> list[Entry]:
    """Parse a newc archive (used by the tests and the image checks)."""
    entries: list[Entry] = []
    pos = 0
    while True:
        if data[pos:pos + 6] != MAGIC:
            raise ValueError(f"cpio: bad magic at offset {pos}")
        f = [int(data[pos + 6 + 8 * i:pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, namesize = f[1], f[6], f[11]
        pos += 110
        name = data[pos:pos + namesize - 1].decode()
        pos += namesize + (-(110 + namesize) % 4)
        body = data[pos:pos + size]
        pos += size + (-size % 4)
        if name == "TRAILER!!!":
            return entries
        entries.append(Entry(name, mode, body))


def gzip_bytes(data: bytes, level: int = 6) -> bytes:
    return gzip.compress(data, compresslevel=level, mtime=0)
