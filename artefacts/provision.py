"""Install QEMU 11.1.3 (aarch64 system emulator) on Debian 12 without touching the system.

Debian 12 ships QEMU 7.2, which predates the accelerated SMMUv3.  Debian trixie-backports
has 11.1.3.  Its binary runs on Debian 12 if it is started through trixie's *own* dynamic
loader with trixie's libraries, so this module:

1. writes a private apt configuration (sources, lists, cache, status all in our cache
   folder) that sees trixie + trixie-backports for one architecture;
2. downloads the pinned packages and their library closure (``apt-get install
   --download-only`` against an empty dpkg status, so the closure is complete);
3. unpacks every ``.deb`` with ``dpkg-deb -x`` into a private prefix;
4. writes a launcher ``bin/qemu-system-aarch64`` that runs the binary through the
   prefix's ``ld-linux`` with ``--library-path``, points ``QEMU_MODULE_DIR`` at the
   prefix (qtest and some devices are loadable modules) and adds ``-L`` for the data
   directory (the Debian build is not relocatable);
5. checks ``--version`` and records a manifest with the sha256 of every ``.deb``.

It is idempotent: a complete install is detected from its manifest and left alone, and
downloaded ``.deb`` files are reused.  No root is needed.  The cache folder is
``$SMMUV3_CONFORMANCE_CACHE`` or ``$XDG_CACHE_HOME/accel-smmuv3-conformance``
(``~/.cache/...``).

Run as ``python -m conformance provision [--arch amd64]``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from artefacts import ArtefactError

QEMU_VERSION = "1:11.1.3+ds-1~bpo13+1"
QEMU_VERSION_TEXT = "QEMU emulator version 11.1.3"
SUITES = ("trixie", "trixie-backports")
MIRROR = "http://deb.debian.org/debian"
# Top-level packages (the closure comes from apt).  ipxe-qemu carries efi-*.rom for NICs,
# qemu-efi-aarch64 the UEFI firmware the nested tier's L0 boots.
#
# Every package that ships QEMU *modules* is included too.  QEMU always searches its
# compiled-in module directory (/usr/lib/<triplet>/qemu) after $QEMU_MODULE_DIR; on a host
# where another QEMU (e.g. Debian 12's 7.2) is installed there, a module missing from our
# prefix is taken from that foreign build, refused ("Only modules from the same build can
# be loaded") and then QEMU 11.1.3 aborts in module_load_dso (`qom-list-types` loads all
# QOM modules, so it always hits this).  With the complete module set in our prefix the
# foreign directory is never reached.
# (An arm64 install only runs inside the nested tier's L1, where no foreign QEMU exists,
# so it takes the base set.)
PACKAGES: dict[str, str | None] = {
    "qemu-system-arm": QEMU_VERSION,
    "qemu-system-common": QEMU_VERSION,
    "qemu-system-data": QEMU_VERSION,
    "ipxe-qemu": None,
    "qemu-efi-aarch64": None,
}
MODULE_PACKAGES: dict[str, str | None] = {
    "qemu-system-modules-opengl": QEMU_VERSION,
    "qemu-system-modules-spice": QEMU_VERSION,
    "qemu-system-gui": QEMU_VERSION,
    "qemu-block-extra": QEMU_VERSION,
}


def packages_for(arch: str) -> dict[str, str | None]:
    """The top-level packages to install for ``arch`` (see MODULE_PACKAGES)."""
    return {**PACKAGES, **MODULE_PACKAGES} if arch == "amd64" else dict(PACKAGES)
TRIPLETS = {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}
LOADERS = {"amd64": "ld-linux-x86-64.so.2", "arm64": "ld-linux-aarch64.so.1"}


class ProvisionError(ArtefactError):
    """Provisioning failed; ``str()`` is one line saying what and why."""


def cache_root() -> Path:
    env = os.environ.get("SMMUV3_CONFORMANCE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "accel-smmuv3-conformance"


@dataclass(frozen=True)
class AptEnv:
    """A private apt configuration for one architecture, rooted at ``base``, seeing
    ``suites`` (``pin`` first: artefacts/releases.py passes other releases')."""

    base: Path
    arch: str
    suites: tuple[str, ...] = SUITES
    pin: str = "trixie-backports"

    @property
    def options(self) -> list[str]:
        b = self.base
        return [
            f"-oDir::Etc::SourceList={b}/etc/sources.list",
            "-oDir::Etc::SourceParts=/dev/null",
            f"-oDir::Etc::Preferences={b}/etc/preferences",
            "-oDir::Etc::PreferencesParts=/dev/null",
            f"-oDir::State::Lists={b}/lists",
            f"-oDir::State::status={b}/status",
            f"-oDir::Cache={b}/cache",
            f"-oAPT::Architecture={self.arch}",
            f"-oAPT::Architectures={self.arch}",
            "-oDebug::NoLocking=1",
            "-oAPT::Install-Recommends=0",
            "-oAcquire::Retries=3",
        ]

    def setup(self) -> None:
        for d in ("etc", "lists/partial", "cache/archives/partial"):
            (self.base / d).mkdir(parents=True, exist_ok=True)
        (self.base / "status").touch()
        (self.base / "etc/sources.list").write_text(
            "".join(f"deb {MIRROR} {s} main\n" for s in self.suites))
        # The backports Release says a=stable-backports, so pin by codename.
        (self.base / "etc/preferences").write_text(
            f"Package: *\nPin: release n={self.pin}\nPin-Priority: 990\n")

    def run(self, *args: str, what: str) -> str:
        cmd = ["apt-get", *self.options, *args]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            tail = " | ".join(
                line for line in (p.stderr or p.stdout).strip().splitlines()[-3:] if line)
            raise ProvisionError(f"{what} failed (apt-get exit {p.returncode}): {tail}")
        return p.stdout

    def update(self, max_age_s: float = 24 * 3600) -> None:
        lists = self.base / "lists"
        fresh = [p for p in lists.glob("*_Packages*")
                 if p.stat().st_mtime > _now() - max_age_s]
        if len(fresh) >= len(self.suites):
            return
        self.run("update", what=f"apt-get update for {self.arch} ({', '.join(self.suites)})")

    def download(self, packages: dict[str, str | None]) -> list[Path]:
        """Download ``packages`` and their closure; returns the ``.deb`` paths."""
        spec = [f"{n}={v}" if v else n for n, v in packages.items()]
        out = self.run("install", "-y", "--download-only", *spec,
                       what=f"downloading {' '.join(spec)} ({self.arch})")
        del out
        debs = sorted((self.base / "cache/archives").glob("*.deb"))
        if not debs:
            raise ProvisionError(f"no .deb files were downloaded for {self.arch}")
        return debs


def _now() -> float:
    import time
    return time.time()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def unpack(debs: list[Path], root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for d in debs:
        p = subprocess.run(["dpkg-deb", "-x", str(d), str(root)], capture_output=True, text=True)
        if p.returncode != 0:
            raise ProvisionError(f"dpkg-deb -x {d.name} failed: {p.stderr.strip()}")


LAUNCHER = """#!/bin/sh
# Generated by `python -m conformance provision`: QEMU {version} from Debian
# trixie-backports, run through trixie's own dynamic loader (no system change).
P='{prefix}'
QEMU_MODULE_DIR="$P/usr/lib/{triplet}/qemu"
export QEMU_MODULE_DIR
exec "$P/usr/bin/{loader}" --library-path "$P/usr/lib/{triplet}:$P/lib/{triplet}" \\
  "$P/usr/bin/qemu-system-aarch64" -L "$P/usr/share/qemu" "$@"
"""


def write_launcher(prefix: Path, launcher: Path, arch: str) -> None:
    triplet, loader = TRIPLETS[arch], LOADERS[arch]
    # The loader must be a plain file inside the prefix (dpkg ships it as a symlink into
    # usr/lib); copy it next to the binary so /proc/self/exe stays inside the prefix.
    src = prefix / "usr/lib" / triplet / loader
    if not src.exists():
        raise ProvisionError(f"{src}: the dynamic loader is missing from the unpacked libc6")
    shutil.copy2(src, prefix / "usr/bin" / loader)
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(LAUNCHER.format(version=QEMU_VERSION, prefix=prefix, triplet=triplet,
                                        loader=loader))
    launcher.chmod(0o755)


def check_version(launcher: Path) -> str:
    try:
        p = subprocess.run([str(launcher), "--version"], capture_output=True, text=True,
                           timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ProvisionError(f"{launcher} --version failed: {e}") from None
    first = (p.stdout.splitlines() or [""])[0]
    if p.returncode != 0 or QEMU_VERSION_TEXT not in first:
        raise ProvisionError(f"{launcher} --version printed {first!r} "
                             f"(exit {p.returncode}; stderr: {p.stderr.strip()[:200]})")
    return first


@dataclass(frozen=True)
class Install:
    """A provisioned QEMU: ``launcher`` is what tests run."""

    arch: str
    base: Path

    @property
    def prefix(self) -> Path:
        return self.base / "root"

    @property
    def launcher(self) -> Path:
        return self.base / "bin" / "qemu-system-aarch64"

    @property
    def manifest(self) -> Path:
        return self.base / "manifest.json"

    @property
    def debs_dir(self) -> Path:
        return self.base / "apt" / "cache" / "archives"

    def firmware(self, name: str = "QEMU_EFI.fd") -> Path:
        return self.prefix / "usr/share/qemu-efi-aarch64" / name

    def expected(self) -> tuple[str, list[str]]:
        """The version and (sorted) top-level packages a complete install records."""
        return QEMU_VERSION, sorted(packages_for(self.arch))

    def is_complete(self) -> bool:
        if not (self.manifest.exists() and self.launcher.exists()):
            return False
        try:
            m = json.loads(self.manifest.read_text())
        except ValueError:
            return False
        version, packages = self.expected()
        return bool(m.get("version") == version and m.get("packages") == packages)


def install_for(arch: str = "amd64", root: Path | None = None) -> Install:
    base = (root or cache_root()) / f"qemu-{QEMU_VERSION.split(':')[1]}-{arch}"
    return Install(arch, base)



def install_prefix(debs: list[Path], inst: Install, say: Callable[[str], None]) -> None:
    """Unpack ``debs`` into ``inst.prefix``, replacing it only once all are unpacked
    (through ``inst.base/root.new``): an interrupted install leaves no half prefix."""
    tmp = inst.base / "root.new"
    if tmp.exists():
        shutil.rmtree(tmp)
    say(f"unpacking {len(debs)} packages")
    unpack(debs, tmp)
    if inst.prefix.exists():
        shutil.rmtree(inst.prefix)
    tmp.rename(inst.prefix)

def provision(arch: str = "amd64", root: Path | None = None, force: bool = False,
              log: bool = True) -> Install:
    """Make sure QEMU 11.1.3 for ``arch`` is unpacked and launchable; return it."""
    inst = install_for(arch, root)

    def say(msg: str) -> None:
        if log:
            print(f"provision: {msg}", file=sys.stderr)

    if inst.is_complete() and not force:
        if arch == "amd64":
            check_version(inst.launcher)
        say(f"QEMU {QEMU_VERSION} ({arch}) already at {inst.launcher}")
        return inst
    apt = AptEnv(inst.base / "apt", arch)
    apt.setup()
    say(f"apt-get update ({arch}, private config in {apt.base})")
    apt.update()
    say("downloading qemu-system-arm and its closure")
    debs = apt.download(packages_for(arch))
    install_prefix(debs, inst, say)
    write_launcher(inst.prefix, inst.launcher, arch)
    version = check_version(inst.launcher) if arch == "amd64" else "(not runnable here)"
    inst.manifest.write_text(json.dumps({
        "version": QEMU_VERSION,
        "packages": sorted(packages_for(arch)),
        "debs": {d.name: sha256(d) for d in debs},
        "launcher": str(inst.launcher),
        "version_text": version,
    }, indent=2))
    say(f"{version} -> {inst.launcher}")
    return inst
