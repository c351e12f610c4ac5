"""The machine the engine builds while it replays QEMU's start-up: buses, PCI devices,
SMMUs, interrupt controller.  Plain mutable records with ``__slots__`` (cheap to
create: the model builds one machine per prediction).

Buses are named as QEMU names them: ``pcie.0`` for the host bridge's root bus, and a
bridge's or pxb's secondary bus takes the device's ``id``.
"""

from __future__ import annotations

from typing import Any


class Smmu:
    """One arm-smmuv3 (user-created, or the legacy ``iommu=smmuv3`` one, id ``legacy``)."""

    __slots__ = ("accel", "auto_finalised", "auto_mode", "base", "bus", "cold_vfio", "id",
                 "idr", "key", "msi_gpa", "per_bus", "placement", "plan", "props")

    def __init__(self, key: str, id: str | None, props: dict[str, Any]) -> None:
        self.key = key
        self.id = id
        self.props = props  # typed values by property name (after parsing)
        self.accel: bool = props.get("accel") is True  # parsed: a bool
        self.bus: Bus | None = None
        self.per_bus = False
        self.idr: dict[str, int] | None = None
        self.msi_gpa: int = props.get("msi-gpa") or 0  # parsed: an int
        self.base: int | None = None
        self.auto_mode = False
        self.auto_finalised = False
        self.cold_vfio = 0
        #: the DevicePrediction of a device in this SMMU's IOMMU address space (engine)
        self.placement: Any = None
        #: the option string's parsed properties, when they are all it has (engine)
        self.plan: Any = None


class Bus:
    __slots__ = ("bypass", "dev0", "hotpluggable", "is_root", "name", "next_fn0", "parent",
                 "port", "pxb", "root_bus", "shpc", "slots", "smmu")

    def __init__(self, name: str, parent: Bus | None, is_root: bool, hotpluggable: bool,
                 pxb: bool = False, bypass: bool = False) -> None:
        self.name = name
        self.parent = parent  # the bus the owning bridge/pxb sits on
        self.is_root = is_root
        self.hotpluggable = hotpluggable
        self.pxb = pxb
        self.bypass = bypass
        self.smmu: Smmu | None = None
        #: PCI slots (rules/pci_slots.py): while ``slots`` is None the devices on the
        #: bus hold devfns 0, 8, ... next_fn0 - 8; then ``slots`` maps devfn -> device
        self.next_fn0 = 0
        self.slots: dict[int, PciDev] | None = None
        self.dev0: PciDev | None = None  # the device at devfn 0
        #: the secondary bus of a PCIe root/downstream port (devices on it have an
        #: upstream port), of a standard hotplug controller (pci-bridge, pcie-pci-bridge)
        self.port = False
        self.shpc = False
        # the root bus above this one (fixed at creation: buses never move)
        self.root_bus: Bus = self if is_root or parent is None else parent.root_bus

    def root(self) -> Bus:
        return self.root_bus


class PciDev:
    __slots__ = ("bus", "cold", "devfn", "driver", "id", "iommufd", "key", "multifunction",
                 "name", "pending_unplug")

    def __init__(self, key: str, id: str | None, driver: str, bus: Bus, cold: bool,
                 devfn: int = 0) -> None:
        self.key = key
        self.devfn = devfn  # rules/pci_slots.py
        self.multifunction = False
        self.id = id
        self.driver = driver
        self.bus = bus
        self.cold = cold
        self.iommufd = False
        self.name = ""  # vfio: the host device name
        self.pending_unplug = False
