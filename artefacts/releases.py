"""Every Debian build of QEMU's aarch64 system emulator, side by side in private prefixes.

The suite's default build is QEMU 11.1.3 from trixie-backports (:mod:`artefacts.provision`).
Users also have their distribution's other builds: the release they must support, the
one before an upgrade.  Debian carries these (``qemu-system-arm``, all reachable through
apt from deb.debian.org with a private configuration; checked 2026-11-30):

==============  ==========================================  =====================
release         Debian package version (suite)              model profile
==============  ==========================================  =====================
``7.2``         1:7.2+dfsg-7+deb12u18+b3 (bookworm)          ``qemu-7.2``
``10.0.2``      1:10.0.2+ds-2+deb13u1~bpo12+1                ``qemu-10.1``
                (bookworm-backports)
``10.0.13``     1:10.0.13+ds-0+deb13u1 (trixie)             ``qemu-10.1``
``11.1.3``      1:11.1.3+ds-1~bpo13+1 (trixie-backports)     ``qemu-11.1``
``11.1.3-sid``  1:11.1.3+ds-1 (sid)                          ``qemu-11.1``
==============  ==========================================  =====================

Each release is installed the way :mod:`artefacts.provision` installs 11.1.3: a private
apt configuration that sees only that release's suites (pinned by codename), the
package's complete library closure downloaded against an empty dpkg status, every
``.deb`` checked against the SHA256 of apt's (signed) package index, unpacked with
``dpkg-deb -x`` into ``<cache>/qemu-<debian version>-amd64/root``, and a launcher that
runs the binary through the prefix's *own* dynamic loader with the prefix's libraries
and modules.  So 7.2 runs with bookworm's libc, 10.0.13 with trixie's and the sid build
with sid's, next to each other, without touching the system.  The 11.1.3 release *is*
:func:`artefacts.provision.provision` (same prefix, same manifest).

Adding a release is adding a row to :data:`RELEASES` (the Debian version, its suites,
the package set that carries its modules, the profile the model judges it by), then
``python -m conformance provision --release NAME``.

Every prefix is cached: a second ``provision --release`` reads the manifest, runs
``--version`` and returns.  Nothing is downloaded at test time: tests take the
launchers of releases that are already provisioned (:func:`provisioned`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from artefacts import provision as base_provision
from artefacts.provision import (
    LOADERS,
    TRIPLETS,
    AptEnv,
    Install,
    ProvisionError,
    cache_root,
    install_prefix,
    sha256,
)

DEFAULT = "11.1.3"


@dataclass(frozen=True)
class Release:
    """One Debian build of ``qemu-system-arm`` and how to install it.

    ``suites`` are the apt suites the private configuration sees; ``pin`` the codename
    given priority 990 (a backports suite); ``packages`` the top-level packages (besides
    ``qemu-system-arm``) whose versions follow the pin: the data files, NIC ROMs and
    every package that ships QEMU *modules* (see :mod:`artefacts.provision` for why a
    complete module set matters on a host with another QEMU installed).
    """

    name: str
    version: str  # Debian version of qemu-system-arm, with epoch
    suites: tuple[str, ...]
    pin: str
    packages: tuple[str, ...]
    profile: str  # the model profile (reference_model.PROFILES) for this release
    note: str = ""

    @property
    def upstream(self) -> str:
        """``7.2``, ``10.0.13``: what ``--version`` starts with."""
        return self.name.split("-")[0]

    @property
    def dirname(self) -> str:
        return f"qemu-{self.version.split(':', 1)[-1]}-amd64"


_MODS_NEW = ("qemu-system-modules-opengl", "qemu-system-modules-spice")
_COMMON = ("qemu-system-common", "qemu-system-data", "ipxe-qemu", "qemu-system-gui",
           "qemu-block-extra")

#: every release this suite provisions, oldest first (the bisection test relies on it)
RELEASES: dict[str, Release] = {r.name: r for r in (
    Release("7.2", "1:7.2+dfsg-7+deb12u18+b3", ("bookworm",), "bookworm", _COMMON,
            "qemu-7.2", "Debian 12's own QEMU (also /usr/bin/qemu-system-aarch64)"),
    Release("10.0.2", "1:10.0.2+ds-2+deb13u1~bpo12+1", ("bookworm", "bookworm-backports"),
            "bookworm-backports", _COMMON + _MODS_NEW, "qemu-10.1"),
    Release("10.0.13", "1:10.0.13+ds-0+deb13u1", ("trixie",), "trixie",
            _COMMON + _MODS_NEW, "qemu-10.1", "Debian 13's QEMU"),
    Release("11.1.3", base_provision.QEMU_VERSION, base_provision.SUITES, "trixie-backports",
            tuple(n for n in base_provision.packages_for("amd64") if n != "qemu-system-arm"),
            "qemu-11.1", "the suite's default build (python -m conformance provision)"),
    Release("11.1.3-sid", "1:11.1.3+ds-1", ("sid",), "sid", _COMMON + _MODS_NEW,
            "qemu-11.1", "a second Debian build of 11.1.3 (unstable's libraries)"),
)}


class UnknownRelease(ProvisionError):
    """A release name not in :data:`RELEASES` (one line, lists the known ones)."""


def get(name: str) -> Release:
    try:
        return RELEASES[name]
    except KeyError:
        raise UnknownRelease(f"unknown release '{name}' (known: {', '.join(RELEASES)})"
                             ) from None


# --------------------------------------------------------------------------- install
@dataclass(frozen=True)
class ReleaseInstall(Install):
    """Where a release lives (``launcher``, ``prefix``, ``manifest`` as for 11.1.3)."""

    release: Release = field(default_factory=lambda: RELEASES[DEFAULT])

    def expected(self) -> tuple[str, list[str]]:
        return self.release.version, sorted(_top_level(self.release))


def _top_level(r: Release) -> list[str]:
    return ["qemu-system-arm", *r.packages]


def install_for(name: str, root: Path | None = None) -> ReleaseInstall:
    r = get(name)
    return ReleaseInstall("amd64", (root or cache_root()) / r.dirname, r)


@dataclass(frozen=True)
class _ReleaseApt(AptEnv):
    """:class:`~artefacts.provision.AptEnv` that can also read the index's SHA256."""

    def index_sha256(self, debs: list[Path]) -> dict[str, str]:
        """``name=version`` -> SHA256 from the apt index (``apt-cache show``)."""
        specs = sorted({_deb_spec(d) for d in debs})
        out = subprocess.run(["apt-cache", *self.options, "show", *specs],
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise ProvisionError(f"apt-cache show failed: {out.stderr.strip()[:200]}")
        sums: dict[str, str] = {}
        for stanza in out.stdout.split("\n\n"):
            fields = dict(re.findall(r"^([\w-]+): (.*)$", stanza, re.M))
            if {"Package", "Version", "SHA256"} <= fields.keys():
                sums[f"{fields['Package']}={fields['Version']}"] = fields["SHA256"]
        return sums


def _deb_spec(deb: Path) -> str:
    """``name_version_arch.deb`` -> ``name=version`` (``%3a`` is the epoch colon)."""
    name, version, _ = deb.name[:-4].split("_")
    return f"{name}={version.replace('%3a', ':')}"


def verify(debs: list[Path], sums: dict[str, str]) -> dict[str, str]:
    """Check every ``.deb`` against the index; returns name -> sha256 (the manifest)."""
    out = {}
    for d in debs:
        got = sha256(d)
        want = sums.get(_deb_spec(d))
        if want is None:
            raise ProvisionError(f"{d.name}: not in the apt index of this release")
        if got != want:
            d.unlink()  # a corrupt download must not be reused
            raise ProvisionError(f"{d.name}: sha256 {got} does not match the index ({want}); "
                                 "removed, run provision again")
        out[d.name] = got
    return out


LAUNCHER = """#!/bin/sh
# Generated by `python -m conformance provision --release {name}`: QEMU {version} from
# Debian {suites}, run through that release's own dynamic loader (no system change).
P='{prefix}'
QEMU_MODULE_DIR="$P/usr/lib/{triplet}/qemu"
export QEMU_MODULE_DIR
exec "$P/usr/bin/{loader}" --library-path "$P/usr/lib/{triplet}:$P/lib/{triplet}" \\
  "$P/usr/bin/qemu-system-aarch64" {data_dirs} "$@"
"""
#: data directories inside a prefix, searched in this order (-L): bookworm's ipxe-qemu
#: keeps the NIC option ROMs in /usr/lib/ipxe/qemu, which older QEMU found through its
#: compiled-in firmware path (on the *host*: absent or another build's)
DATA_DIRS = ("usr/share/qemu", "usr/lib/ipxe/qemu", "usr/share/seabios")


def _write_launcher(inst: ReleaseInstall) -> None:
    triplet, loader = TRIPLETS["amd64"], LOADERS["amd64"]
    # bookworm's libc6 ships the loader in /lib, trixie's and later in /usr/lib
    for d in (inst.prefix / "usr/lib" / triplet, inst.prefix / "lib" / triplet):
        if (d / loader).exists():
            shutil.copy2(d / loader, inst.prefix / "usr/bin" / loader)
            break
    else:
        raise ProvisionError(f"{inst.prefix}: the dynamic loader {loader} is missing from "
                             "the unpacked libc6")
    inst.launcher.parent.mkdir(parents=True, exist_ok=True)
    dirs = " ".join(f'-L "$P/{d}"' for d in DATA_DIRS if (inst.prefix / d).is_dir())
    text = LAUNCHER.format(
        name=inst.release.name, version=inst.release.version,
        suites=" + ".join(inst.release.suites), prefix=inst.prefix, triplet=triplet,
        loader=loader, data_dirs=dirs)
    if not inst.launcher.exists() or inst.launcher.read_text() != text:
        inst.launcher.write_text(text)
    inst.launcher.chmod(0o755)


def _relink(prefix: Path) -> int:
    """Point the prefix's absolute symlinks into the prefix (relative links), so that no
    file of the closure resolves to the host's copy; returns how many were changed."""
    n = 0
    for link in prefix.rglob("*"):
        if not link.is_symlink():
            continue
        target = str(link.readlink())
        if not target.startswith("/"):
            continue
        inside = prefix / target.lstrip("/")
        if inside.exists() or inside.is_symlink():
            link.unlink()
            link.symlink_to(os.path.relpath(inside, link.parent))
            n += 1
    return n


def check_version(inst: ReleaseInstall) -> str:
    try:
        p = subprocess.run([str(inst.launcher), "--version"], capture_output=True, text=True,
                           timeout=60, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ProvisionError(f"{inst.launcher} --version failed: {e}") from None
    first = (p.stdout.splitlines() or [""])[0]
    want = f"QEMU emulator version {inst.release.upstream}"
    if p.returncode != 0 or not first.startswith(want):
        raise ProvisionError(f"{inst.launcher} --version printed {first!r}, expected "
                             f"{want!r} (exit {p.returncode}; stderr: {p.stderr.strip()[:200]})")
    return first


def provision_release(name: str, root: Path | None = None, force: bool = False,
                      log: bool = True) -> ReleaseInstall:
    """Make sure release ``name`` is unpacked and launchable; return where it is."""
    r = get(name)
    if name == DEFAULT:  # the suite's own build: exactly artefacts.provision
        b = base_provision.provision("amd64", root=root, force=force, log=log)
        return ReleaseInstall("amd64", b.base, r)
    inst = install_for(name, root)

    def say(msg: str) -> None:
        if log:
            print(f"provision: {msg}", file=sys.stderr)

    if inst.is_complete() and not force:
        _write_launcher(inst)  # a no-op unless this module's launcher changed
        check_version(inst)
        say(f"QEMU {r.version} ({r.name}) already at {inst.launcher}")
        return inst
    apt = _ReleaseApt(inst.base / "apt", "amd64", r.suites, r.pin)
    apt.setup()
    say(f"apt-get update ({', '.join(r.suites)}; private config in {apt.base})")
    apt.update()
    say(f"downloading qemu-system-arm={r.version} and its closure")
    top = {"qemu-system-arm": r.version, **dict.fromkeys(r.packages)}
    debs = apt.download(top)
    say(f"checking {len(debs)} packages against the index")
    sums = verify(debs, apt.index_sha256(debs))
    install_prefix(debs, inst, say)
    _relink(inst.prefix)
    _write_launcher(inst)
    version = check_version(inst)
    inst.manifest.write_text(json.dumps({
        "release": r.name, "version": r.version, "suites": list(r.suites),
        "packages": sorted(_top_level(r)), "debs": sums, "launcher": str(inst.launcher),
        "version_text": version}, indent=2))
    say(f"{version} -> {inst.launcher}")
    return inst


def provisioned(root: Path | None = None) -> dict[str, Path]:
    """Release name -> launcher, for the releases already installed (no download)."""
    out: dict[str, Path] = {}
    for name in RELEASES:
        if name == DEFAULT:
            b = base_provision.install_for("amd64", root)
            if b.is_complete():
                out[name] = b.launcher
        else:
            inst = install_for(name, root)
            if inst.is_complete():
                out[name] = inst.launcher
    return out


def main(names: list[str], force: bool = False, print_path: bool = False) -> int:
    """``provision --release NAME [--release NAME...]`` (``all`` = every release)."""
    if "all" in names:
        names = list(RELEASES)
    try:
        for n in names:
            get(n)
    except UnknownRelease as e:
        print(f"python -m conformance provision: error: {e}", file=sys.stderr)
        return 2
    for n in names:
        try:
            inst = provision_release(n, force=force, log=not print_path)
        except ProvisionError as e:
            print(f"provision: error: {n}: {e}", file=sys.stderr)
            return 1
        print(inst.launcher)
    return 0
