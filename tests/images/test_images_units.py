"""Unit tests of the image building blocks: cpio, ELF reading, IORT patching.

The ELF tests read real arm64 binaries from the provisioned arm64 QEMU prefix when it
exists (``python -m conformance provision --arch arm64``) and skip with that reason
otherwise; the rest use bytes built here.
"""

from __future__ import annotations

import stat
import struct
from pathlib import Path

import pytest

from artefacts.provision import install_for
from images import ImageError, cpio, elf, iort


def test_cpio_round_trip_is_deterministic() -> None:
    entries = [cpio.Entry.dir("etc"), cpio.Entry.file("etc/x", b"abc", 0o755),
               cpio.Entry.symlink("init", "/usr/bin/busybox")]
    a, b = cpio.write(entries), cpio.write(entries)
    assert a == b and len(a) % 4 == 0
    back = cpio.read(a)
    assert [(e.name, e.mode, e.data) for e in back] == [
        ("etc", stat.S_IFDIR | 0o755, b""), ("etc/x", stat.S_IFREG | 0o755, b"abc"),
        ("init", stat.S_IFLNK | 0o777, b"/usr/bin/busybox")]
    assert cpio.gzip_bytes(a) == cpio.gzip_bytes(a)


def test_cpio_rejects_duplicates() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        cpio.write([cpio.Entry.dir("a"), cpio.Entry.dir("a")])


def _iort(rc_flags: int = 3) -> bytes:
    """A minimal IORT: header, one ITS group node, one root-complex node."""
    its = struct.pack("<BHBIII", 0, 24, 1, 0, 0, 0) + struct.pack("<II", 1, 0)
    rc = (struct.pack("<BHBIII", 2, 36, 3, 1, 0, 0)
          + struct.pack("<IBHB", 1, 0, 0, rc_flags) + struct.pack("<IIB3x", 0, 0, 64))
    body = struct.pack("<III", 2, 48, 0) + its + rc
    hdr = iort.HEADER.pack(b"IORT", 36 + len(body), 5, 0, b"BOCHS ", b"BXPC    ", 1,
                           b"BXPC", 1)
    t = bytearray(hdr + body)
    iort.fix_checksum(t)
    return bytes(t)


def test_iort_canwbs_sets_only_the_bit_revision_and_checksum() -> None:
    table = _iort()
    (rc,) = iort.root_complexes(table)
    assert rc.mem_access_flags == 3
    new = iort.with_canwbs(table)
    assert iort.checksum_ok(new)
    assert iort.root_complexes(new)[0].mem_access_flags == 3 | iort.MF_CANWBS
    diff = [i for i in range(len(table)) if table[i] != new[i]]
    assert set(diff) <= {9, 24, 25, 26, 27, rc.flags_offset}
    assert struct.unpack_from("<I", new, 24)[0] == 2


def test_iort_errors_are_one_line() -> None:
    with pytest.raises(ImageError, match="not an IORT"):
        iort.root_complexes(b"DSDT" + bytes(60))
    bad = bytearray(_iort())
    struct.pack_into("<I", bad, 4, 999)
    with pytest.raises(ImageError, match="header length 999"):
        iort.root_complexes(bytes(bad))


def test_iort_override_cpio_layout() -> None:
    table = iort.with_canwbs(_iort())
    names = [e.name for e in cpio.read(iort.override_cpio(table))]
    assert names[-1] == "kernel/firmware/acpi/IORT.aml"


def test_resolve_in_root_follows_links_inside(tmp_path: Path) -> None:
    (tmp_path / "usr/lib/x").mkdir(parents=True)
    (tmp_path / "usr/lib/x/libz.so.1.3").write_bytes(b"z")
    (tmp_path / "usr/lib/x/libz.so.1").symlink_to("libz.so.1.3")
    (tmp_path / "usr/lib/abs.so").symlink_to("/usr/lib/x/libz.so.1")
    assert str(elf.resolve_in_root(tmp_path, "/lib/x/libz.so.1")) == "/usr/lib/x/libz.so.1.3"
    assert str(elf.resolve_in_root(tmp_path, "/usr/lib/abs.so")) == "/usr/lib/x/libz.so.1.3"
    with pytest.raises(ImageError, match="not found"):
        elf.resolve_in_root(tmp_path, "/usr/lib/missing.so")


def test_parse_rejects_non_elf() -> None:
    with pytest.raises(ImageError, match="not an ELF"):
        elf.parse(b"#!/bin/sh\n" + bytes(64), "script")


def _arm64_root() -> Path:
    inst = install_for("arm64")
    if not (inst.prefix / "usr/bin/qemu-system-aarch64").exists():
        pytest.skip("arm64 QEMU not provisioned (python -m conformance provision --arch arm64)")
    return inst.prefix


def test_real_arm64_qemu_closure() -> None:
    root = _arm64_root()
    data = (root / "usr/bin/qemu-system-aarch64").read_bytes()
    info = elf.parse(data, "qemu-system-aarch64")
    assert info.machine == elf.EM_AARCH64
    assert info.interp == "/lib/ld-linux-aarch64.so.1"
    assert "libc.so.6" in info.needed and "libglib-2.0.so.0" in info.needed
    files = elf.closure(root, ["/usr/bin/qemu-system-aarch64"])
    names = {Path(k).name for k in files}
    assert set(info.needed) <= names
    assert "ld-linux-aarch64.so.1" in names
    for real in files.values():
        assert (root / str(real).lstrip("/")).is_file()


def test_missing_package_is_one_line_naming_it() -> None:
    from artefacts.images import images_root
    from images.packages import resolve

    if not any((images_root() / "apt-arm64/lists").glob("*_Packages*")):
        pytest.skip("no arm64 apt lists yet (python -m images build stock)")
    with pytest.raises(ImageError) as e:
        resolve({"busybox-static": "0.0-does-not-exist"}, closure=False)
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("Debian package(s) busybox-static=0.0-does-not-exist (arm64) not in")
    assert "images/packages.py" in msg
