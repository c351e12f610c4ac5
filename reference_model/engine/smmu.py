"""Phase 5 for an ``arm-smmuv3``: object creation, properties, pre_plug, realize, plug.

In QEMU's order (``qdev_device_add`` -> ``virt_machine_device_pre_plug_cb`` ->
``smmu_base_realize``/``smmuv3_realize`` -> ``virt_machine_device_plug_cb``):

1. the object with its defaults, then matching ``-global`` values
   (:func:`new_object_props`, shared with every other device: only arm-smmuv3's
   properties are modelled, other types just use up their ``-global`` options);
2. the ``-device`` properties in QDict bucket order, up to the first error; an option
   string is parsed once per profile into a :class:`~.memo.PropPlan`;
3. pre_plug (P3, P1, P11 by profile), msi-gpa when set there, then §2a validation and
   the migration blocker (P14);
4. realize: the primary bus (P6-P8), then the ID registers (§2b, memoised by the
   values they read: :func:`init_smmu`);
5. plug: P9, P11, P10 (DT mode), msi-gpa when set there; virt's identifier and MMIO
   base.

The checks themselves are :mod:`..rules.preconditions`; this module keeps the order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..machine import Smmu
from ..qom import TYPE_ARM_SMMUV3
from ..rules import idregs, msi, preconditions
from ..rules.properties import (
    PARSE_RULE,
    R_IDENT,
    R_SMMU_COMPAT,
    SCHEMAS,
    SMMU_COMPAT_11_0,
    PropSpec,
    parse_value,
    qdict_order,
)
from ..rules.qdev import R_GLOBAL, R_QDEV
from .memo import INITS, PROP_PLANS, PropPlan
from .run import DevError, Run

__all__ = ["DEFAULTS", "add_smmu", "init_smmu", "new_object_props", "set_msi_gpa"]

#: per property schema: the default values
DEFAULTS = {k: {n: sp.default for n, sp in v.items()} for k, v in SCHEMAS.items()}
_INDEX_TEXT = tuple(str(i) for i in range(64))


def new_object_props(run: Run, driver: str) -> dict[str, Any]:
    """instance creation: defaults, then matching -global values."""
    schema = SCHEMAS[run.b.props]
    props: dict[str, Any] = DEFAULTS[run.b.props].copy()
    if run.smmu_compat and driver == TYPE_ARM_SMMUV3:
        run.fire(R_SMMU_COMPAT.id)
        props.update(SMMU_COMPAT_11_0)
    if not run.cl.globals:
        return props
    anc = run.types.ancestors(driver)
    for i, (gdrv, gprop, gval, _text) in enumerate(run.cl.globals):
        if gdrv not in anc:
            continue
        run.globals_used.add(i)
        if driver != TYPE_ARM_SMMUV3:
            continue
        spec = schema.get(gprop)
        try:
            if spec is None:
                raise ValueError(run.m["Q.prop-not-found"].format(type=gdrv, prop=gprop))
            props[gprop] = _parse_prop(run, spec, gval)
        except ValueError as e:
            run.fire(R_GLOBAL.id)
            raise DevError(run.m["Q.global"].format(text=f"{gdrv}.{gprop}={gval}",
                                                    error=e), R_GLOBAL.id) from None
    return props


def _parse_prop(run: Run, spec: PropSpec, value: str) -> Any:
    if spec.kind == "link":
        if value not in run.buses:
            raise ValueError(run.m["Q.dev-not-found"].format(name=value))
        return value
    return parse_value(spec, value)


def set_msi_gpa(run: Run, s: Smmu, phase: str) -> None:
    """M2: virt programs the MSI doorbell into an accel SMMU (in ``phase``, by profile)."""
    if s.accel and run.b.msi_gpa_phase == phase:
        s.msi_gpa = msi.msi_gpa(run.msi_ctrl, run.b.msi_gpa_rule)
        run.fire(msi.msi_gpa.id, f"{run.msi_ctrl} -> 0x{s.msi_gpa:x}")


def init_smmu(run: Run, s: Smmu) -> None:
    """smmuv3_init_id_regs, the accel overrides and 'auto' mode: a function of a few
    property values, memoised by them (a property present always has a value, so
    None in the key means absent)."""
    g = s.props.get
    key = (run.b.auto_mode, s.accel, g("stage"), g("ril"), g("ats"), g("oas"),
           g("ssidsize"), g("pasid"))
    init = INITS.get(key)
    if init is None:
        if len(INITS) > 4096:
            INITS.clear()
        init = INITS[key] = _init_values(run, s.props, s.accel)
    idr, changed, auto_mode = init
    if changed:
        run.fire(idregs.accel_override.id, changed)
    s.auto_mode = auto_mode
    s.idr = idr.copy()


def _init_values(run: Run, p: Mapping[str, Any], accel: bool
                 ) -> tuple[dict[str, int], str, bool]:
    idr = idregs.init_id_regs(p.get("stage"))
    changed = ""
    auto_mode = False
    if accel:
        changed = ", ".join(idregs.accel_override(idr, p))
        # 'auto' mode: P15's machine-done check is armed; oas=auto counts too
        # (nested tier, docs/findings.md S4: only oas left auto still exits)
        auto_mode = run.b.auto_mode and any(
            p.get(k) == "auto" for k in ("ats", "ril", "ssidsize", "oas"))
    return idr, changed, auto_mode


def _prop_plan(run: Run, driver: str, props: Mapping[str, str]) -> PropPlan:
    """Parse the properties of one ``-device arm-smmuv3`` in QDict order, up to the
    first error; the ``link`` ones are only collected (they name buses, which exist
    or not depending on the command line around them)."""
    schema = SCHEMAS[run.b.props]
    values: dict[str, Any] = {}
    links: list[tuple[str, str]] = []
    fail: tuple[str, str] | None = None
    for k in qdict_order(tuple(props)):
        spec = schema.get(k)
        if spec is None:
            fail = R_QDEV.id, run.m["Q.prop-not-found"].format(type=driver, prop=k)
            break
        v = props[k]
        if spec.kind == "link":
            links.append((k, v))
            continue
        try:
            values[k] = parse_value(spec, v)
        except ValueError as e:
            fail = PARSE_RULE.id, str(e)
            break
    return PropPlan(values, tuple(links), fail)


def add_smmu(run: Run, driver: str, props: Mapping[str, str], id: str | None,
             optstring: str, from_opt: bool) -> tuple[str, str]:
    """An arm-smmuv3 (``from_opt``: ``props`` are those of ``optstring``, so their
    parse is memoised per option string and profile)."""
    # pure: the properties are the option string's alone (no -global), so what is
    # derived from them alone is kept on its plan
    pure = from_opt and not run.cl.globals and not run.smmu_compat
    if not pure:
        p = new_object_props(run, driver)
    if from_opt:
        pkey = (run.p.name, optstring)
        plan = PROP_PLANS.get(pkey)
        if plan is None:
            if len(PROP_PLANS) > 4096:
                PROP_PLANS.clear()
            plan = PROP_PLANS[pkey] = _prop_plan(run, driver, props)
    else:
        plan = _prop_plan(run, driver, props)
    for _k, v in plan.links:  # in QDict order, all before any other failure
        if v not in run.buses:
            run.fire(PARSE_RULE.id)
            raise DevError(run.m["Q.dev-not-found"].format(name=v), PARSE_RULE.id)
    if plan.fail is not None:
        rid, text = plan.fail
        run.fire(rid)
        raise DevError(text, rid)
    if pure:
        # the defaults with the option string's values (kept on the plan), then links
        merged = plan.merged
        if merged is None:
            merged = plan.merged = {**DEFAULTS[run.b.props], **plan.values}
        p = merged.copy()
    else:
        p.update(plan.values)
    if plan.links:
        p.update(plan.links)
    s = Smmu(id or run.key_for(id, driver), id, p)
    if pure:
        s.plan = plan
    fail = preconditions.pre_plug(run.b, accel=s.accel, legacy=run.legacy,
                                  virtio_iommu=run.virtio_iommu, kvm=run.kvm,
                                  irqchip=run.irqchip, stage=p.get("stage"),
                                  is_legacy_dev=False)
    if fail is not None and fail[0] == preconditions.P3.id and s.accel and \
            run.b.kvm_check and not (run.kvm and run.irqchip):
        run.fire(preconditions.P3_CRASH.id)
    if fail is None:
        s.per_bus = True  # virt: the SMMU is specific to its PCI bus
        p["smmu_per_bus"] = True
        if s.accel:
            set_msi_gpa(run, s, "pre_plug")
        om = run.cl.only_migratable
        if not pure:
            fail = preconditions.validate(run.b, p, om)
        elif om in plan.valid:
            fail = plan.valid[om]
        else:
            fail = plan.valid[om] = preconditions.validate(run.b, p, om)
    if fail is None:
        prim = p.get("primary-bus")
        pbus = run.buses.get(prim) if prim else None
        fail = preconditions.realize_bus(
            prim, pbus is not None and pbus.is_root,
            pbus is not None and pbus.smmu is not None)
    if fail is not None:
        raise DevError(run.fmt(fail), fail[0])
    assert pbus is not None
    init_smmu(run, s)
    if s.accel:
        set_msi_gpa(run, s, "plug")
    fail, warn = preconditions.plug(run.b, accel=s.accel, stage=p.get("stage"),
                                    bypass=pbus.bypass, dt_mode=run.dt_mode,
                                    on_pcie0=pbus.name == "pcie.0")
    if fail is not None:
        raise DevError(run.fmt(fail), fail[0])
    if warn is not None:
        run.fire(preconditions.P10W.id)
        run.warnings.append(f"-device {optstring}: {run.m[warn]}")
    pbus.smmu = s
    s.bus_name = pbus.name
    if "identifier" in p:
        # virt overwrites any user-given identifier with the SMMU's IORT node id: its
        # creation index, after the ITS group (node 0) when the board has an ITS
        # (docs/findings.md S3; TCG: 7,9 -> 0,1,2 on GICv2, 1,2 on GICv3)
        ident = run.smmu_index + (run.msi_ctrl == "its")
        run.fire(R_IDENT.id, _INDEX_TEXT[ident] if ident < 64 else str(ident))
        p["identifier"] = ident
    run.smmu_index += 1
    s.base = run.next_base
    run.next_base += 0x20000
    if id:
        run.ids[id] = None
    run.smmus.append(s)
    if s.accel:
        run.accel_smmus += 1
    return s.key, ""
