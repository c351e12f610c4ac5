"""§F generic QEMU behaviour around the SMMU: the option loop, ``-M``, the accelerator,
qdev's device creation (driver, bus, ``-global``, properties), the default PCI bus, and
QMP hot plug/unplug.

These rules are table entries (the engine's phase modules decide and fire them): the
texts are QEMU's generic ones (:mod:`..messages`, ``Q.*`` ids).  Rules of a catalogue
row outside §F sit with their section: ``P5.hotplug`` in :mod:`.preconditions`,
``2a.identifier-index`` in :mod:`.properties`, ``2b.legacy-nested`` in :mod:`.idregs`,
``O11.vfio-no-map-notifier`` in :mod:`.address_space`, ``7b.cmdqv-host-probe`` in
:mod:`.host_compat`.
"""

from __future__ import annotations

from . import Decision, register

__all__ = ["BALLOON", "R_ACCEL", "R_BALLOON", "R_DEFBUS", "R_GLOBAL", "R_MACHINE", "R_NIC",
           "R_OPT", "R_PXB_ONLY_BRIDGES", "R_QDEV", "R_UNPLUG", "R_UNPLUG_UNEXPOSED",
           "R_VIOMMU_ROOT", "R_VIRTIO", "one_balloon", "virtio_iommu_bus"]

R_OPT = register("F.option", "F", "11.1", doc="option loop / QemuOpts syntax errors")
R_MACHINE = register("F.machine", "F", "11.1", doc="machine type and machine properties")
R_ACCEL = register("F.accel", "F", "11.1", doc="accelerator selection")
R_QDEV = register("F.qdev", "F", "11.1", doc="generic qdev errors (driver, bus, property)")
R_GLOBAL = register("F.global", "F", "11.1", doc="-global applied at object creation")
R_NIC = register("F.nic-no-peer", "F", "11.1", doc="NIC without netdev warns at start")
R_UNPLUG = register("F.unplug", "F", "11.1",
                    doc="device_del: hot-added under -S goes at once, cold stays pending")
R_VIRTIO = register("F.virtio-iommu", "F", "11.1",
                    doc="a virtio-iommu-pci besides the SMMU: address spaces not modelled")
R_DEFBUS = register("F.default-bus", "F", "11.1",
                    doc="no bus=: the newest PCI root bus (qbus_find_recursive, newest first)")
R_PXB_ONLY_BRIDGES = register("F.pxb-only-bridges", "F", "11.1",
                              doc="non-bridge device on a pxb root bus fails at realize")
R_UNPLUG_UNEXPOSED = register("F.unplug-unexposed-function", "F", "11.1",
                              doc="device_del of devfn != 0 with devfn 0 empty: at once")
R_BALLOON = register("F.one-balloon", "F", "11.1",
                     doc="virtio-balloon realize: only one balloon device (TCG✔, fuzzer)")
R_VIOMMU_ROOT = register("F.virtio-iommu-root-bus", "F", "11.1",
                         doc="virtio-iommu-pci realize refuses a bus that is not a root bus")

#: the balloon devices' abstract base (virtio_balloon_device_realize: one per machine)
BALLOON = "virtio-balloon-pci-base"

_ONE_BALLOON: Decision = (R_BALLOON.id, "Q.one-balloon", {})
_VIOMMU_ROOT: Decision = (R_VIOMMU_ROOT.id, "Q.virtio-iommu-root", {})


def one_balloon(is_balloon: bool, have_balloon: bool) -> Decision | None:
    """virtio-balloon realize (``qemu_add_balloon_handler``): a second balloon device
    (a :data:`BALLOON` subtype) is refused (TCG✔, found by the fuzzer)."""
    return _ONE_BALLOON if is_balloon and have_balloon else None


def virtio_iommu_bus(is_virtio_iommu: bool, on_root_bus: bool) -> Decision | None:
    """virtio_iommu_pci_realize: the device must sit on a root bus (TCG✔, fuzzer)."""
    return _VIOMMU_ROOT if is_virtio_iommu and not on_root_bus else None
