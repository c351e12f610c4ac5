"""§10: behaviour of the QEMU releases before the series (10.2 and 10.1 and older).

The catalogue's §10 fingerprint table says what a build *before* the accelerated
SMMUv3 looks like; Debian's real builds (7.2 in bookworm, 10.0.2 in bookworm-backports,
10.0.13 in trixie; ``python -m conformance provision --release``) showed the rest.
The profiles ``qemu-10.2``, ``qemu-10.1`` and ``qemu-7.2``
(:mod:`reference_model.profiles`) switch these rules on:

* **not user-creatable** (§10 row 1, ≤10.1): ``-device arm-smmuv3`` and QMP
  ``device_add`` fail in ``qdev_get_device_class`` (before any bus or property
  check) with ``Parameter 'driver' expects a pluggable device type``.  TCG✔ on 7.2.22,
  10.0.2 and 10.0.13.
* **IORT before 10.2** (§8 O1/O4, run on 10.0.13 and 7.2.22): header revision 3; an ITS
  group node and the root complex's ID mappings to it are emitted whatever the MSI
  controller (also with GICv2 and ``its=off``); the legacy ``iommu=smmuv3`` node's
  identifier is the node counter (1 after the ITS), not 0.  See docs/findings.md R1-R3.
* **7.2's RC ID mapping** for the SMMU's bus counts 0x100 IDs (the IORT "number of
  IDs" is the count *minus one*: later QEMU writes 0xff).  TCG✔ on 7.2.22.
"""

from __future__ import annotations

from . import register
from .pci_slots import PORT

NOT_USER_CREATABLE = register(
    "P4.not-user-creatable", "P4", "10.1",
    doc="QEMU <=10.1: arm-smmuv3 is not user-creatable (-device/device_add refused)")
IORT_ITS_ALWAYS = register(
    "O4.iort-its-always", "O4", "10.1",
    doc="QEMU <=10.1: the IORT has an ITS node and RC mappings to it even without an ITS")
IORT_LEGACY_COUNTER = register(
    "O4.iort-legacy-counter-id", "O4", "10.1",
    doc="QEMU <=10.1: the legacy SMMU node's identifier is the node counter")
IORT_SMMU_COUNT_256 = register(
    "O4.iort-rc-count-256", "O4", "7.2",
    doc="QEMU 7.2: the RC ID mapping to the SMMU counts 0x100 IDs (not count-1)")

# --------------------------------------------------------------------------- 7.2
STAGE1_ONLY = register(
    "2b.stage1-only-7.2", "2b", "7.2",
    doc="QEMU 7.2: the SMMU implements stage 1 only (no stage property, VMID16=0): "
        "the legacy SMMU reads IDR0=0x0d40101a, IDR3=0x1404")
PORT_ANY_SLOT = register(
    "F.pcie-port-any-slot-7.2", "F", "7.2",
    doc="QEMU 7.2: a PCIe port's bus takes devices in any slot, hot or cold, silently")

#: Bus.hotpluggable of a PCIe port's bus without the slot-0 rules (7.2): hot-pluggable,
#: but neither pci_slots.PORT (slot 0 only, warning) nor pci_slots.SHPC (slot 0 refused)
PORT_ANY = 3


def bus_kind(kind: int) -> int:
    """The secondary bus kind of a bridge under a profile without the slot-0 rules."""
    return PORT_ANY if kind == PORT else kind


def stage1_only(idr: dict[str, int], props: dict[str, object]) -> dict[str, int]:
    """7.2's smmuv3_init_regs: stage 1 only, no VMID16 (stage 2 came with QEMU 9.0)."""
    from . import idregs

    props.pop("stage", None)
    out = idregs.init_id_regs(None)
    idregs.put(out, "VMID16", 0)
    return out
