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

from . import register

__all__ = ["R_ACCEL", "R_DEFBUS", "R_GLOBAL", "R_MACHINE", "R_NIC", "R_OPT",
           "R_PXB_ONLY_BRIDGES", "R_QDEV", "R_UNPLUG", "R_VIRTIO"]

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
