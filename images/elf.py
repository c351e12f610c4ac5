"""A small pure-Python ELF reader: just enough to find a program's shared libraries.

The initramfs holds arm64 binaries (QEMU, qemu-guest-agent) and must hold every shared
library they load.  Running ``ldd`` would mean running arm64 code on the host, so instead
this module reads the ``PT_INTERP`` and ``PT_DYNAMIC`` program headers and the
``DT_NEEDED``/``DT_RUNPATH``/``DT_RPATH`` entries directly (ELF64 and ELF32, either
byte order), and :func:`closure` resolves them the way ``ld.so`` would inside an unpacked
Debian root (multiarch directories, then ``RUNPATH`` with ``$ORIGIN``), following symlinks
*inside* that root.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from . import ImageError

PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_RPATH, DT_RUNPATH = 0, 1, 5, 15, 29
EM_AARCH64 = 183


@dataclass(frozen=True)
class ElfInfo:
    machine: int
    interp: str | None
    needed: tuple[str, ...]
    runpath: tuple[str, ...]


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def parse(data: bytes, name: str = "<elf>") -> ElfInfo:
    """Parse the dynamic-linking facts of one ELF file held in ``data``."""
    if not is_elf(data) or len(data) < 52:
        raise ImageError(f"{name}: not an ELF file")
    ei_class, ei_data = data[4], data[5]
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise ImageError(f"{name}: unsupported ELF class {ei_class} / data {ei_data}")
    end = "<" if ei_data == 1 else ">"
    is64 = ei_class == 2
    try:
        if is64:
            (_type, machine, _v, _entry, phoff, _shoff, _flags, _ehsize, phentsize,
             phnum) = struct.unpack_from(end + "HHIQQQIHHH", data, 16)
            ph_fmt = end + "IIQQQQQQ"
        else:
            (_type, machine, _v, _entry, phoff, _shoff, _flags, _ehsize, phentsize,
             phnum) = struct.unpack_from(end + "HHIIIIIHHH", data, 16)
            ph_fmt = end + "IIIIIIII"
        loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
        dynamic: tuple[int, int] | None = None
        interp: str | None = None
        for i in range(phnum):
            fields = struct.unpack_from(ph_fmt, data, phoff + i * phentsize)
            if is64:
                p_type, _pflags, off, vaddr, _paddr, filesz = fields[:6]
            else:
                p_type, off, vaddr, _paddr, filesz = fields[:5]
            if p_type == PT_LOAD:
                loads.append((vaddr, off, filesz))
            elif p_type == PT_DYNAMIC:
                dynamic = (off, filesz)
            elif p_type == PT_INTERP:
                interp = data[off:off + filesz].split(b"\0", 1)[0].decode()
        needed_off: list[int] = []
        path_off: list[int] = []
        strtab_vaddr = None
        if dynamic is not None:
            dyn_fmt = end + ("qQ" if is64 else "iI")
            step = struct.calcsize(dyn_fmt)
            off, size = dynamic
            for pos in range(off, off + size, step):
                tag, val = struct.unpack_from(dyn_fmt, data, pos)
                if tag == DT_NULL:
                    break
                if tag == DT_NEEDED:
                    needed_off.append(val)
                elif tag in (DT_RPATH, DT_RUNPATH):
                    path_off.append(val)
                elif tag == DT_STRTAB:
                    strtab_vaddr = val
    except struct.error:
        raise ImageError(f"{name}: truncated ELF headers") from None
    needed: list[str] = []
    runpath: list[str] = []
    if needed_off or path_off:
        if strtab_vaddr is None:
            raise ImageError(f"{name}: DT_NEEDED without DT_STRTAB")
        strtab = _vaddr_to_offset(loads, strtab_vaddr, name)

        def string(o: int) -> str:
            return data[strtab + o:data.index(b"\0", strtab + o)].decode()

        needed = [string(o) for o in needed_off]
        for o in path_off:
            runpath.extend(p for p in string(o).split(":") if p)
    return ElfInfo(machine, interp, tuple(needed), tuple(runpath))


def _vaddr_to_offset(loads: list[tuple[int, int, int]], vaddr: int, name: str) -> int:
    for start, off, size in loads:
        if start <= vaddr < start + size:
            return off + (vaddr - start)
    raise ImageError(f"{name}: address {vaddr:#x} is in no PT_LOAD segment")


MERGED_USR = ("lib", "bin", "sbin", "lib64")


def resolve_in_root(root: Path, path: str, max_links: int = 40) -> PurePosixPath:
    """Resolve ``path`` (absolute, inside ``root``) following symlinks within ``root``.

    Returns the final in-root path; raises :class:`ImageError` if it does not exist.
    """
    parts = list(PurePosixPath(path).parts[1:])
    # Debian's merged /usr: /lib, /bin, /sbin are symlinks made by base-files, which the
    # unpacked roots do not hold.
    if parts and parts[0] in MERGED_USR and not (root / parts[0]).exists():
        parts = ["usr", *parts]
    cur = PurePosixPath("/")
    links = 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            cur = cur.parent
            continue
        nxt = cur / part
        host = root / str(nxt).lstrip("/")
        if host.is_symlink():
            links += 1
            if links > max_links:
                raise ImageError(f"{path}: too many symlinks inside {root}")
            target = PurePosixPath(host.readlink())
            if target.is_absolute():
                cur = PurePosixPath("/")
                parts = list(target.parts[1:]) + parts
            else:
                parts = list(target.parts) + parts
            continue
        if not host.exists():
            raise ImageError(f"{path}: not found in {root} (missing {nxt})")
        cur = nxt
    return cur


#: where ld.so looks for arm64 libraries in a Debian (merged-/usr) root
DEFAULT_DIRS = ("/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib", "/usr/lib")


def closure(root: Path, programs: Iterable[str],
            search: tuple[str, ...] = DEFAULT_DIRS) -> dict[str, PurePosixPath]:
    """All files ``programs`` need to run from ``root``: the programs themselves, their
    interpreter and every library, as ``{path as referenced: real in-root path}``.

    The referenced paths (e.g. ``/lib/ld-linux-aarch64.so.1``) must exist in the
    initramfs as given (as symlinks if need be); the real paths hold the bytes.
    """
    out: dict[str, PurePosixPath] = {}
    todo = list(programs)
    seen_libs: set[str] = set()
    while todo:
        ref = todo.pop()
        if ref in out:
            continue
        real = resolve_in_root(root, ref)
        out[ref] = real
        data = (root / str(real).lstrip("/")).read_bytes()
        if not is_elf(data):
            continue
        info = parse(data, ref)
        if info.interp and info.interp not in out:
            todo.append(info.interp)
        origin = str(PurePosixPath(ref).parent)
        dirs = [d.replace("$ORIGIN", origin).replace("${ORIGIN}", origin)
                for d in info.runpath] + list(search)
        for lib in info.needed:
            if lib in seen_libs:
                continue
            for d in dirs:
                cand = f"{d.rstrip('/')}/{lib}"
                try:
                    resolve_in_root(root, cand)
                except ImageError:
                    continue
                seen_libs.add(lib)
                todo.append(cand)
                break
            else:
                raise ImageError(f"{ref} needs {lib}, which is in none of "
                                 f"{', '.join(dirs)} under {root}")
    return out


def section(data: bytes, wanted: str, name: str = "<elf>") -> bytes | None:
    """The bytes of section ``wanted`` (e.g. ``.modinfo`` of a kernel module), or None."""
    if not is_elf(data):
        raise ImageError(f"{name}: not an ELF file")
    end = "<" if data[5] == 1 else ">"
    if data[4] != 2:
        raise ImageError(f"{name}: only ELF64 sections are supported")
    try:
        shoff, = struct.unpack_from(end + "Q", data, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from(end + "HHH", data, 0x3A)
        fmt = end + "IIQQQQIIQQ"

        def hdr(i: int) -> tuple[int, ...]:
            return struct.unpack_from(fmt, data, shoff + i * shentsize)

        strtab = hdr(shstrndx)
        str_off = strtab[4]
        for i in range(shnum):
            h = hdr(i)
            nm = data[str_off + h[0]:data.index(b"\0", str_off + h[0])].decode()
            if nm == wanted:
                return data[h[4]:h[4] + h[5]]
    except struct.error:
        raise ImageError(f"{name}: truncated ELF section headers") from None
    return None


def modinfo(data: bytes, name: str = "<module>") -> dict[str, list[str]]:
    """``key -> values`` of a kernel module's ``.modinfo`` (``depends``, ``name``...)."""
    raw = section(data, ".modinfo", name)
    if raw is None:
        raise ImageError(f"{name}: no .modinfo section (not a kernel module?)")
    out: dict[str, list[str]] = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, v = item.decode(errors="replace").split("=", 1)
            out.setdefault(k, []).append(v)
    return out
