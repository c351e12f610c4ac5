"""F (generic QEMU): PCI slot (devfn) assignment and the checks around it.

QEMU 11.1.3, ``hw/pci/pci.c`` and ``hw/pci/shpc.c`` (TCG✔, ``scenarios/pci_slots.toml``,
``docs/findings.md`` S13-S14).  In the order QEMU runs them for one PCI device:

1. property set (``set_pci_devfn``, ``hw/core/qdev-properties-system.c``): ``addr=`` is
   ``SLOT[.FN]`` in hex (``strtoul`` base 16: ``0x3``, `` 3`` and ``+3`` pass; slot
   <= 0x1f, function <= 7), else ``Property 'T.addr' doesn't take value 'V'``;
2. ``do_pci_register_device`` (after the pxb-only-bridges check, before the
   ``supports_address_space`` admission check):

   * no ``addr=``: the first slot from ``devfn_min`` (0 on every bus the model builds:
     ``pcie.0``, whose 00.0 is ``gpex-root``, pxb root buses and bridges' secondary
     buses) whose function 0 is free; none: ``PCI: no slot/function available for T,
     all in use or reserved``;
   * ``addr=`` in use: ``PCI: slot S function F not available for T, in use by T2,id=I``
     (``(null)`` for a device without id; ``S``/``F`` decimal);
   * hot plug only, with or without ``addr=``: ``pci_get_function_0`` exists (on a
     PCIe root/downstream port's bus that is devfn 0 whatever the slot, elsewhere
     function 0 of the device's slot): ``PCI: slot S function 0 already occupied by T2,
     new func T cannot be exposed to guest.``;
   * ``pci_init_multifunction``: a function > 0 whose function 0 is not
     ``multifunction=on`` gives ``PCI: single function device can't be populated in
     function S.F``; a single-function function 0 with another function of its slot
     populated gives ``PCI: S.0 indicates single function, but S.F is already
     populated.`` (``S``/``F`` hex here);

3. ``pci_qdev_realize`` after the device's own realize: a PCI Express function (not
   ARI-capable) at a slot other than 0 of a root or downstream port's bus is kept, with
   ``warning: PCI: slot S is not valid for T, parent device only allows plugging into
   slot 0.`` (cold: after the ``-device`` location; QMP ``device_add``: no location);
4. plug (``shpc_device_plug_cb``): slot 0 of a standard hotplug controller's bus
   (``pci-bridge``, ``pcie-pci-bridge``) is refused, cold or hot: ``Unsupported PCI slot
   0 for standard hotplug controller. Valid slots are between 1 and 31.``

Bookkeeping (cheap, the engine does it for every PCI device): ``Bus.slots`` is the
next function-0 devfn while every device on the bus took the next one (``NEXT_FN0``
moves it on); a full bus, the first ``addr=`` or an unplug out of order set it to None
and build ``Bus.slotmap`` (``devfn -> (type, id, multifunction)``) from the devices on
the bus.  ``PciDev.devfn`` is the result,
which :mod:`.trace` reads.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ..cmdline import parse_bool
from . import Decision, register

if TYPE_CHECKING:
    from ..machine import Bus, PciDev

R_ADDR = register("F.pci-addr", "F", "11.1",
                  doc="addr= must be SLOT[.FN] in hex, slot <= 0x1f, function <= 7")
R_NO_SLOT = register("F.pci-no-slot", "F", "11.1",
                     doc="no addr= and no free function-0 slot on the bus")
R_IN_USE = register("F.pci-slot-in-use", "F", "11.1",
                    doc="addr= names a devfn another device holds")
R_FN0_HOT = register("F.pci-fn0-occupied-hotplug", "F", "11.1",
                     doc="device_add where function 0 (devfn 0 behind a PCIe port) exists")
R_MULTIFUNCTION = register("F.pci-multifunction", "F", "11.1",
                           doc="pci_init_multifunction: function 0 must be multifunction=on")
R_PORT_SLOT = register("F.pcie-port-slot0-warning", "F", "11.1",
                       doc="PCIe function at slot != 0 behind a root/downstream port: warning")
R_SHPC_SLOT0 = register("F.shpc-slot0", "F", "11.1",
                        doc="slot 0 of a pci-bridge/pcie-pci-bridge bus is refused at plug")

#: QOM types (and their subtypes) that are PCI Express functions on a port's bus
#: (``pci_is_express``: INTERFACE_PCIE_DEVICE only, or a hybrid that turns it on there:
#: virtio-pci when modern, xhci, vfio-pci for a PCIe host function)
EXPRESS_TYPES = ("virtio-pci", "e1000e", "nvme", "pci-xhci", "pcie-port",
                 "pcie-pci-bridge", "vfio-pci-device", "vmxnet3")  # vmxnet3: TCG✔ (fuzzer)
#: express but ARI-capable (``pcie_ari_init``): the slot-0 warning does not apply
ARI_TYPES = ("igb",)
#: virtio-pci properties that make it a conventional PCI function (either one on)
_VIRTIO_CONVENTIONAL = ("disable-modern", "x-disable-pcie")
#: the bridges whose secondary bus has a standard hotplug controller (SHPC)
SHPC_BRIDGES = ("pci-bridge", "pcie-pci-bridge")
#: bridges whose secondary bus is a PCIe link from a root or downstream port
#: (``pcie_has_upstream_port`` of the devices on it)
PORT_BRIDGES = ("pcie-slot",)

_PART = re.compile(r"\s*([+-]?)(?:0[xX])?([0-9a-fA-F]+)\Z")
#: parse_addr by text (None: refused)
_ADDRS: dict[str, int | None] = {}


def _hex(part: str, limit: int) -> int | None:
    """One ``strtoul(p, &e, 16)`` that must consume ``part`` and be <= ``limit``."""
    m = _PART.match(part)
    if m is None:
        return None
    v = int(m.group(2), 16)
    if m.group(1) == "-" and v:
        return None  # strtoul negates: a huge value
    return v if v <= limit else None


def clear_caches() -> None:
    """Forget the memoised ``addr=`` parses (``reference_model.clear_caches``)."""
    _ADDRS.clear()


def parse_addr(text: str) -> int | None:
    """``set_pci_devfn``: ``SLOT[.FN]`` -> devfn, None if QEMU refuses the text."""
    if text in _ADDRS:
        return _ADDRS[text]
    slot_s, dot, fn_s = text.partition(".")
    slot = _hex(slot_s, 0x1F)
    fn = _hex(fn_s, 7) if dot else 0
    devfn = None if slot is None or fn is None else slot << 3 | fn
    if len(_ADDRS) > 4096:
        _ADDRS.clear()
    _ADDRS[text] = devfn
    return devfn


def addr_error(driver: str, text: str) -> Decision:
    """A refused ``addr=`` value."""
    return R_ADDR.id, "Q.pci-addr", {"driver": driver, "value": text}


def is_express(anc: Iterable[str]) -> bool:
    """``pci_is_express`` of a device of this type on a PCIe port's bus, ARI excluded."""
    a = frozenset(anc)
    return not a.isdisjoint(EXPRESS_TYPES) and a.isdisjoint(ARI_TYPES)


def _on(props: Mapping[str, str], key: str) -> bool:
    try:
        return parse_bool(key, props.get(key, "off"))
    except ValueError:
        return False


#: what a bus keeps of the device at a devfn: (type, id, multifunction); not the device
#: itself, so that no reference cycle bus -> device -> bus leaves a machine to the gc
Occupant = tuple[str, "str | None", bool]
#: Bus.hotpluggable of a PCIe root/downstream port's secondary bus, of a standard
#: hotplug controller's secondary bus (0: a bus without hot plug)
PORT = 1
SHPC = 2
#: Bus.slots after a function-0 slot is handed out (None: the bus is full)
NEXT_FN0: dict[int, int | None] = {d: d + 8 if d < 0xF8 else None for d in range(0, 0x100, 8)}


def bus_kind(anc: Iterable[str]) -> int:
    """The ``Bus.hotpluggable`` of the secondary bus of a bridge with these QOM
    ancestors."""
    a = frozenset(anc)
    return PORT if not a.isdisjoint(PORT_BRIDGES) else SHPC if not a.isdisjoint(
        SHPC_BRIDGES) else 0


def occupant(d: PciDev) -> Occupant:
    return d.driver, d.id, getattr(d, "multifunction", False)


def _slots(bus: Bus, devs: Iterable[PciDev]) -> dict[int, Occupant]:
    """The bus's ``devfn -> occupant`` dict, built once from the devices on it."""
    s: dict[int, Occupant] | None = getattr(bus, "slotmap", None)
    if s is None:
        s = bus.slotmap = {d.devfn: occupant(d) for d in devs if d.bus is bus}
        bus.slots = None
    return s


def choose(bus: Bus, devs: Iterable[PciDev], addr: int | None, driver: str, hot: bool,
           multifunction: bool) -> int | Decision:
    """``do_pci_register_device``'s devfn for a device on ``bus`` (``devs``: every
    device of the machine), or its refusal.  Nothing is
    recorded: once the device exists the engine sets ``bus->devices[devfn]``
    (:func:`occupy`)."""
    s = bus.slots
    if addr is None and s is not None:
        # every device on the bus took the next function-0 slot: 0, 8, ... s - 8
        if hot and s and bus.hotpluggable == PORT:  # pci_get_function_0: devfn 0
            for d in devs:  # the device at devfn 0 (a loop: cheaper than next(genexpr))
                if not d.devfn and d.bus is bus:
                    return _fn0_occupied(0, d.driver, driver)
        return s
    used = _slots(bus, devs)
    if addr is None:
        for devfn in range(0, 0x100, 8):
            if devfn not in used:
                break
        else:
            return R_NO_SLOT.id, "Q.pci-no-slot", {"driver": driver}
    else:
        devfn = addr
        other = used.get(devfn)
        if other is not None:
            return R_IN_USE.id, "Q.pci-in-use", {
                "slot": devfn >> 3, "fn": devfn & 7, "driver": driver, "other": other[0],
                "id": "(null)" if other[1] is None else other[1]}
    if hot:
        f0devfn = 0 if bus.hotpluggable == PORT else devfn & 0xF8
        f0 = used.get(f0devfn)
        if f0 is not None:
            return _fn0_occupied(f0devfn, f0[0], driver)
    return _multifunction(used, devfn, multifunction)


def occupy(bus: Bus, dev: PciDev) -> None:
    """``bus->devices[devfn] = pci_dev`` once :func:`choose` gave a devfn other than the
    next function-0 slot (the engine moves ``Bus.slots`` on for that one itself)."""
    bus.slotmap[dev.devfn] = occupant(dev)


#: _fn0_occupied's decisions by (slot, other, driver)
_FN0: dict[tuple[int, str, str], Decision] = {}


def _fn0_occupied(devfn: int, other: str, driver: str) -> Decision:
    k = (devfn >> 3, other, driver)
    r = _FN0.get(k)
    if r is None:
        if len(_FN0) > 4096:
            _FN0.clear()
        r = _FN0[k] = R_FN0_HOT.id, "Q.pci-fn0-hot", {"slot": k[0], "other": other,
                                                      "driver": driver}
    return r


def _multifunction(used: Mapping[int, Occupant], devfn: int, multifunction: bool
                   ) -> int | Decision:
    """``pci_init_multifunction``."""
    slot, fn = devfn >> 3, devfn & 7
    if fn:
        f0 = used.get(devfn & 0xF8)
        if f0 is not None and not f0[2]:
            return R_MULTIFUNCTION.id, "Q.pci-single-fn", {"slot": slot, "fn": fn}
        return devfn
    if not multifunction:
        for f in range(1, 8):
            if devfn + f in used:
                return R_MULTIFUNCTION.id, "Q.pci-fn0-single", {"slot": slot, "fn": f}
    return devfn


def multifunction(props: Mapping[str, str]) -> bool:
    """The ``multifunction`` bit property (a bad value is not modelled: off)."""
    return "multifunction" in props and _on(props, "multifunction")


def release(bus: Bus, dev: PciDev, devs: Iterable[PciDev]) -> None:
    """The device left the bus (``do_pci_unregister_device``); ``devs`` no longer has
    it."""
    s = bus.slots
    if s is not None and dev.devfn == s - 8:
        bus.slots = s - 8  # the last one handed out: still contiguous
    else:
        _slots(bus, devs).pop(dev.devfn, None)


#: port_warning's decisions by (slot, driver)
_WARN: dict[tuple[int, str], Decision] = {}


def port_warning(bus: Bus, devfn: int, driver: str, express: bool, virtio: bool,
                 props: Mapping[str, str]) -> Decision | None:
    """``pci_qdev_realize``: the slot-0 warning (its text without location), or None."""
    if not (devfn >> 3 and bus.hotpluggable == PORT and express):
        return None
    if virtio and any(_on(props, k) for k in _VIRTIO_CONVENTIONAL):
        return None
    k = (devfn >> 3, driver)
    w = _WARN.get(k)
    if w is None:
        if len(_WARN) > 4096:
            _WARN.clear()
        w = _WARN[k] = R_PORT_SLOT.id, "Q.pcie-port-slot", {"slot": k[0], "driver": driver}
    return w


_SHPC_SLOT0: Decision = (R_SHPC_SLOT0.id, "Q.shpc-slot0", {})


def shpc_error(bus: Bus, devfn: int) -> Decision | None:
    """``shpc_device_plug_cb``: slot 0 of an SHPC bus is refused."""
    if bus.hotpluggable == SHPC and devfn >> 3 == 0:
        return _SHPC_SLOT0
    return None
