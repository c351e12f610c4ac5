"""Images for the nested KVM tier: L1 kernels and initramfs built from Debian packages.

The nested tier runs the QEMU under test (arm64 build, ``-accel kvm``) inside an arm64 Linux
guest (L1) that itself runs under the x86 QEMU with TCG (L0).  This package builds what L1
boots, reproducibly and without running any arm64 code on the host:

``stock``
    Debian's trixie-backports arm64 kernel, unmodified, plus only the modules L1 needs.
    It has no ``CONFIG_IOMMUFD``, so it covers every scenario that does not need
    ``/dev/iommu`` (admission, hotplug rejection, address spaces, preconditions, IDRs).
``iommufd``
    Debian's ``linux-source-7.3`` cross-built with Debian's ``gcc-aarch64-linux-gnu`` from
    ``allnoconfig`` plus :file:`images/recipe/iommufd.config` (IOMMUFD, VFIO cdev,
    ARM_SMMU_V3_IOMMUFD, ACPI_TABLE_UPGRADE, KVM, virtio).  No source patch.  L1 boots it
    through UEFI/ACPI with an initrd ACPI table upgrade that re-supplies L0's own IORT with
    the root-complex CANWBS bit set (see :mod:`images.iort`), because Linux only allocates a
    vIOMMU when the SMMU has S2FWB or the IORT says CANWBS, and QEMU's emulated SMMU has
    neither.  Its initramfs also carries ``smmu-hwinfo`` (:mod:`images.hwinfo`), the
    harness's probe of L1's host SMMU through ``IOMMU_GET_HW_INFO``.

Both share one initramfs (:mod:`images.initramfs`): busybox-static, qemu-guest-agent and
QEMU 11.1.3 for arm64 with their shared-library closure, found by reading ELF ``DT_NEEDED``
entries in Python (:mod:`images.elf`).

Everything downloaded or produced is cached under
``artefacts.provision.cache_root() / "images"`` and listed with its sha256 in the
variant's ``manifest.json``; a rebuild with the same inputs does nothing.  Top-level Debian
packages are pinned in :mod:`images.packages`; a missing package or a version Debian no
longer serves is a one-line :class:`ImageError`.

Command line: ``python -m images build stock|iommufd``.  Where a built variant is
(the lookup the nested tier uses) is :mod:`artefacts.images`.
"""

from __future__ import annotations

from artefacts import ArtefactError


class ImageError(ArtefactError):
    """Building an image failed; ``str()`` is one line naming what and why."""


__all__ = ["ImageError"]
