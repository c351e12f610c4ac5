"""Cross-build the ``iommufd`` L1 kernel from Debian's ``linux-source-7.3``.

Debian's arm64 kernels are built with ``# CONFIG_IOMMUFD is not set`` (checked for trixie
6.12 and backports 7.2/7.3, every flavour), so the iommufd rows of the catalogue need a
kernel of our own.  The recipe:

1. download ``linux-source-7.3`` at the pinned version (sha256 from Debian's index);
2. unpack the tarball into the cache;
3. ``make ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- allnoconfig``, merge
   :file:`images/recipe/iommufd.config` with the tree's own ``merge_config.sh``,
   ``olddefconfig``, and check that every requested option stuck;
4. ``make Image`` with as many jobs as there are CPUs (about 10 minutes on 2 cores).

The result is cached under ``images/kernel/<key>/`` where ``key`` hashes the source
package's sha256, the fragment and the cross compiler's version, so a rebuild with the same
inputs is a no-op and any change rebuilds (incrementally: the object folder is kept per
source version).  The host needs Debian's
``gcc-aarch64-linux-gnu flex bison bc libelf-dev libssl-dev make``; a missing tool is a
one-line error naming the package.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from artefacts.images import images_root

from . import ImageError
from .packages import KERNEL_SOURCE, fetch, resolve, sha256_file, unpack

_log = logging.getLogger(__name__)

RECIPE = Path(__file__).parent / "recipe"
FRAGMENT = RECIPE / "iommufd.config"
CROSS = "aarch64-linux-gnu-"
#: host tool -> Debian package that provides it
HOST_TOOLS = {
    f"{CROSS}gcc": "gcc-aarch64-linux-gnu",
    f"{CROSS}ld": "binutils-aarch64-linux-gnu",
    "make": "make",
    "flex": "flex",
    "bison": "bison",
    "bc": "bc",
}
#: Options that do not stick on allnoconfig and are known to be harmless when missing:
#: VFIO_PCI_DMABUF needs PCI_P2PDMA (ZONE_DEVICE, memory hotplug); without it L2 warns
#: "VFIO dma-buf not supported in kernel, using mmap fallback" and works.
OPTIONAL: frozenset[str] = frozenset()


@dataclass(frozen=True)
class KernelBuild:
    """A built kernel: ``image`` is the arm64 ``Image`` (EFI stub), ``config`` its .config."""

    key: str
    dir: Path

    @property
    def image(self) -> Path:
        return self.dir / "Image"

    @property
    def config(self) -> Path:
        return self.dir / "config"

    @property
    def info(self) -> Path:
        return self.dir / "build.json"

    def is_complete(self) -> bool:
        return self.image.exists() and self.config.exists() and self.info.exists()


def check_host_tools() -> None:
    missing = sorted({pkg for tool, pkg in HOST_TOOLS.items() if shutil.which(tool) is None})
    if missing:
        raise ImageError(f"building the iommufd kernel needs host packages: "
                         f"apt-get install {' '.join(missing)}")
    hdr = Path("/usr/include/gelf.h")
    if not hdr.exists():
        raise ImageError("building the iommufd kernel needs host package libelf-dev "
                         "(no /usr/include/gelf.h)")


def _compiler_version() -> str:
    p = subprocess.run([f"{CROSS}gcc", "--version"], capture_output=True, text=True)
    return (p.stdout.splitlines() or ["?"])[0]


def fragment_options(text: str) -> dict[str, str]:
    """``CONFIG_X=y`` / ``=n`` lines of a fragment (comments ignored)."""
    opts = {}
    for line in text.splitlines():
        m = re.match(r"^(CONFIG_[A-Z0-9_]+)=(\S+)$", line.strip())
        if m:
            opts[m.group(1)] = m.group(2)
    return opts


def check_config(config_text: str, wanted: dict[str, str]) -> list[str]:
    """Return the requested options that did not end up as requested."""
    have = fragment_options(config_text)
    unset = set(re.findall(r"^# (CONFIG_[A-Z0-9_]+) is not set$", config_text, re.M))
    bad = []
    for opt, val in wanted.items():
        if val == "n":
            if opt in have and have[opt] != "n":
                bad.append(f"{opt}={have[opt]} (wanted n)")
        elif have.get(opt) != val and opt not in OPTIONAL:
            got = have.get(opt) or ("not set" if opt in unset else "absent")
            bad.append(f"{opt}: {got} (wanted {val})")
    return bad


def build_key(source_sha: str) -> str:
    h = hashlib.sha256()
    h.update(source_sha.encode())
    h.update(FRAGMENT.read_bytes())
    h.update(_compiler_version().encode())
    return h.hexdigest()[:16]


def build(jobs: int | None = None, log: bool = True) -> KernelBuild:
    """Build (or find in the cache) the iommufd kernel; return it."""

    def say(msg: str) -> None:
        _log.info(msg)
        if log:
            print(f"images: kernel: {msg}", flush=True)

    check_host_tools()
    (deb,) = resolve(KERNEL_SOURCE, closure=False)
    key = build_key(deb.sha256)
    out = KernelBuild(key, images_root() / "kernel" / key)
    if out.is_complete():
        say(f"cached {out.image} (key {key})")
        return out
    path = fetch([deb])[deb.filename]
    work = images_root() / "kernel-src" / deb.version
    src = work / "linux-source-7.3"
    if not (src / "Makefile").exists():
        say(f"unpacking {deb.filename}")
        pkg = work / "pkg"
        if pkg.exists():
            shutil.rmtree(pkg)
        unpack([path], pkg)
        (tarball,) = (pkg / "usr/src").glob("linux-source-*.tar.*")
        tmp = work / "src.new"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        with tarfile.open(tarball) as tf:
            tf.extractall(tmp, filter="data")
        shutil.rmtree(pkg)
        if src.exists():
            shutil.rmtree(src)
        (tmp / "linux-source-7.3").rename(src)
        tmp.rmdir()
    # One object folder per source version: kbuild tracks dependencies per CONFIG_
    # option (fixdep), so a changed fragment recompiles only what it affects.
    obj = images_root() / "kernel-build" / deb.version
    if not obj.exists():
        old = images_root() / "kernel-build"
        prior = [d for d in old.glob("*") if d.is_dir()] if old.exists() else []
        obj.parent.mkdir(parents=True, exist_ok=True)
        if prior:  # an object folder from an earlier layout: reuse its objects
            prior[0].rename(obj)
    obj.mkdir(parents=True, exist_ok=True)
    make = ["make", "-C", str(src), f"O={obj}", "ARCH=arm64", f"CROSS_COMPILE={CROSS}"]
    # fixed build identity (uname -v, /proc/version); the cache path still differs
    env = dict(os.environ, KBUILD_BUILD_TIMESTAMP="1970-01-01", KBUILD_BUILD_USER="images",
               KBUILD_BUILD_HOST="accel-smmuv3-conformance", KBUILD_BUILD_VERSION="1")

    def run(args: list[str], what: str) -> None:
        logf = obj / "build.log"
        with logf.open("a") as lf:
            lf.write(f"$ {' '.join(args)}\n")
            lf.flush()
            p = subprocess.run(args, stdout=lf, stderr=subprocess.STDOUT, env=env)
        if p.returncode != 0:
            tail = logf.read_text(errors="replace").strip().splitlines()[-3:]
            raise ImageError(f"{what} failed (exit {p.returncode}, log {logf}): "
                             f"{' | '.join(tail)}")

    wanted = fragment_options(FRAGMENT.read_text())
    t0 = time.monotonic()
    say("configuring: allnoconfig + images/recipe/iommufd.config")
    run([*make, "allnoconfig"], "make allnoconfig")
    run([str(src / "scripts/kconfig/merge_config.sh"), "-m", "-O", str(obj),
         str(obj / ".config"), str(FRAGMENT)], "merge_config.sh")
    run([*make, "olddefconfig"], "make olddefconfig")
    bad = check_config((obj / ".config").read_text(), wanted)
    if bad:
        raise ImageError(f"{FRAGMENT.name}: options did not stick after olddefconfig: "
                         f"{'; '.join(bad)}")
    njobs = jobs or os.cpu_count() or 1
    say(f"make -j{njobs} Image (about 10 minutes on 2 cores; log {obj / 'build.log'})")
    run([*make, f"-j{njobs}", "Image"], "make Image")
    seconds = time.monotonic() - t0
    tmp_out = out.dir.with_name(out.dir.name + ".new")
    if tmp_out.exists():
        shutil.rmtree(tmp_out)
    tmp_out.mkdir(parents=True)
    shutil.copy2(obj / "arch/arm64/boot/Image", tmp_out / "Image")
    shutil.copy2(obj / ".config", tmp_out / "config")
    (tmp_out / "build.json").write_text(json.dumps({
        "key": key,
        "source": {"deb": deb.filename, "sha256": deb.sha256},
        "fragment_sha256": sha256_file(FRAGMENT),
        "compiler": _compiler_version(),
        "build_seconds": round(seconds, 1),
        "jobs": njobs,
        "image_sha256": sha256_file(tmp_out / "Image"),
        "config_sha256": sha256_file(tmp_out / "config"),
    }, indent=2) + "\n")
    if out.dir.exists():
        shutil.rmtree(out.dir)
    tmp_out.rename(out.dir)
    say(f"built {out.image} in {seconds:.0f} s")
    return out
