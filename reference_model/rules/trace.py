"""§0 "Traces", O7 and AS1: the trace events QEMU writes (``-trace EVENT -D FILE``).

Computed only when a scenario observes ``trace`` (the engine calls :func:`build` after
the rest of the prediction), so predictions that do not need it stay fast.

What the rules encode (TCG✔ on 11.1.3, ``docs/findings.md`` S11-S12):

* O7: ``smmu_reset_exit`` (no argument: the line does not name the SMMU) is traced
  once per SMMU on every system reset: once at machine start (``qemu_system_reset``
  after machine-init-done, also under ``-S``) and once per QMP ``system_reset``.
  The legacy ``iommu=smmuv3`` SMMU counts like a user-created one.
* AS1: ``smmu_add_mr smmuv3-iommu-memory-region-<devfn>-<n>`` is traced when
  ``smmu_find_add_as`` (``hw/arm/smmu-common.c``) creates an SMMUDevice: once per
  (SMMU, PCI bus, devfn) for the life of the process (a device hot-added again at a
  devfn whose SMMUDevice exists traces nothing); ``<n>`` is one static counter shared
  by every SMMU instance.
* AS1 call order: cold-plugged devices get their address space at machine-init-done
  (``pcibus_machine_done``, one notifier per PCI bus, registered at bus realize, and
  the notifier list runs newest first), each bus's devices in devfn order 0..255; a
  hot-plugged device at realize (``do_pci_register_device`` once the machine is
  ready).
* devfn: the engine's (:mod:`.pci_slots`, ``PciDev.devfn``), read here, not replayed.

Where the model makes no claim (``add_mr`` is ``None``, rule ``AS1.add-mr-no-claim``
says why): an accel SMMU (its address spaces come from ``smmuv3_accel_find_add_as``),
a virtio-iommu-pci, no ``-nodefaults`` (board default devices), a device behind a
conventional PCI bridge (``pci_device_get_iommu_bus_devfn`` aliases the requester
id), a vfio device (it asks for its address space at realize), a hot-plugged bridge,
and any ``device_add`` after one whose failure point the
model does not know (QEMU may have created an SMMUDevice before failing).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..machine import Bus, MachineView, PciDev, Smmu
from ..prediction import EventResult, TracePrediction
from . import register
from .address_space import iommu_for

if TYPE_CHECKING:
    from ..qom import TypeHierarchy
    from ..scenario import Event

RESET_START = register("O7.reset-exit-start", "O7", "11.1",
                       doc="one smmu_reset_exit per SMMU at machine start")
RESET_EVENT = register("O7.reset-exit-system-reset", "O7", "11.1",
                       doc="QMP system_reset: one smmu_reset_exit per SMMU")
ADD_MR_COLD = register("AS1.add-mr-machine-done", "AS1", "10.2",
                       doc="cold devices: smmu_add_mr at machine-init-done, newest bus "
                           "first, devfn order; one counter for all SMMUs")
ADD_MR_HOT = register("AS1.add-mr-hotplug", "AS1", "10.2",
                      doc="device_add: smmu_add_mr at realize, unless that (SMMU, bus, "
                          "devfn) already has an SMMUDevice")
ADD_MR_NO_CLAIM = register("AS1.add-mr-no-claim", "AS1", "11.1",
                           doc="smmu_add_mr names not predicted (detail: why)")

_RESET_START = (RESET_START.id, "")
_ADD_MR_COLD = (ADD_MR_COLD.id, "")
_ADD_MR_HOT = (ADD_MR_HOT.id, "")

MR_PREFIX = "smmuv3-iommu-memory-region"
#: QOM types whose secondary bus is PCI Express (no requester-id aliasing below them)
_EXPRESS_BRIDGES = ("pcie-port", "pxb-pcie")
_BRIDGES = ("base-pci-bridge", "pxb-pcie")
_VFIO = ("vfio-pci", "vfio-pci-device")
#: device_add failures decided before realize (no SMMUDevice can have been created):
#: the rows EventResult.rule carries for them
_PRE_REALIZE_ROWS = frozenset({"P5"})


def mr_name(devfn: int, n: int) -> str:
    """The IOMMU memory region name ``smmu_find_add_as`` gives an SMMUDevice."""
    return f"{MR_PREFIX}-{devfn}-{n}"


class _NoClaim(Exception):
    """The devfn or the call order is open here: ``args[0]`` says why."""


def _isa(types: TypeHierarchy, driver: str, bases: Sequence[str]) -> bool:
    anc = types.ancestors(driver)
    return any(b in anc for b in bases)


@dataclass
class _Replay:
    """The SMMUDevices QEMU creates, in order (devfns: the engine's)."""

    run: MachineView
    express: dict[str, bool] = field(default_factory=dict)  # bus name -> PCIe bus
    created: set[tuple[int, str, int]] = field(default_factory=set)  # (SMMU, bus, devfn)
    hot: list[PciDev] = field(default_factory=list)  # device_add's devices, in order
    n: int = 0

    def add_mr(self, bus: Bus, devfn: int) -> list[str]:
        """``pci_device_iommu_address_space`` for the device at ``bus``/``devfn``."""
        smmu: Smmu | None = iommu_for(bus)[0]
        if smmu is None:
            return []
        k = (id(smmu), bus.name, devfn)
        if k in self.created:
            return []
        self.created.add(k)
        self.n += 1
        return [mr_name(devfn, self.n - 1)]

    def cold(self) -> list[str]:
        """Machine start: machine-init-done's calls for the cold devices."""
        run = self.run
        types = run.types
        devs = [d for d in run.devs.values() if d.cold] + list(run.unplugged or ())
        opts = [o for o in run.cl.devices if types.is_a(o.driver, "pci-device")]
        bridges = [o for o in opts if _isa(types, o.driver, _BRIDGES)]
        names = list(run.buses)
        if len(names) != len(bridges) + 1:
            raise _NoClaim("a hot-plugged bridge")
        self.express = {names[0]: True}
        for name, o in zip(names[1:], bridges, strict=True):
            self.express[name] = _isa(types, o.driver, _EXPRESS_BRIDGES)
        by_bus: dict[str, list[int]] = {name: [] for name in names}
        for d in devs:
            self._check(d)
            by_bus[d.bus.name].append(d.devfn)
        self.hot = list(run.hot_added or ())
        out: list[str] = []
        for name in reversed(names):  # machine-init-done notifiers: newest bus first
            bus = run.buses[name]
            for devfn in sorted(by_bus[name]):
                out += self.add_mr(bus, devfn)
        return out

    def _check(self, d: PciDev) -> None:
        if d.driver == "gpex-root":
            return
        if not self.express[d.bus.name]:
            raise _NoClaim(f"{d.key} behind a conventional PCI bridge (requester-id alias)")
        if _isa(self.run.types, d.driver, _VFIO):
            raise _NoClaim(f"{d.key} is a vfio device (address space at realize)")

    def event(self, ev: Event, res: EventResult) -> list[str]:
        """The SMMUDevices one QMP event creates."""
        if ev.op != "device_add":
            return []
        if not res.ok:
            if res.rule in _PRE_REALIZE_ROWS:
                return []
            raise _NoClaim(f"device_add {ev.device_id} failed at an unmodelled point")
        dev = self.hot.pop(0)
        a = ev.arguments
        if "bus" not in a or _isa(self.run.types, dev.driver, _BRIDGES):
            raise _NoClaim(f"device_add {ev.device_id}: default bus or a bridge")
        self._check(dev)
        return self.add_mr(dev.bus, dev.devfn)


def _global_no_claim(run: MachineView) -> str | None:
    """Why no smmu_add_mr name can be predicted for this machine at all."""
    if any(s.accel for s in run.smmus):
        return "accel SMMU (smmuv3_accel_find_add_as)"
    if run.virtio_iommu:
        return "virtio-iommu-pci present"
    if not run.cl.nodefaults:
        return "no -nodefaults (board default devices)"
    return None


def _add_mr(run: MachineView, events: Sequence[Event], results: Sequence[EventResult],
            fired: list[tuple[str, str]]) -> list[list[str] | None] | None:
    """The smmu_add_mr names per phase; ``fired`` gets the rules that decided them (the
    no-claim one first: it decides before the others are fired)."""
    why = _global_no_claim(run)
    replay = _Replay(run)
    out: list[list[str] | None] = []
    decided: list[tuple[str, str]] = []
    try:
        if why is not None:
            raise _NoClaim(why)
        out.append(replay.cold())
        decided.append(_ADD_MR_COLD)
        for ev, res in zip(events, results, strict=True):
            names = replay.event(ev, res)
            if names and ev.op == "device_add":
                decided.append(_ADD_MR_HOT)
            out.append(names)
    except _NoClaim as e:
        fired.insert(0, (ADD_MR_NO_CLAIM.id, str(e.args[0])))
        if not out:
            fired += decided
            return None
        out += [None] * (len(events) + 1 - len(out))
    fired += decided
    return out


#: smmu_reset_exit lines per SMMU, by QMP event (O7: only system_reset resets)
_RESETS_PER_SMMU = {"system_reset": 1, "device_add": 0, "device_del": 0}


def build(run: MachineView, events: Sequence[Event], results: Sequence[EventResult]
          ) -> tuple[TracePrediction, list[tuple[str, str]]]:
    """The trace of a started machine, and the rules that decided it, as (rule id,
    detail) pairs in the order the engine fires them."""
    fired: list[tuple[str, str]] = [_RESET_START]
    n = len(run.smmus)
    resets: list[int | None] = [n]
    resets += [n * _RESETS_PER_SMMU[ev.op] for ev in events]
    return TracePrediction(add_mr=_add_mr(run, events, results, fired),
                           reset_exit=resets), fired
