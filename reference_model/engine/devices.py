"""Phase 5: each ``-device`` in command-line order, and one ``device_add`` (hot).

For each device, as ``qdev_device_add`` runs it: driver -> bus (``bus=``, else the
newest PCI root bus) -> hot-plug checks -> object with ``-global`` values -> properties
in QDict order (``addr``/``multifunction``, ``iommufd``) -> realize: pxb-only-bridges,
the devfn and multifunction checks (:mod:`..rules.pci_slots`), admission behind an
accel SMMU (:mod:`..rules.admission`, §5a host checks for vfio) or O11 behind an
emulated one, the device's own realize (virtio-iommu on a root bus, one balloon:
:mod:`..rules.qdev`), the PCIe port slot-0 warning -> plug (SHPC slot 0).  A QMP
``device_add`` of a ``dc->hotpluggable = false`` type is refused before the bus.  An ``arm-smmuv3``
goes to :mod:`.smmu` after the bus step.

Two paths, one behaviour:

* :func:`add_device` is the general path, for every device and every QMP
  ``device_add``;
* :func:`cold_plug` runs the command line's devices and adds a **plain cold PCI device**
  (valid PCI type, not an SMMU/virtio-iommu/pxb/vfio/balloon, no ``addr=``/``multifunction=``,
  no ``-global``, no accel SMMU yet) inline, without the steps that cannot apply to it
  (hot plug, SMMU, ``-global``, virtio-iommu, pxb, ``addr=``, admission): the same
  checks in the same order, and one call fewer per device, the most common kind.
  ``tests/model/test_device_paths.py`` proves the two give identical predictions on
  generated machines.
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import cmdline
from ..cmdline import CmdlineError, DeviceOpt
from ..machine import Bus, PciDev, Smmu
from ..rules import address_space as asr
from ..rules import admission, host_compat, idregs, pci_slots, preconditions, qdev
from ..rules import releases as release_rules
from ..rules.properties import qdict_order
from ..rules.qdev import R_DEFBUS, R_PXB_ONLY_BRIDGES, R_QDEV
from .memo import Traits, traits
from .run import DevError, Run, Stop
from .smmu import add_smmu, new_object_props

__all__ = ["add_device", "cold_plug"]

_NEXT_FN0 = pci_slots.NEXT_FN0
#: property set order of the two PCI properties whose values the model checks
_ADDR_BEFORE_IOMMUFD = qdict_order(("addr", "iommufd"))[0] == "addr"

#: the general path only (tests/model/test_device_paths.py sets it to compare the paths)
GENERAL_ONLY = False


def cold_plug(run: Run, cl: cmdline.ParsedCmdline) -> Stop | None:
    """Every ``-device`` of the command line, in order; a refusal ends the start (with
    the ``-device`` location): returned, not raised (one raise fewer)."""
    add = add_device
    tmemo = run.tmemo
    buses = run.buses
    devs = run.devs
    ids = run.ids
    no_globals = not cl.globals
    general = GENERAL_ONLY
    for d in cl.devices:
        driver = d.driver
        tr = tmemo.get(driver)
        if tr is None or not tr.plain or run.accel_smmus or not no_globals or d.slotted \
                or general:
            try:
                add(run, driver, d.props, d.id, True, d)
            except DevError as e:
                text, rule = e.args
                return (None if text is None else d.location + text), rule, 1
            continue
        # a plain cold PCI device, no accel SMMU yet, no -global, no addr=: add_device
        # without the steps that cannot apply (hot plug, SMMU, -global, virtio-iommu,
        # pxb, addr=, admission), same checks in the same order
        id = d.id
        bname = d.bus
        bus: Bus | None
        if bname is not None:
            bus = buses.get(bname)
            if bus is None:
                return d.location + run.m["Q.bus-not-found"].format(bus=bname), R_QDEV.id, 1
        else:
            bus = run.default_bus
            if bus.pxb:
                run.fire(R_DEFBUS.id, bus.name)
        iommufd = d.iommufd
        if iommufd is not None and iommufd not in run.cl_iommufds:
            return d.location + run.m["Q.dev-not-found"].format(name=iommufd), R_QDEV.id, 1
        key = id or run.key_for(id, driver)
        if bus.pxb and bus.is_root and not tr.is_bridge:
            run.fire(R_PXB_ONLY_BRIDGES.id, driver)
            return d.location + run.m["Q.pxb-only-bridges"], R_PXB_ONLY_BRIDGES.id, 1
        # do_pci_register_device: the next free function-0 slot (rules/pci_slots.py)
        # (a failure ends the start, so the slot is taken at once)
        devfn = bus.slots
        if devfn is not None:
            bus.slots = _NEXT_FN0[devfn]
            dev = PciDev(key, id, driver, bus, True, devfn)
        else:
            got = pci_slots.choose(bus, devs.values(), None, driver, False, False)
            if isinstance(got, tuple):
                return d.location + run.fmt(got), got[0], 1
            devfn = got
            dev = PciDev(key, id, driver, bus, True, devfn)
            pci_slots.occupy(bus, dev)
        if iommufd is not None:
            dev.iommufd = True
        kind = bus.hotpluggable
        if kind and (devfn >= 8 if kind == pci_slots.PORT else devfn < 8):
            try:
                _slot_rules(run, bus, dev, d.props, tr, d)
            except DevError as e:
                text, rule = e.args
                return d.location + text, rule, 1
        if tr.bridge:
            name = id or f"{driver}.{len(buses)}"
            buses[name] = Bus(name, bus, False, tr.hot_bridge if run.b.pcie_port_slot0
                              else release_rules.bus_kind(tr.hot_bridge), False, False)
        if tr.nic:
            n = run.nic_count.get(driver, 0)
            run.nic_count[driver] = n + 1
            if not d.netdev:
                run._nics.append(id or f"{driver}.{n}")
        if id:
            ids[id] = None
        devs[key] = dev
    return None


def add_device(run: Run, driver: str, props: Mapping[str, str], id: str | None,
               cold: bool, opt: DeviceOpt | None = None) -> tuple[str, str]:
    """qdev_device_add for one device; returns (key, deciding rule) or raises."""
    tr = run.tmemo.get(driver) or traits(run.types, driver)
    if not tr.valid:
        run.fire(R_QDEV.id)
        raise DevError(run.m["Q.no-model"].format(driver=driver), R_QDEV.id)
    is_smmu = tr.smmu
    if is_smmu and not run.b.user_creatable:  # <=10.1 (rules/releases.py)
        run.fire(release_rules.NOT_USER_CREATABLE.id)
        raise DevError(run.m["Q.not-pluggable"], release_rules.NOT_USER_CREATABLE.id)
    is_pci = tr.pci
    if not is_smmu and not is_pci:
        raise CmdlineError(f"-device {driver}: only PCI devices and arm-smmuv3 are "
                           "modelled")
    bus = None
    bname = props.get("bus")
    if bname is not None:
        bus = run.buses.get(bname)
        if bus is None:
            raise DevError(run.m["Q.bus-not-found"].format(bus=bname), R_QDEV.id)
        if is_smmu:
            raise DevError(run.m["Q.wrong-bus"].format(driver=driver, bustype="PCIE"),
                           R_QDEV.id)
    elif is_pci:
        # qdev_device_add -> qbus_find_recursive(sysbus, NULL, "PCI"): bus_add_child
        # inserts at the head, so the newest sysbus child with a PCI bus is searched
        # first and its root bus (never full) wins: the last pxb-pcie's bus, else pcie.0
        bus = run.default_bus
        if bus.pxb:
            run.fire(R_DEFBUS.id, bus.name)
    if not cold:
        # dc->hotpluggable = false, checked before the bus (TCG✔; vfio-pci-nohotplug:
        # nested tier, found by the fuzzer)
        refused = tr.no_hotplug
        if refused is not None:
            raise DevError(run.fmt(refused), refused[0])
        if bus is not None and not bus.hotpluggable:
            run.fire(preconditions.R_HOTPLUG.id)
            raise DevError(run.m["Q.no-hotplug-bus"].format(bus=bus.name),
                           preconditions.R_HOTPLUG.id)
        if is_smmu:
            run.fire(preconditions.R_HOTPLUG.id)
            raise DevError(run.m["P5"].format(driver=driver), preconditions.R_HOTPLUG.id)
        if id is not None and id in run.ids:
            raise DevError(run.m["Q.dup-id-qmp"].format(id=id), R_QDEV.id)
    if is_smmu:
        if opt is not None:
            return add_smmu(run, driver, props, id, opt.optstring, True)
        return add_smmu(run, driver, props, id, run._cur_opt, False)
    assert bus is not None
    # a PCI device (inline: one call fewer per device)
    if run.cl.globals:
        new_object_props(run, driver)
    iommufd = props.get("iommufd")
    addr = None
    mf = False
    if opt.slotted if opt is not None else "addr" in props or "multifunction" in props:
        addr, mf = _slot_props(run, driver, props, iommufd)  # addr=/multifunction=
    if iommufd is not None and iommufd not in run.cl_iommufds:
        raise DevError(run.m["Q.dev-not-found"].format(name=iommufd), R_QDEV.id)
    if tr.virtio_iommu:
        if run.legacy or run.virtio_iommu:  # a second virtio-iommu too (TCG✔)
            run.fire(preconditions.P3V.id)
            raise DevError(run.m["P3.virtio-multi"], preconditions.P3V.id)
        run.virtio_iommu = True
    bypass = False
    if tr.pxb and "bypass_iommu" in props:
        try:
            bypass = cmdline.parse_bool("bypass_iommu", props["bypass_iommu"])
        except ValueError as e:
            raise DevError(str(e), R_QDEV.id) from None
    key = id or run.key_for(id, driver)
    # realize: do_pci_register_device refuses non-bridges on a pxb root bus first
    if bus.pxb and bus.is_root and not tr.is_bridge:
        run.fire(R_PXB_ONLY_BRIDGES.id, driver)
        raise DevError(run.m["Q.pxb-only-bridges"], R_PXB_ONLY_BRIDGES.id)
    # then the devfn (rules/pci_slots.py): the next function-0 slot, unless
    devfn = bus.slots
    if addr is not None or devfn is None or not (
            cold or not devfn or bus.hotpluggable != pci_slots.PORT):
        got = pci_slots.choose(bus, run.devs.values(), addr, driver, not cold, mf)
        if isinstance(got, tuple):
            raise DevError(run.fmt(got), got[0])
        devfn = got
    dev = PciDev(key, id, driver, bus, cold, devfn)
    if mf:
        dev.multifunction = True
    if iommufd is not None:
        dev.iommufd = True
    # then supports_address_space (admission): only an accel SMMU refuses devices
    smmu = asr.iommu_for(bus)[0] if run.accel_smmus else None
    if smmu is not None and smmu.accel:
        dev.name = props.get("host") or props.get("sysfsdev", "").rstrip("/").rpartition(
            "/")[2] or (id or driver)  # vfio: the host device's name, for messages
        cls = tr.cls_fd if dev.iommufd else tr.cls_nofd
        rid, mid = tr.adm_fd if dev.iommufd else tr.adm_nofd
        if mid is not None:
            if run.b.admission == "v4":
                _v4_admission(run, cls, dev, cold)
            else:
                run.fire(rid, driver)
                raise DevError(run.m[mid], rid)
        elif cls == "vfio":
            _vfio_attach(run, smmu, dev, cold)
    elif tr.vfio and run.smmus:
        behind = asr.iommu_for(bus)[0]
        if behind is not None and not behind.accel:
            _vfio_no_map_notifier(run, dev, props, id, driver, cold)
    # the device's own realize (TCG✔, found by the fuzzer)
    if tr.virtio_iommu or tr.balloon:
        fail = qdev.virtio_iommu_bus(tr.virtio_iommu, bus.is_root) or qdev.one_balloon(
            tr.balloon, run.balloon)
        if fail is not None:
            raise DevError(run.fmt(fail), fail[0])
        if tr.balloon:
            run.balloon = True
    # pci_qdev_realize after the device's realize (port warning), then plug (SHPC)
    kind = bus.hotpluggable
    if kind and (devfn >= 8 if kind == pci_slots.PORT else devfn < 8):
        _slot_rules(run, bus, dev, props, tr, opt)
    if tr.bridge:
        name = id or f"{driver}.{len(run.buses)}"
        bkind = tr.hot_bridge if run.b.pcie_port_slot0 else release_rules.bus_kind(
            tr.hot_bridge)  # 7.2 (rules/releases.py)
        nb = run.buses[name] = Bus(name, bus, tr.pxb, bkind, tr.pxb, bypass)
        if tr.pxb:
            run.default_bus = nb
    if tr.nic:
        n = run.nic_count.get(driver, 0)
        run.nic_count[driver] = n + 1
        if cold and "netdev" not in props:
            run._nics.append(id or f"{driver}.{n}")
    if id:
        run.ids[id] = None
    run.devs[key] = dev
    if devfn == bus.slots:
        bus.slots = _NEXT_FN0[devfn]  # the next function-0 slot was handed out
    else:
        pci_slots.occupy(bus, dev)
    return key, ""


def _slot_props(run: Run, driver: str, props: Mapping[str, str], iommufd: str | None
                ) -> tuple[int | None, bool]:
    """Property set: ``addr`` (set_pci_devfn; before or after ``iommufd``, in QDict
    order) and ``multifunction``."""
    text = props.get("addr")
    addr = None if text is None else pci_slots.parse_addr(text)
    if text is not None and addr is None:
        if not _ADDR_BEFORE_IOMMUFD and iommufd is not None and \
                iommufd not in run.cl_iommufds:
            raise DevError(run.m["Q.dev-not-found"].format(name=iommufd), R_QDEV.id)
        fail = pci_slots.addr_error(driver, text)
        raise DevError(run.fmt(fail), fail[0])
    return addr, pci_slots.multifunction(props)


def _slot_rules(run: Run, bus: Bus, dev: PciDev, props: Mapping[str, str], tr: Traits,
                opt: DeviceOpt | None) -> None:
    """On a port's or SHPC bridge's bus: pci_qdev_realize's warning for a PCIe
    function off slot 0 (warn_report: the -device location on a cold plug, none on a
    QMP device_add), then shpc_device_plug_cb's refusal of slot 0."""
    warn = pci_slots.port_warning(bus, dev.devfn, dev.driver, tr.express, tr.virtio, props)
    if warn is not None:
        w = run.fmt(warn)
        run.warnings.append(w if opt is None else opt.location + w)
    fail = pci_slots.shpc_error(bus, dev.devfn)
    if fail is not None:
        raise DevError(run.fmt(fail, dev.driver), fail[0])


def _v4_admission(run: Run, cls: str, dev: PciDev, cold: bool) -> None:
    """v4: get_address_space refused cold plugs with exit(1), warned on hot plugs."""
    if cold:
        run.fire(admission.A4_V4.id, dev.driver)
        raise DevError(run.m["A4.v4-exit"].format(name=dev.driver), admission.A4_V4.id)
    if cls == "vfio-legacy":
        run.fire(admission.A4_V4_HOT.id, dev.driver)
        run.warnings.append(run.m["A3.v4-hotplug"].format(name=dev.name))


def _vfio_no_map_notifier(run: Run, dev: PciDev, props: Mapping[str, str], id: str | None,
                          driver: str, cold: bool) -> None:
    """O11: VFIO needs MAP notifications from an IOMMU address space, and the emulated
    (non-accel) SMMU cannot give them, so vfio-pci realize fails (nested tier: both the
    iommufd and the legacy-container backend; docs/findings.md S6).

    The region named is the device's own ``smmuv3-iommu-memory-region-DEVFN-N``.  On a
    cold plug it is the first SMMUDevice QEMU creates (N = 0: other cold-plugged
    devices get their address space only at machine-init-done, vfio realize asks at
    once); the bus number is 0 because no firmware has numbered the buses yet.  The
    text is predicted only where those are known: cold plug, a devfn on a bridge's
    secondary bus (slot 0 unless ``addr=``) and, for the legacy container, the host's
    IOMMU group (``host.vfio_group``)."""
    run.fire(asr.R_O11.id, driver)
    name = props.get("host") or props.get("sysfsdev", "").rstrip("/").rpartition(
        "/")[2] or (id or driver)
    addr = props.get("addr")
    devfn = None if addr is None else pci_slots.parse_addr(addr)
    legacy = not dev.iommufd
    group = run.host.vfio_group if run.host is not None else None
    if not cold or (devfn is None and dev.bus.is_root) or (legacy and group is None):
        raise DevError(None, asr.R_O11.id)
    devfn = devfn or 0
    container = run.m["O11.container"].format(group=group) if legacy else ""
    raise DevError(run.m["O11"].format(name=name, container=container, devfn=devfn,
                                       n=0, bus=0, slot=devfn >> 3, fn=devfn & 7),
                   asr.R_O11.id)


def _vfio_attach(run: Run, s: Smmu, dev: PciDev, cold: bool) -> None:
    """set_iommu_device: 'auto' resolution then host checks H0-H11 (§5a)."""
    if run.host is None or s.idr is None:
        if cold:
            s.cold_vfio += 1
            s.auto_finalised = True
            if s.auto_mode:
                s.idr = None  # resolved from a host the scenario does not describe
        return
    if s.auto_mode and not s.auto_finalised:
        done = idregs.finalise_auto(s.idr, s.props, host_compat.host_idr(run.host))
        run.fire(idregs.finalise_auto.id, ",".join(done))
    s.auto_finalised = True
    bad = host_compat.check(run.host, s.idr, run.b.host_ats_check)
    if bad is not None:
        raise DevError(run.m["H.prefix"].format(name=dev.name) + run.fmt(bad), bad[0])
    if run.b.cmdqv and s.props.get("cmdqv") == "on" and not run.host.cmdqv:
        # vIOMMU allocation probes the host for a Tegra241 CMDQV (IOMMU_GET_HW_INFO of
        # that type): the kernel answers EOPNOTSUPP (docs/findings.md S5, nested tier)
        run.fire(host_compat.R_CMDQV_PROBE.id)
        raise DevError(run.m["H.prefix"].format(name=dev.name)
                       + run.m["H.cmdqv-unsupported"], host_compat.R_CMDQV_PROBE.id)
    if cold:
        s.cold_vfio += 1
