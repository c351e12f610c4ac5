"""What a started machine shows: the projections of the run into a :class:`Prediction`.

* :func:`placement` / :func:`device_predictions`: where each PCI device's DMA goes (§4,
  interned :class:`DevicePrediction` records);
* :func:`smmu_predictions`: each SMMU's ID registers, msi-gpa, qom-get view and base;
* :data:`BUILDERS`: the observables that cost time and are built only when a scenario
  observes them (``iort``: §8 O1-O4, ``trace``: O7/AS1), by name, in the order
  :func:`~reference_model.engine.predict` runs them.  A builder gives the field's value
  and the rules that decided it, ``(rule id, detail)`` pairs the engine fires.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from ..machine import PciDev, Smmu
from ..prediction import (
    AddressSpaceKind,
    DevicePrediction,
    EventResult,
    SmmuPrediction,
)
from ..rules import address_space as asr
from ..rules import iort as iort_rules
from ..rules import trace as trace_rules
from ..rules.properties import SCHEMAS
from ..scenario import Event
from .memo import PLACED as _PLACED
from .memo import traits
from .run import Run

__all__ = ["BUILDERS", "device_predictions", "placement", "smmu_predictions"]

#: per property schema, the (name, spec) pairs qom-get shows
_QOM_SPECS = {k: tuple((n, sp) for n, sp in v.items() if sp.kind != "link")
              for k, v in SCHEMAS.items()}
#: per property schema, for smmu_predictions (qom_value without a call per property):
#: the kind of each property qom-get shows, and the view of the defaults ("str" None
#: reads as "", "enum" as its text)
_QOM_KIND = {k: {n: sp.kind for n, sp in v} for k, v in _QOM_SPECS.items()}
_QOM_DEFAULT_VIEW = {k: {n: ("" if sp.kind == "str" and sp.default is None
                             else str(sp.default) if sp.kind == "enum" else sp.default)
                         for n, sp in v} for k, v in _QOM_SPECS.items()}
assert all(sp.kind in ("str", "enum", "bool", "uint8", "uint64")
           for v in _QOM_SPECS.values() for _, sp in v)  # qom_value: the rest as they are

def _placed(kind: AddressSpaceKind, smmu: str | None, row: str) -> DevicePrediction:
    k = (kind, smmu, row)
    dp = _PLACED.get(k)
    if dp is None:
        if len(_PLACED) > 4096:
            _PLACED.clear()
        dp = _PLACED[k] = DevicePrediction(kind, smmu, row)
    return dp


_SYSTEM_AS2 = _placed("system", None, "AS2")
#: behind no SMMU, by the rule id address_space.iommu_for gives
_SYSTEM = {r.id: _placed("system", None, r.row) for r in (asr.AS2, asr.AS2_BYPASS, asr.A6)}


def _iommu_placement(smmu: Smmu) -> DevicePrediction:
    """The SMMU's own IOMMU address space: AS1 (emulated SMMU) or AS3 (accel), kept on
    the SMMU."""
    dp = smmu.placement = _placed("iommu", smmu.id or smmu.key, "AS3" if smmu.accel else "AS1")
    return dp


def placement(run: Run, d: PciDev) -> DevicePrediction:
    """Where one PCI device's DMA goes (an interned :class:`DevicePrediction`)."""
    smmu, why = asr.iommu_for(d.bus)
    if smmu is None:
        return _SYSTEM[why]
    if smmu.accel and d.iommufd and traits(run.types, d.driver).cls_fd == "vfio":
        return _placed("system" if run.b.vfio_as == "system" else "accel-sysmem",
                       smmu.id or smmu.key, "AS4")
    return smmu.placement or _iommu_placement(smmu)


def device_predictions(run: Run) -> dict[str, DevicePrediction] | None:
    """Every PCI device's placement, by key (None: a virtio-iommu-pci, not modelled)."""
    if run.virtio_iommu:
        return None
    out: dict[str, DevicePrediction] = {}
    for k, d in run.devs.items():
        bus = d.bus
        root = bus.root_bus or bus
        if root.bypass or root.pxb:
            out[k] = placement(run, d)
            continue
        smmu = root.smmu
        if smmu is None:  # iommu_for: AS2
            out[k] = _SYSTEM_AS2
        elif not (smmu.accel and d.iommufd):  # AS1, or AS3 (only vfio gets AS4)
            out[k] = smmu.placement or _iommu_placement(smmu)
        else:
            out[k] = placement(run, d)
    return out


def smmu_predictions(run: Run) -> dict[str, SmmuPrediction]:
    """Each SMMU's registers, msi-gpa, qom-get view and MMIO base, by key."""
    out: dict[str, SmmuPrediction] = {}
    if not run.smmus:
        return out
    pk = run.b.props
    has_gpa = "msi-gpa" in SCHEMAS[pk]
    has_per_bus = "smmu_per_bus" in SCHEMAS[pk]  # not in 10.1 and older (releases)
    for s in run.smmus:
        plan = s.plan
        if plan is None:
            props = _qom_view(pk, s.props)
        else:
            # the view of the option string's values, then the per-instance ones
            qom = plan.qom
            if qom is None:
                qom = plan.qom = _qom_view(pk, s.props, plan.values)
            props = qom.copy()
            if "identifier" in props:
                props["identifier"] = s.props["identifier"]
        if has_per_bus:
            props["smmu_per_bus"] = s.per_bus
        if has_gpa:
            props["msi-gpa"] = s.msi_gpa
        idr = s.idr
        out[s.id or s.key] = SmmuPrediction(None if idr is None else idr.copy(),
                                            s.msi_gpa if has_gpa else None, props, s.base)
    return out


def _qom_view(pk: str, values: Mapping[str, Any],
              given: Collection[str] | None = None) -> dict[str, Any]:
    """What qom-get shows of an SMMU's properties (schema ``pk``): every property but the
    links, in schema order; a "str" left None reads as "", an "enum" as its text.
    ``given``: the only properties whose values may differ from the defaults."""
    props = _QOM_DEFAULT_VIEW[pk].copy()
    kinds = _QOM_KIND[pk]
    for n in values if given is None else given:
        kind = kinds.get(n)
        if kind is not None:
            v = values[n]
            if kind == "str" and v is None:
                v = ""
            elif kind == "enum" and v.__class__ is not str:
                v = str(v)
            props[n] = v
    return props


# ---------------------------------------------------------------- lazy observables
#: a builder: (run, events, their results) -> (the Prediction field's value, the rules
#: that decided it as (rule id, detail) pairs, in firing order)
Builder = Callable[[Run, Sequence[Event], Sequence[EventResult]],
                   tuple[Any, list[tuple[str, str]]]]


def _iort(run: Run, events: Sequence[Event], results: Sequence[EventResult]
          ) -> tuple[Any, list[tuple[str, str]]]:
    """§8 O1-O4: the IORT of the started machine."""
    nrs = {"pcie.0": 0}
    for d in run.cl.devices:  # pxb-pcie cannot be hot-plugged: the command line has them
        b = run.buses.get(d.id or "")
        if b is not None and b.pxb:
            try:
                nrs[b.name] = int(str(d.props.get("bus_nr", "0")), 0)
            except ValueError:
                nrs[b.name] = 0
    items = []
    for s in run.smmus:
        legacy = s.key == "legacy" and s.id is None
        if legacy:  # newest root bus first (TCG✔: the pxb's ID map before pcie.0's)
            buses = tuple(nrs.get(b.name, 0) for b in reversed(run.buses.values())
                          if b.is_root and not b.bypass)
        else:
            buses = (nrs.get(s.bus_name, 0),) if s.bus_name is not None else ()
        ats = s.props.get("ats") in (True, "on") if s.idr is None else bool(
            s.idr.get("IDR0", 0) >> 10 & 1)
        items.append(iort_rules.IortSmmu(s.base or 0, legacy, s.accel, ats, buses,
                                         _bus_ranges(run, s, legacy, buses)))
    rb = run.b  # the releases before 10.2 differ (rules/releases.py)
    pred, fired = iort_rules.build(rb.iort_revision, run.msi_ctrl == "its", items,
                                   its_always=rb.iort_its_always,
                                   legacy_counter=rb.iort_legacy_counter_id,
                                   map_count=rb.iort_smmu_map_count)
    return pred, [(r, "") for r in fired]


def _bus_ranges(run: Run, s: Smmu, legacy: bool, buses: tuple[int, ...]
                ) -> tuple[tuple[int, int], ...]:
    """``pci_bus_range`` of the SMMU's root buses before firmware: a bridge on a root
    bus reads secondary = subordinate = 0 (rules/iort.py ``IortSmmu.ranges``)."""
    names = ([b.name for b in reversed(run.buses.values()) if b.is_root and not b.bypass]
             if legacy
             else [s.bus_name] if s.bus_name is not None else [])
    out = []
    for name, nr in zip(names, buses, strict=True):
        bridged = any(d.bus.name == name and traits(run.types, d.driver).is_bridge
                      for d in run.devs.values() if d.cold)
        out.append((0, nr) if bridged else (nr, nr))
    return tuple(out)


#: observable name -> builder, in the order predict() runs them
BUILDERS: dict[str, Builder] = {
    "iort": _iort,
    "trace": trace_rules.build,
}
