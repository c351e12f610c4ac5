"""Phases 6 and 7: machine creation done, then the QMP events.

6. ``qemu_machine_creation_done``: a ``nic X has no peer`` warning per NIC without
   ``netdev=``, the unused ``-global`` warnings, then the machine-init-done notifiers,
   last registered first: P15/P16 exits per SMMU, and the address space of every
   cold-plugged PCI device (an emulated endpoint that escaped the admission check of an
   accel SMMU reaches ``g_assert_not_reached()``: A4).
7. each QMP event in order: ``device_add`` (phase 5 for one device, hot), ``device_del``
   (``dc->hotpluggable`` false refuses first; on a PCIe port's bus the slot's power
   decides, :func:`_port_unplug`; on an SHPC slot a device present at the last reset or
   cold waits for the guest, one hot-added since goes at once), ``system_reset`` (which
   port slots are powered, which SHPC devices have settled).
"""

from __future__ import annotations

from typing import Any

from .. import cmdline
from ..machine import PciDev
from ..prediction import EventResult
from ..qom import TYPE_ARM_SMMUV3, TYPE_PCI_DEVICE
from ..rules import RULES, admission, pci_slots, preconditions
from ..rules import address_space as asr
from ..rules import releases as release_rules
from ..rules import trace as trace_rules
from ..rules.qdev import R_NIC, R_UNPLUG, R_UNPLUG_UNEXPOSED
from ..scenario import Event
from .devices import add_device
from .memo import traits
from .results import placement
from .run import DevError, Exit, Run

#: bus kinds of a PCIe root/downstream port (7.2's any-slot port included): unplug by
#: slot power (pcie_cap_slot_unplug_request_cb, TCG✔ on 11.1.3 and 7.2)
_PORT_KINDS = (pci_slots.PORT, release_rules.PORT_ANY)

__all__ = ["creation_done", "event"]


# ---------------------------------------------------------------- phase 6
def creation_done(run: Run, cl: cmdline.ParsedCmdline) -> None:
    """Warnings at the end of creation, then the machine-init-done notifiers."""
    for name in run._nics:
        run.fire(R_NIC.id)
        run.warnings.append(run.m["Q.nic-no-peer"].format(name=name))
    for i, (gdrv, gprop, gval, _) in enumerate(cl.globals) if cl.globals else ():
        if i in run.globals_used:
            continue
        if gdrv not in run.types or not run.types.is_a(gdrv, "device"):
            run.warnings.append(run.m["Q.global-badclass"].format(driver=gdrv, prop=gprop))
        elif not run.types.is_a(gdrv, TYPE_PCI_DEVICE):
            run.warnings.append(run.m["Q.global-unused"].format(
                driver=gdrv, prop=gprop, value=gval))
    for s in reversed(run.smmus) if run.smmus else ():
        # the notifier list: last registered runs first
        if s.accel and s.auto_mode and not s.auto_finalised:
            raise Exit(run.fmt((preconditions.P15.id, "P15", {})), preconditions.P15.id)
        if s.accel and run.b.cmdqv and s.props.get("cmdqv") == "on" and not s.cold_vfio:
            raise Exit(run.fmt((preconditions.P16.id, "P16", {})), preconditions.P16.id)
    if not run.accel_smmus:
        return
    for d in run.devs.values():
        smmu, _ = asr.iommu_for(d.bus)
        if smmu is not None and smmu.accel and admission.TABLE[admission.classify(
                run.types, d.driver, d.iommufd)][1] is not None:
            run.fire(admission.A4_ESCAPE.id, d.key)
            raise Exit(None, admission.A4_ESCAPE.id, code=None)


# ---------------------------------------------------------------- phase 7
def _qmp_str(v: Any) -> str:
    if v is True:
        return "on"
    if v is False:
        return "off"
    return str(v)


def _qmp_prop(k: str, v: Any) -> str:
    """A non-string QMP ``device_add`` argument as the option text QEMU reads alike (an
    integer ``addr`` is a devfn, not a hex slot)."""
    if k == "addr" and v.__class__ is int and 0 <= v <= 0xFF:
        return f"{v >> 3:x}.{v & 7:x}"
    return _qmp_str(v)


def event(run: Run, ev: Event) -> EventResult:
    """One QMP event on the started machine."""
    a = ev.arguments
    if ev.op == "device_add":
        driver = a.get("driver", "")
        if driver.__class__ is not str:
            driver = str(driver)
        id = a.get("id")
        props: dict[str, str] = {}
        for k, v in a.items():
            if k != "driver" and k != "id":
                props[k] = v if v.__class__ is str else _qmp_prop(k, v)
        run._cur_opt = driver
        try:
            key, _ = add_device(
                run, driver, props, id if id is None or id.__class__ is str else str(id),
                False)
        except DevError as e:
            text, rule = e.args
            return EventResult("device_add", id, False, e.cls, text, RULES[rule].row)
        added = run.devs[key]
        if run.hot_added is None:
            run.hot_added = []
        run.hot_added.append(added)
        return EventResult("device_add", id, True, None, None, placement(run, added).rule)
    if ev.op == "system_reset":
        # pcie_cap_slot_reset: a port's slot is powered iff its devfn 0 is populated
        run.powered = {d.bus.name for d in run.devs.values()
                       if d.devfn == 0 and d.bus.hotpluggable in _PORT_KINDS}
        # SHPC slots are powered per device: what is present at a reset settles
        run.powered.update("dev:" + d.key for d in run.devs.values()
                           if d.bus.hotpluggable == pci_slots.SHPC)
        run.fire(trace_rules.RESET_EVENT.id)
        return EventResult("system_reset", None, True, None, None, "O7")
    did = a.get("id")
    if did.__class__ is not str:
        did = str(did)
    dev = run.devs.get(did)
    smmu = next((s for s in run.smmus if s.id == did), None)
    if smmu is not None:
        run.fire(preconditions.R_HOTPLUG.id)
        return EventResult("device_del", did, False, "GenericError",
                           run.m["P5"].format(driver=TYPE_ARM_SMMUV3), "P5")
    if dev is None or dev.id is None:
        return EventResult("device_del", did, False, "DeviceNotFound",
                           run.m["Q.dev-not-found-qmp"].format(id=did), "F")
    refused = traits(run.types, dev.driver).no_unplug
    if refused is not None and run.b.hotplug_class_first:  # dc->hotpluggable = false:
        # before the bus (TCG✔; 7.2 checks the bus first)
        return EventResult("device_del", did, False, "GenericError", run.fmt(refused),
                           "P5")
    if not dev.bus.hotpluggable:
        return EventResult("device_del", did, False, "GenericError",
                           run.m["Q.no-hotplug-bus"].format(bus=dev.bus.name), "P5")
    run.fire(R_UNPLUG.id, did)
    if dev.bus.hotpluggable in _PORT_KINDS:  # 7.2's any-slot ports unplug by power too
        return _port_unplug(run, dev, did)
    if dev.cold or (run.powered is not None and "dev:" + dev.key in run.powered):
        # a standard hotplug controller's slot: the guest must act; asking again is
        # accepted again (no "already in the process of unplug"; TCG✔, fuzzer)
        dev.pending_unplug = True
    else:
        del run.devs[did]
        run.ids.pop(did, None)
        pci_slots.release(dev.bus, dev, run.devs.values())
    return EventResult("device_del", did, True, None, None, "F")


def _port_unplug(run: Run, dev: PciDev, did: str) -> EventResult:
    """device_del on a PCIe root/downstream port's bus (hw/pci/pcie.c
    ``pcie_cap_slot_unplug_request_cb``; TCG✔, found by the fuzzer): a function the
    guest cannot see (``devfn && !bus->devices[0]``) goes alone and at once; in a
    slot that is powered off (devfn 0 empty at the last reset, e.g. everything
    hot-added under -S) every device on the bus goes at once
    (``pcie_cap_slot_do_unplug``); otherwise the guest must act: pending."""
    bus = dev.bus
    on_bus = [d for d in run.devs.values() if d.bus is bus]
    fn0 = next((d for d in on_bus if d.devfn == 0), None)
    if dev.devfn and fn0 is None:
        run.fire(R_UNPLUG_UNEXPOSED.id, did)
        gone = [dev]
    else:
        # powered: at the last reset, else at the start (a cold device at devfn 0)
        powered = (bus.name in run.powered if run.powered is not None
                   else fn0 is not None and fn0.cold)
        if powered:
            if dev.pending_unplug:
                return EventResult("device_del", did, False, "GenericError", None, "F")
            dev.pending_unplug = True
            return EventResult("device_del", did, True, None, None, "F")
        gone = on_bus
    for d in gone:
        if d.cold:
            if run.unplugged is None:
                run.unplugged = []
            run.unplugged.append(d)
        del run.devs[d.key]
        if d.id is not None:
            run.ids.pop(d.id, None)
        pci_slots.release(bus, d, run.devs.values())
    return EventResult("device_del", did, True, None, None, "F")
