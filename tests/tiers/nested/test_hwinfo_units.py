"""``smmu-hwinfo`` (images/hwinfo.py): built static for aarch64, cached, and kept out of
the kernel's cache key (a changed helper reassembles the initramfs, never the kernel)."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from images import hwinfo, kernel

EM_AARCH64 = 183
PT_INTERP, PT_DYNAMIC = 3, 2


def _need_cc() -> None:
    if shutil.which(hwinfo.CC) is None:
        pytest.skip(f"{hwinfo.CC} is not installed (apt-get install gcc-aarch64-linux-gnu)")


def program_headers(data: bytes) -> list[int]:
    """ELF64 little-endian program header types."""
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    return [struct.unpack_from("<I", data, phoff + i * phentsize)[0] for i in range(phnum)]


def test_helper_is_a_static_aarch64_executable(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    _need_cc()
    monkeypatch.setenv("SMMUV3_CONFORMANCE_CACHE", str(tmp_path))
    h = hwinfo.build(log=False)
    data = h.path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1  # ELF64, little endian
    e_type, e_machine = struct.unpack_from("<HH", data, 0x10)
    assert (e_type, e_machine) == (2, EM_AARCH64)  # ET_EXEC
    types = program_headers(data)
    assert PT_INTERP not in types and PT_DYNAMIC not in types  # no loader, no libc
    assert len(data) < 64 * 1024
    # cached: a second build is the same file, not recompiled
    mtime = h.path.stat().st_mtime_ns
    again = hwinfo.build(log=False)
    assert again == h and again.path.stat().st_mtime_ns == mtime


def test_a_changed_helper_does_not_change_the_kernel_key(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    _need_cc()
    before = (hwinfo.build_key(), kernel.build_key("0" * 64))
    src = tmp_path / "smmu-hwinfo.c"
    src.write_text(hwinfo.SOURCE.read_text() + "\n/* changed */\n")
    monkeypatch.setattr(hwinfo, "SOURCE", src)
    after = (hwinfo.build_key(), kernel.build_key("0" * 64))
    assert after[0] != before[0] and after[1] == before[1]


def test_built_iommufd_image_carries_the_helper() -> None:
    """The iommufd image's initramfs holds the helper its manifest names, executable."""
    import gzip
    import hashlib

    from images import cpio
    from images.build import find

    img = find("iommufd")
    if img is None:
        pytest.skip("the iommufd image is not built (python -m images build iommufd)")
    want = img.manifest()["artefacts"].get("smmu-hwinfo")
    if want is None:
        pytest.skip(f"{img.dir} predates smmu-hwinfo (python -m images build iommufd)")
    raw = img.initrd.read_bytes()
    archive = gzip.decompress(raw[raw.index(b"\x1f\x8b\x08"):])  # after the IORT cpio
    (e,) = [x for x in cpio.read(archive) if "/" + x.name == hwinfo.L1_PATH]
    assert e.mode & 0o777 == 0o755
    assert hashlib.sha256(e.data).hexdigest() == want
