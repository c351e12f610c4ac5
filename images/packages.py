"""Pinned Debian packages and a verified downloader for them.

Every top-level package the images use is pinned here to one Debian version.  Libraries they
pull in are resolved by apt against an empty dpkg status (so the closure is complete) and
recorded, each with the sha256 that Debian's signed ``Packages`` index gives for it, in the
variant manifest.  A ``.deb`` already in the cache whose sha256 matches is never downloaded
again; one that does not match is downloaded again and checked.

The apt configuration is private (``artefacts.provision.AptEnv``, rooted in the cache):
nothing in ``/etc/apt`` or ``/var/lib/dpkg`` is read or written.  Only ``apt-get`` and
``dpkg-deb`` (host tools) run; nothing arm64 runs.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from artefacts.images import images_root
from artefacts.provision import QEMU_VERSION, AptEnv, ProvisionError, sha256

from . import ImageError

#: Debian kernel ABI and package version of the trixie-backports arm64 kernel.
KERNEL_ABI = "7.3.4+deb13"
KERNEL_VERSION = "7.3.4-1~bpo13+1"

#: The stock variant's kernel: image and modules, no dependencies taken from apt.
STOCK_KERNEL: dict[str, str] = {
    f"linux-binary-{KERNEL_ABI}-arm64": KERNEL_VERSION,
    f"linux-modules-{KERNEL_ABI}-arm64": KERNEL_VERSION,
}
#: The source tree the iommufd variant cross-builds (arch all).
KERNEL_SOURCE: dict[str, str] = {"linux-source-7.3": KERNEL_VERSION}
#: L1 userland besides QEMU (which comes from ``artefacts.provision.provision("arm64")``).
#: These are resolved with their dependency closure.
USERLAND: dict[str, str] = {
    "busybox-static": "1:1.37.0-6+b9",
    "qemu-guest-agent": QEMU_VERSION,
}



@dataclass(frozen=True)
class Deb:
    """One ``.deb`` as Debian's index describes it."""

    name: str
    version: str
    filename: str
    size: int
    sha256: str


def _apt() -> AptEnv:
    env = AptEnv(images_root() / "apt-arm64", "arm64")
    env.setup()
    try:
        env.update()
    except ProvisionError as e:
        raise ImageError(str(e)) from None
    return env


_INST = re.compile(r"^Inst (\S+) \((\S+) ")


def _show(env: AptEnv, specs: list[str]) -> list[Deb]:
    """Look ``name=version`` up in Debian's index (sha256, size, architecture)."""
    p = subprocess.run(["apt-cache", *env.options, "show", "--no-all-versions", *specs],
                       capture_output=True, text=True)
    records = [r for r in p.stdout.strip().split("\n\n") if r.strip()]
    if p.returncode != 0 or len(records) != len(specs):
        bad = [s for s in specs
               if not subprocess.run(["apt-cache", *env.options, "show", s],
                                     capture_output=True, text=True).stdout.strip()]
        raise ImageError(f"Debian package(s) {', '.join(bad) or ' '.join(specs)} (arm64) not in "
                         f"trixie/trixie-backports; update the pin in images/packages.py")
    debs = []
    for record in records:
        f = dict(re.findall(r"^([A-Za-z0-9-]+): (.*)$", record, re.M))
        try:
            name, version, arch = f["Package"], f["Version"], f["Architecture"]
            debs.append(Deb(name, version,
                            f"{name}_{version.replace(':', '%3a')}_{arch}.deb",
                            int(f["Size"]), f["SHA256"]))
        except KeyError as e:
            raise ImageError(f"apt-cache show {record[:40]!r}...: no {e} field") from None
    return debs


def resolve(packages: Mapping[str, str], closure: bool) -> list[Deb]:
    """Return the ``.deb`` files ``packages`` need (with their dependencies if ``closure``)."""
    env = _apt()
    spec = [f"{n}={v}" for n, v in packages.items()]
    pinned = _show(env, spec)
    if not closure:
        return sorted(pinned, key=lambda d: d.name)
    try:
        out = env.run("install", "-s", *spec, what=f"resolving {' '.join(spec)}")
    except ProvisionError as e:
        raise ImageError(str(e)) from None
    names = [f"{m.group(1)}={m.group(2)}" for m in map(_INST.match, out.splitlines()) if m]
    if not names:
        raise ImageError(f"apt resolved no packages for {' '.join(spec)}")
    return sorted(_show(env, names), key=lambda d: d.name)


#: the project's one sha256-of-a-file helper (also used for the provisioned QEMU)
sha256_file = sha256


def fetch(debs: Iterable[Deb]) -> dict[str, Path]:
    """Make every deb present and verified in the cache; return ``filename -> path``."""
    store = images_root() / "debs"
    store.mkdir(parents=True, exist_ok=True)
    debs = list(debs)
    missing = [d for d in debs
               if not (store / d.filename).exists()
               or (store / d.filename).stat().st_size != d.size]
    if missing:
        env = _apt()
        cmd = ["apt-get", *env.options, "download", "-qq",
               *(f"{d.name}={d.version}" for d in missing)]
        p = subprocess.run(cmd, cwd=store, capture_output=True, text=True)
        if p.returncode != 0:
            tail = " | ".join(p.stderr.strip().splitlines()[-2:])
            raise ImageError(f"apt-get download of {len(missing)} package(s) failed: {tail}")
    out = {}
    for d in debs:
        path = store / d.filename
        if not path.exists():
            raise ImageError(f"{d.filename}: apt-get download did not produce it")
        got = sha256_file(path)
        if got != d.sha256:
            path.unlink()
            raise ImageError(f"{d.filename}: sha256 {got} does not match Debian's index "
                             f"({d.sha256}); removed, rerun to download again")
        out[d.filename] = path
    return out


def unpack(debs: Iterable[Path], root: Path) -> None:
    """``dpkg-deb -x`` every deb into ``root`` (host tool; nothing runs from the debs)."""
    root.mkdir(parents=True, exist_ok=True)
    for d in debs:
        p = subprocess.run(["dpkg-deb", "-x", str(d), str(root)], capture_output=True,
                           text=True)
        if p.returncode != 0:
            raise ImageError(f"dpkg-deb -x {d.name} failed: {p.stderr.strip()}")
