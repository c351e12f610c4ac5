"""The real Linux guest that L2 boots in the nested tier's Linux-guest scenarios.

``python -m images.l2guest`` (or :func:`build`) assembles, from Debian packages the
image builds already pin and cache:

``Image.gz``
    Debian's arm64 kernel (``linux-binary-7.3.4+deb13-arm64``, the stock variant's), gzip
    compressed with a zero timestamp.  Not the iommufd variant's kernel: that one is
    built from ``allnoconfig`` and has no driver for the passed-through e1000e, and the
    guest must drive the device to show its interrupts.  Debian's kernel has
    ``arm-smmu-v3`` built in and ``e1000e`` as a module.  L2 boots it through UEFI
    (``-bios QEMU_EFI.fd -kernel``: accel=on needs firmware and ACPI, P10), which
    decompresses it.
``initrd``
    a gzip ``newc`` archive: busybox-static as ``/bin/busybox``, the recipe's
    :file:`recipe/l2guest-init` as ``/init``, and the e1000e module with its
    dependencies (from each module's ``.modinfo``, :func:`images.initramfs.module_files`),
    listed in load order in ``/etc/l2guest/modules``.
``QEMU_EFI.fd``
    the arm64 QEMU 11.1.3's own firmware package (``qemu-efi-aarch64``), as provisioned.

The folder ``images_root()/l2guest/`` holds them with a ``manifest.json`` (inputs and the
sha256 of every artefact); unchanged inputs return the cached folder at once.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

from artefacts.images import L2Guest, guest_dir, l2guest_find
from artefacts.provision import ProvisionError, provision

from . import ImageError, cpio, initramfs
from .build import STOCK_RELEASE, _debs_json, _unpacked
from .initramfs import RECIPE, Tree
from .packages import STOCK_KERNEL, USERLAND, fetch, resolve, sha256_file

FORMAT = 1
INIT = RECIPE / "l2guest-init"
#: the passed-through device's driver (its dependencies are added automatically)
MODULES = ("e1000e",)

#: the lookup lives with the other artefact lookups (the harness reads it, never this builder)
find = l2guest_find



def initrd_archive(busybox: bytes, modules: list[tuple[str, bytes]]) -> bytes:
    """The uncompressed archive (pure: the same inputs give the same bytes)."""
    t = Tree()
    for d in ("/bin", "/proc", "/sys", "/dev", "/tmp", "/etc/l2guest"):
        t.dir(d)
    t.file("/bin/busybox", busybox, 0o755, "busybox-static")
    t.symlink("/bin/sh", "busybox")
    t.file("/init", INIT.read_bytes(), 0o755)
    for path, data in modules:
        t.file(path, data, 0o644, "linux-modules")
    t.file("/etc/l2guest/modules", "".join(f"{p}\n" for p, _ in modules).encode())
    return t.archive()


def build(log: bool = True, force: bool = False) -> L2Guest:
    """Build the guest (or return it from the cache)."""


    def say(msg: str) -> None:
        if log:
            print(f"images: l2guest: {msg}", file=sys.stderr, flush=True)

    t0 = time.monotonic()
    try:
        qemu_arm64 = provision("arm64", log=False)
    except ProvisionError as e:
        raise ImageError(str(e)) from None
    kdebs = resolve(STOCK_KERNEL, closure=False)
    userland = resolve(USERLAND, closure=True)
    busybox_debs = [d for d in userland if d.name == "busybox-static"]
    fw = qemu_arm64.prefix / "usr/share/qemu-efi-aarch64/QEMU_EFI.fd"
    if not fw.exists():
        raise ImageError(f"{fw}: not in the provisioned arm64 QEMU (qemu-efi-aarch64)")
    inputs = {"format": FORMAT, "kernel_debs": _debs_json(kdebs),
              "busybox_debs": _debs_json(busybox_debs), "modules": list(MODULES),
              "init": sha256_file(INIT), "firmware": sha256_file(fw)}
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    out = L2Guest(guest_dir())
    if out.is_complete() and not force:
        try:
            if out.manifest().get("inputs_sha256") == key:
                say(f"cached ({out.dir}, inputs {key[:12]})")
                return out
        except ValueError:
            pass
    paths = fetch([*kdebs, *busybox_debs])
    kroot = _unpacked("kernel-stock", kdebs, paths)
    broot = _unpacked("busybox", busybox_debs, paths)
    vmlinuz = kroot / "usr/lib/modules" / STOCK_RELEASE / "vmlinuz"
    if not vmlinuz.exists():
        raise ImageError(f"{vmlinuz}: not in linux-binary-{STOCK_RELEASE}")
    raw = vmlinuz.read_bytes()
    image = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    modules = initramfs.module_files(kroot, STOCK_RELEASE, MODULES)
    say(f"modules: {', '.join(Path(p).stem for p, _ in modules)}")
    archive = initrd_archive((broot / "usr/bin/busybox").read_bytes(), modules)
    tmp = out.dir.with_name(out.dir.name + ".new")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    (tmp / "Image.gz").write_bytes(gzip.compress(image, compresslevel=6, mtime=0))
    (tmp / "initrd").write_bytes(cpio.gzip_bytes(archive))
    shutil.copy2(fw, tmp / "QEMU_EFI.fd")
    manifest = {
        "inputs_sha256": key, "inputs": inputs,
        "kernel": f"linux-binary-{STOCK_RELEASE} (Debian), gzip",
        "artefacts": {p.name: sha256_file(tmp / p.name) for p in out.files()},
        "initramfs_bytes_uncompressed": len(archive),
        "build_seconds": round(time.monotonic() - t0, 1),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if out.dir.exists():
        shutil.rmtree(out.dir)
    tmp.rename(out.dir)
    say(f"built {out.dir} in {manifest['build_seconds']} s")
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m images.l2guest",
                                description="Build the nested tier's Linux L2 guest (cached).")
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    a = p.parse_args(argv)
    try:
        g = build(force=a.force)
    except ImageError as e:
        print(f"images: l2guest: error: {e}", file=sys.stderr)
        return 1
    print(g.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
