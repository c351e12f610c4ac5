"""Build one image variant (``stock`` or ``iommufd``) and write its manifest.

A variant is a folder ``images_root()/<variant>/`` holding:

``Image``
    the arm64 kernel (stock: Debian's ``vmlinuz``, gunzipped; iommufd: the cross-build
    from :mod:`images.kernel`);
``initrd``
    what L0 passes with ``-initrd``: for iommufd the uncompressed IORT override cpio
    (:mod:`images.iort`) followed by the gzip initramfs; for stock the gzip initramfs;
``manifest.json``
    the inputs (every ``.deb`` with Debian's sha256, recipe file hashes, kernel build key,
    the L0 QEMU used for the IORT) and the sha256 of every artefact.

The manifest's ``inputs_sha256`` hashes everything that decides the output, so a second
``build`` with unchanged inputs returns immediately ("cached"), and a changed pin, recipe
or L0 configuration rebuilds.  Artefacts are written to ``<variant>.new`` and renamed,
so an interrupted build never leaves a half-written variant that looks complete.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import time
from pathlib import Path
from typing import Any

from artefacts.images import VARIANTS, BuiltImage, find, image_dir, images_root
from artefacts.provision import ProvisionError, install_for, provision
from conformance.tiers.nested.machine import machine_args

from . import ImageError, cpio, hwinfo, initramfs, iort, kernel
from .packages import (
    KERNEL_ABI,
    KERNEL_VERSION,
    STOCK_KERNEL,
    USERLAND,
    Deb,
    fetch,
    resolve,
    sha256_file,
    unpack,
)

#: bump when the assembly logic changes in a way the inputs do not show
FORMAT = 1
STOCK_RELEASE = f"{KERNEL_ABI}-arm64"
RECIPE_FILES = ("inittab", "rcS", "qga.sh")


def _unpacked(label: str, debs: list[Deb], paths: dict[str, Path]) -> Path:
    """Unpack ``debs`` once into a folder named by their hashes."""
    h = hashlib.sha256("".join(sorted(d.sha256 for d in debs)).encode()).hexdigest()[:16]
    root = images_root() / "roots" / f"{label}-{h}"
    if (root / ".complete").exists():
        return root
    tmp = root.with_name(root.name + ".new")
    if tmp.exists():
        shutil.rmtree(tmp)
    unpack([paths[d.filename] for d in debs], tmp)
    (tmp / ".complete").write_text("\n".join(d.filename for d in debs) + "\n")
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
    return root


def _debs_json(debs: list[Deb]) -> dict[str, str]:
    return {d.filename: d.sha256 for d in debs}


def build(variant: str, jobs: int | None = None, log: bool = True,
          force: bool = False) -> BuiltImage:
    """Build ``variant`` (or find it in the cache) and return it."""

    def say(msg: str) -> None:
        if log:
            print(f"images: {variant}: {msg}", flush=True)

    if variant not in VARIANTS:
        raise ImageError(f"unknown image variant '{variant}' (choose from "
                         f"{', '.join(VARIANTS)})")
    t0 = time.monotonic()
    # --- inputs -------------------------------------------------------------------
    try:
        qemu_arm64 = provision("arm64", log=log)
        l0 = provision("amd64", log=log)
    except ProvisionError as e:
        raise ImageError(str(e)) from None
    userland = resolve(USERLAND, closure=True)
    kdebs = resolve(STOCK_KERNEL, closure=False) if variant == "stock" else []
    recipe = {f: sha256_file(initramfs.RECIPE / f) for f in RECIPE_FILES}
    qemu_manifest = json.loads(qemu_arm64.manifest.read_text())
    inputs: dict[str, Any] = {
        "format": FORMAT,
        "variant": variant,
        "userland_debs": _debs_json(userland),
        "qemu_arm64_debs": qemu_manifest.get("debs", {}),
        "recipe": recipe,
        "stock_modules": list(initramfs.STOCK_MODULES) if variant == "stock" else [],
        "kernel_debs": _debs_json(kdebs),
    }
    kbuild = None
    if variant == "iommufd":
        kbuild = kernel.build(jobs=jobs, log=log)
        inputs["kernel_build_key"] = kbuild.key
        helper = hwinfo.build(log=log)  # the host-SMMU probe (initramfs only, not the kernel)
        inputs["smmu_hwinfo_key"] = helper.key
        # the IORT depends on L0's machine and devices (and firmware's bus numbering)
        inputs["l0_machine"] = " ".join(machine_args("QEMU_EFI.fd"))
        inputs["l0_qemu_version"] = json.loads(l0.manifest.read_text()).get("version")
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    out = BuiltImage(variant, image_dir(variant))
    if out.is_complete() and not force:
        try:
            if out.manifest().get("inputs_sha256") == key:
                say(f"cached ({out.dir}, inputs {key[:12]})")
                return out
        except ValueError:
            pass
    # --- assemble -----------------------------------------------------------------
    say(f"fetching {len(userland) + len(kdebs)} Debian packages")
    paths = fetch([*userland, *kdebs])
    user_root = _unpacked("userland", userland, paths)
    modules: list[tuple[str, bytes]] = []
    tmp = out.dir.with_name(out.dir.name + ".new")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    if variant == "stock":
        kroot = _unpacked("kernel-stock", kdebs, paths)
        vmlinuz = kroot / "usr/lib/modules" / STOCK_RELEASE / "vmlinuz"
        if not vmlinuz.exists():
            raise ImageError(f"{vmlinuz}: not in linux-binary-{STOCK_RELEASE}")
        raw = vmlinuz.read_bytes()
        (tmp / "Image").write_bytes(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        modules = initramfs.module_files(kroot, STOCK_RELEASE, initramfs.STOCK_MODULES)
        say(f"{len(modules)} kernel modules: "
            f"{', '.join(Path(p).stem for p, _ in modules)}")
    else:
        assert kbuild is not None
        shutil.copy2(kbuild.image, tmp / "Image")
    say("assembling the initramfs")
    extra = [(hwinfo.L1_PATH, helper.path.read_bytes())] if variant == "iommufd" else []
    archive = initramfs.build(qemu_arm64.prefix, user_root, modules, extra)
    initrd = b""
    artefacts_extra: dict[str, str] = {}
    if variant == "iommufd":
        plain = tmp / "initrd.plain"
        plain.write_bytes(cpio.gzip_bytes(archive))
        say("booting L1 once without the override to read L0's IORT")
        iort_table = iort.read_live_iort(l0.launcher, l0.firmware(), tmp / "Image", plain)
        plain.unlink()
        rc = iort.root_complexes(iort_table)
        say(f"L0's IORT: {len(iort_table)} bytes, root complex memory access flags "
            f"{', '.join(hex(r.mem_access_flags) for r in rc)}; setting CANWBS")
        artefacts_extra["IORT.l0.aml"] = hashlib.sha256(iort_table).hexdigest()
        (tmp / "IORT.l0.aml").write_bytes(iort_table)
        patched = iort.with_canwbs(iort_table)
        (tmp / "IORT.aml").write_bytes(patched)
        initrd += iort.override_cpio(patched)
        artefacts_extra["IORT.aml"] = hashlib.sha256(patched).hexdigest()
        artefacts_extra["smmu-hwinfo"] = helper.sha256
    initrd += cpio.gzip_bytes(archive)
    (tmp / "initrd").write_bytes(initrd)
    manifest = {
        "variant": variant,
        "inputs_sha256": key,
        "inputs": inputs,
        "kernel": {
            "source": (f"linux-binary-{STOCK_RELEASE} {KERNEL_VERSION}" if variant == "stock"
                       else f"linux-source-7.3 {KERNEL_VERSION}, cross-built"),
            "release": STOCK_RELEASE if variant == "stock" else "7.3.4 (iommufd)",
            "config_sha256": sha256_file(kbuild.config) if kbuild else None,
        },
        "artefacts": {
            "Image": sha256_file(tmp / "Image"),
            "initrd": sha256_file(tmp / "initrd"),
            **artefacts_extra,
        },
        "initramfs_bytes_uncompressed": len(archive),
        "capabilities": list(BuiltImage(variant, tmp).capabilities),
        "build_seconds": round(time.monotonic() - t0, 1),
        "qemu_x86": str(install_for("amd64").launcher),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if out.dir.exists():
        shutil.rmtree(out.dir)
    tmp.rename(out.dir)
    say(f"built {out.dir} in {manifest['build_seconds']} s "
        f"(initrd {len(initrd) / 1e6:.1f} MB)")
    return out


__all__ = ["VARIANTS", "BuiltImage", "build", "find", "image_dir"]
