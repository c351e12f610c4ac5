"""Assemble the L1 initramfs from unpacked Debian roots (no arm64 code runs here).

Contents, all arm64 from Debian:

* ``busybox`` (busybox-static) as ``/init`` and init, with the recipe's ``inittab``,
  ``rcS`` and ``qga.sh`` (:file:`images/recipe/`);
* ``qemu-ga`` (qemu-guest-agent), the harness's only way in: it runs commands with
  ``guest-exec`` over virtio-serial;
* ``qemu-system-aarch64`` 11.1.3 (the QEMU under test, from
  ``artefacts.provision.provision("arm64")``) and the NIC option ROMs L2 may load;
* for the stock kernel, the kernel modules L1 needs and their dependencies (read from
  each module's ``.modinfo``), decompressed and listed in load order in
  ``/etc/nested/modules``.

Shared libraries come from :func:`images.elf.closure`.  The layout is Debian's merged
``/usr`` (``/lib``, ``/bin``, ``/sbin`` are symlinks into ``/usr``).
"""

from __future__ import annotations

import lzma
import stat
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from . import ImageError, cpio, elf
from .cpio import Entry

RECIPE = Path(__file__).parent / "recipe"
QEMU_BIN = "/usr/bin/qemu-system-aarch64"
QGA_BIN = "/usr/sbin/qemu-ga"
BUSYBOX_BIN = "/usr/bin/busybox"
#: option ROMs (from ipxe-qemu) that NICs created in L2 load unless given romfile=
ROMS = ("efi-virtio.rom", "efi-e1000e.rom", "efi-e1000.rom")
#: stock-kernel modules L1 loads (their dependencies are added automatically)
STOCK_MODULES = ("virtio_net", "vfio_iommu_type1", "vfio_pci")


class Tree:
    """An initramfs being assembled: path -> entry, directories created on demand."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self.origins: dict[str, str] = {}

    def _parents(self, path: str) -> None:
        parts = PurePosixPath(path).parts[1:-1]
        for i in range(1, len(parts) + 1):
            d = "/" + "/".join(parts[:i])
            if d not in self.entries:
                self.entries[d] = Entry.dir(d.lstrip("/"))

    def add(self, path: str, entry_mode: int, data: bytes, origin: str) -> None:
        path = "/" + path.lstrip("/")
        old = self.entries.get(path)
        if old is not None:
            if old.mode == entry_mode and old.data == data:
                return
            raise ImageError(f"initramfs: {path} from {origin} conflicts with the copy from "
                             f"{self.origins.get(path, '?')}")
        self._parents(path)
        self.entries[path] = Entry(path.lstrip("/"), entry_mode, data)
        self.origins[path] = origin

    def file(self, path: str, data: bytes, perm: int = 0o644, origin: str = "recipe") -> None:
        self.add(path, stat.S_IFREG | perm, data, origin)

    def symlink(self, path: str, target: str, origin: str = "recipe") -> None:
        self.add(path, stat.S_IFLNK | 0o777, target.encode(), origin)

    def dir(self, path: str) -> None:
        path = "/" + path.lstrip("/")
        self._parents(path + "/x")

    def archive(self) -> bytes:
        # parents before children, then by name: deterministic and extractable in order
        return cpio.write([self.entries[k] for k in sorted(self.entries)])


def add_from_root(tree: Tree, root: Path, programs: Iterable[str], label: str) -> None:
    """Copy ``programs`` and everything they load from ``root`` into ``tree``.

    A referenced path that is a symlink in the root (``/lib/ld-linux-aarch64.so.1``) is
    kept as a symlink to the real file, which is copied with its mode.
    """
    for ref, real in elf.closure(root, programs).items():
        host = root / str(real).lstrip("/")
        mode = host.stat().st_mode
        tree.add(str(real), stat.S_IFREG | (mode & 0o7777), host.read_bytes(),
                 f"{label}:{real}")
        ref_dir_real = elf.resolve_in_root(root, str(PurePosixPath(ref).parent))
        ref_in_real_dir = str(ref_dir_real / PurePosixPath(ref).name)
        if ref_in_real_dir != str(real):
            tree.symlink(ref_in_real_dir, str(real), f"{label}:{ref}")


def add_file(tree: Tree, root: Path, path: str, label: str, perm: int | None = None) -> None:
    real = elf.resolve_in_root(root, path)
    host = root / str(real).lstrip("/")
    tree.file(path, host.read_bytes(), perm if perm is not None else host.stat().st_mode & 0o7777,
              f"{label}:{real}")


def module_files(modules_root: Path, kernel_release: str,
                 wanted: Iterable[str]) -> list[tuple[str, bytes]]:
    """``(in-initramfs path, decompressed .ko)`` for ``wanted`` and their dependencies,
    in load order (dependencies first)."""
    base = modules_root / "usr/lib/modules" / kernel_release
    if not base.is_dir():
        raise ImageError(f"{base}: no modules for kernel {kernel_release}")
    index: dict[str, Path] = {}
    for ko in base.rglob("*.ko*"):
        name = ko.name.split(".ko", 1)[0].replace("-", "_")
        index[name] = ko
    cache: dict[str, bytes] = {}

    def load(name: str) -> bytes:
        if name not in cache:
            if name not in index:
                raise ImageError(f"kernel module {name} is not in {base} (built in? "
                                 f"then drop it from images.initramfs.STOCK_MODULES)")
            raw = index[name].read_bytes()
            if index[name].suffix == ".xz":
                raw = lzma.decompress(raw)
            elif index[name].suffix != ".ko":
                raise ImageError(f"{index[name]}: unsupported module compression")
            cache[name] = raw
        return cache[name]

    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in order:
            return
        if name in visiting:
            raise ImageError(f"kernel module dependency cycle at {name}")
        visiting.add(name)
        info = elf.modinfo(load(name), str(index[name]))
        for dep_list in info.get("depends", []):
            for dep in filter(None, dep_list.split(",")):
                visit(dep.replace("-", "_"))
        visiting.discard(name)
        order.append(name)

    for w in wanted:
        visit(w.replace("-", "_"))
    return [(f"/usr/lib/modules/{kernel_release}/{n}.ko", cache[n]) for n in order]


def build(qemu_root: Path, userland_root: Path, modules: list[tuple[str, bytes]],
          programs: Iterable[tuple[str, bytes]] = ()) -> bytes:
    """The uncompressed initramfs archive (``programs``: extra static executables)."""
    t = Tree()
    for link, target in (("/lib", "usr/lib"), ("/bin", "usr/bin"), ("/sbin", "usr/sbin")):
        t.symlink(link, target)
    for d in ("/usr/lib", "/usr/bin", "/usr/sbin", "/proc", "/sys", "/dev", "/tmp", "/run",
              "/root", "/var", "/etc/init.d", "/etc/nested", "/usr/share/qemu"):
        t.dir(d)
    t.symlink("/var/run", "../run")
    add_from_root(t, userland_root, [BUSYBOX_BIN, QGA_BIN], "userland")
    add_from_root(t, qemu_root, [QEMU_BIN], "qemu")
    for rom in ROMS:
        add_file(t, qemu_root, f"/usr/share/qemu/{rom}", "qemu", 0o644)
    t.symlink("/init", "/usr/bin/busybox")
    t.symlink("/usr/sbin/init", "/usr/bin/busybox")
    t.symlink("/usr/bin/sh", "busybox")
    t.file("/etc/inittab", (RECIPE / "inittab").read_bytes())
    t.file("/etc/init.d/rcS", (RECIPE / "rcS").read_bytes(), 0o755)
    t.file("/etc/nested/qga.sh", (RECIPE / "qga.sh").read_bytes(), 0o755)
    t.file("/etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n")
    t.file("/etc/group", b"root:x:0:\n")
    lines = []
    for path, data in modules:
        t.file(path, data, 0o644, "linux-modules")
        lines.append(path)
    t.file("/etc/nested/modules", ("\n".join(lines) + "\n").encode() if lines else b"")
    for path, data in programs:
        t.file(path, data, 0o755, "images")
    return t.archive()
