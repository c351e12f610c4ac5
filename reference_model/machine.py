"""The machine the engine builds while it replays QEMU's start-up: buses, PCI devices,
SMMUs, interrupt controller, and :class:`MachineView`, the read-only view rules get of
it.  Plain mutable records with ``__slots__`` (cheap to
create: the model builds one machine per prediction).

Buses are named as QEMU names them: ``pcie.0`` for the host bridge's root bus, and a
bridge's or pxb's secondary bus takes the device's ``id``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .cmdline import ParsedCmdline
    from .qom import TypeHierarchy


class Smmu:
    """One arm-smmuv3 (user-created, or the legacy ``iommu=smmuv3`` one, id ``legacy``)."""

    __slots__ = ("accel", "auto_finalised", "auto_mode", "base", "bus_name", "cold_vfio", "id",
                 "idr", "key", "msi_gpa", "per_bus", "placement", "plan", "props")

    def __init__(self, key: str, id: str | None, props: dict[str, Any]) -> None:
        self.key = key
        self.id = id
        self.props = props  # typed values by property name (after parsing)
        self.accel: bool = props.get("accel") is True  # parsed: a bool
        #: the name of its primary bus (a name, not the Bus: Bus.smmu points here, and
        #: the pair would be a reference cycle)
        self.bus_name: str | None = None
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
    __slots__ = ("bypass", "hotpluggable", "is_root", "name", "parent", "pxb", "root_bus",
                 "slotmap", "slots", "smmu")

    def __init__(self, name: str, parent: Bus | None, is_root: bool, hotpluggable: int,
                 pxb: bool = False, bypass: bool = False) -> None:
        self.name = name
        self.parent = parent  # the bus the owning bridge/pxb sits on
        self.is_root = is_root
        #: 0: no hot plug; else how (a bridge's secondary bus): pci_slots.PORT (a PCIe
        #: root/downstream port), pci_slots.SHPC (pci-bridge, pcie-pci-bridge)
        self.hotpluggable = hotpluggable
        self.pxb = pxb
        self.bypass = bypass
        self.smmu: Smmu | None = None
        #: PCI slots (rules/pci_slots.py): N while the devices on the bus hold devfns 0,
        #: 8, ... N - 8 (N: the next function-0 slot); None once that no longer holds
        #: (bus full, addr=, an unplug out of order), and then ``slotmap`` (set only
        #: then) maps devfn -> (type, id, multifunction) of the device there (not the
        #: device: no reference cycle bus -> device -> bus, which would leave every
        #: machine to the gc)
        self.slots: int | None = 0
        self.slotmap: dict[int, tuple[str, str | None, bool]]
        # the root bus above this one, None on a root bus itself (fixed at creation:
        # buses never move; not ``self``: a self-reference would be a reference cycle,
        # leaving every machine to the cyclic gc instead of reference counting)
        self.root_bus: Bus | None = (None if is_root or parent is None
                                     else parent.root_bus or parent)


class PciDev:
    __slots__ = ("bus", "cold", "devfn", "driver", "id", "iommufd", "key", "multifunction",
                 "name", "pending_unplug")

    #: set only when the property is given (read through pci_slots.occupant)
    multifunction: bool

    def __init__(self, key: str, id: str | None, driver: str, bus: Bus, cold: bool,
                 devfn: int) -> None:
        self.key = key
        self.devfn = devfn  # rules/pci_slots.py
        self.id = id
        self.driver = driver
        self.bus = bus
        self.cold = cold
        self.iommufd = False
        self.name = ""  # vfio: the host device name
        self.pending_unplug = False


class MachineView(Protocol):
    """A read-only view of a started machine, for the rules that read it whole
    (:mod:`.rules.trace`); the engine's run is one.  Rules read it, never change it."""

    @property
    def types(self) -> TypeHierarchy: ...
    @property
    def cl(self) -> ParsedCmdline: ...
    @property
    def buses(self) -> Mapping[str, Bus]: ...
    @property
    def devs(self) -> Mapping[str, PciDev]: ...
    @property
    def smmus(self) -> Sequence[Smmu]: ...
    @property
    def virtio_iommu(self) -> bool: ...
    @property
    def hot_added(self) -> Sequence[PciDev] | None: ...
    @property
    def unplugged(self) -> Sequence[PciDev] | None: ...
