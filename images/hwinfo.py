"""Build ``smmu-hwinfo``, L1's probe of its host SMMUv3 (``images/recipe/smmu-hwinfo.c``).

The nested tier feeds the model the host SMMU that L2's accel SMMUv3 is compared with
(catalogue §5a).  Only the kernel knows it: QEMU asks with iommufd's
``IOMMU_GET_HW_INFO`` on the VFIO device, and so does this helper, in L1, at every L1
boot (:mod:`conformance.tiers.nested.hostprobe`).  Nothing else in L1 exposes the raw ID
registers: sysfs has no SMMU node with them, and the driver's boot line ("ias 48-bit,
oas 44-bit (features 0x...)") is a digest, not IDR0/1/3/5.

The helper is freestanding C (raw aarch64 system calls, no libc), compiled with Debian's
``gcc-aarch64-linux-gnu`` alone (the iommufd kernel's cross compiler: no arm64 libc
package needed), static, about 4 KiB.  It is cached like the kernel:
``images_root()/hwinfo/<key>/smmu-hwinfo`` where ``key`` hashes the source, the flags and
the compiler's version; the image manifest records the key and the binary's sha256.
Only the ``iommufd`` image carries it (the stock kernel has no ``/dev/iommu``), and it
goes into the initramfs, so a changed helper reassembles the initramfs but never
rebuilds the kernel (the kernel's cache key does not include it).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from artefacts.images import images_root

from . import ImageError
from .packages import sha256_file

SOURCE = Path(__file__).parent / "recipe" / "smmu-hwinfo.c"
CC = "aarch64-linux-gnu-gcc"
#: where L1 finds it (the harness runs it through the guest agent)
L1_PATH = "/usr/bin/smmu-hwinfo"
FLAGS = ("-static", "-no-pie", "-nostdlib", "-ffreestanding", "-fno-builtin",
         "-fno-stack-protector", "-O2", "-Wall", "-Wextra", "-Werror", "-s",
         "-Wl,--build-id=none")


@dataclass(frozen=True)
class Helper:
    key: str
    path: Path

    @property
    def sha256(self) -> str:
        return sha256_file(self.path)


def _compiler_version() -> str:
    try:
        p = subprocess.run([CC, "--version"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ImageError(f"building {SOURCE.name} needs {CC}: apt-get install "
                         "gcc-aarch64-linux-gnu") from None
    return (p.stdout.splitlines() or ["?"])[0]


def build_key() -> str:
    h = hashlib.sha256()
    h.update(SOURCE.read_bytes())
    h.update(" ".join(FLAGS).encode())
    h.update(_compiler_version().encode())
    return h.hexdigest()[:16]


def build(log: bool = True) -> Helper:
    """Compile the helper (or find it in the cache)."""
    key = build_key()
    out = images_root() / "hwinfo" / key
    helper = Helper(key, out / "smmu-hwinfo")
    if helper.path.exists() and (out / "build.json").exists():
        return helper
    tmp = out.with_name(out.name + ".new")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    argv = [CC, *FLAGS, "-o", str(tmp / "smmu-hwinfo"), str(SOURCE)]
    p = subprocess.run(argv, capture_output=True, text=True, check=False)
    if p.returncode != 0:
        err = (p.stderr.strip().splitlines() or ["?"])[0]
        raise ImageError(f"compiling {SOURCE.name} failed (exit {p.returncode}): {err}")
    (tmp / "build.json").write_text(json.dumps({
        "key": key, "argv": [*argv[:-3], "-o", "smmu-hwinfo", SOURCE.name],
        "compiler": _compiler_version(),
        "source_sha256": sha256_file(SOURCE),
        "sha256": sha256_file(tmp / "smmu-hwinfo"),
    }, indent=2) + "\n")
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    if log:
        print(f"images: smmu-hwinfo: built {helper.path} (key {key})", flush=True)
    return helper
