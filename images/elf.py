"""Find a program's shared libraries inside an unpacked Debian root, without running it.

The initramfs holds arm64 binaries (QEMU, qemu-guest-agent) and must hold every shared
library they load.  Running ``ldd`` would mean running arm64 code on the host, so instead
:func:`parse` reads ``PT_INTERP`` and the dynamic section's ``DT_NEEDED`` /
``DT_RUNPATH`` / ``DT_RPATH`` entries with pyelftools (any class and byte order), and
:func:`closure` resolves them the way ``ld.so`` would inside an unpacked Debian root
(multiarch directories, then ``RUNPATH`` with ``$ORIGIN``), following symlinks *inside*
that root.  :func:`modinfo` reads a kernel module's ``.modinfo`` section.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile
from elftools.elf.segments import InterpSegment

from . import ImageError

EM_AARCH64 = "EM_AARCH64"  # e_machine as pyelftools names it


@dataclass(frozen=True)
class ElfInfo:
    machine: str  # e_machine, e.g. "EM_AARCH64"
    interp: str | None
    needed: tuple[str, ...]
    runpath: tuple[str, ...]


def is_elf(data: bytes) -> bool:
    return data[:4] == b"\x7fELF"


def _open(data: bytes, name: str) -> ELFFile:
    if not is_elf(data) or len(data) < 52:
        raise ImageError(f"{name}: not an ELF file")
    try:
        return ELFFile(io.BytesIO(data))
    except ELFError as e:
        raise ImageError(f"{name}: unsupported ELF file ({e})") from None


def parse(data: bytes, name: str = "<elf>") -> ElfInfo:
    """Parse the dynamic-linking facts of one ELF file held in ``data``."""
    elf = _open(data, name)
    try:
        machine = str(elf["e_machine"])
        interp: str | None = None
        needed: list[str] = []
        runpath: list[str] = []
        for seg in elf.iter_segments():
            if isinstance(seg, InterpSegment):
                interp = seg.get_interp_name()
        for sec in elf.iter_sections():
            if not isinstance(sec, DynamicSection):
                continue
            for tag in sec.iter_tags():
                # pyelftools sets the string attribute named after each tag
                if tag.entry.d_tag == "DT_NEEDED":
                    needed.append(tag.needed)  # type: ignore[attr-defined]
                elif tag.entry.d_tag == "DT_RPATH":
                    runpath.extend(p for p in tag.rpath.split(":") if p)  # type: ignore[attr-defined]
                elif tag.entry.d_tag == "DT_RUNPATH":
                    runpath.extend(p for p in tag.runpath.split(":") if p)  # type: ignore[attr-defined]
    except (ELFError, ValueError, KeyError) as e:  # truncated or inconsistent headers
        raise ImageError(f"{name}: truncated or corrupt ELF ({e})") from None
    return ElfInfo(machine, interp, tuple(needed), tuple(runpath))


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
    elf = _open(data, name)
    try:
        sec = elf.get_section_by_name(wanted)
        return None if sec is None else bytes(sec.data())
    except (ELFError, ValueError) as e:
        raise ImageError(f"{name}: truncated ELF section headers ({e})") from None


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
