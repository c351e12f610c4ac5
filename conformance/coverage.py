"""What the suite covers: catalogue rows x tiers, derived from runs.

Nothing here is declared per rule: the ``predicted`` flag of a model rule
(:class:`reference_model.rules.Rule`) is ignored.  Each cell of the matrix says what the
*evidence* (:mod:`conformance.evidence`, the results files that runs write) shows for one
catalogue row on one tier:

``confirmed``
    a run on that tier compared a decision of the row's model rules with what QEMU did
    and they agreed (``pass``; ``unexpected-pass``, a recorded bug that no longer
    shows; or the fields of an ``expected-nonconformance`` outside its recorded bug):
    the record's ``compared`` rows (:func:`conformance.evidence.compared_rows`).  The
    cell names the scenarios and the QEMU builds (version + sha256).  A row the model
    has no rule for can only be confirmed *as declared* (a scenario lists it and its
    whole prediction matched), marked ``*``.
``contradicted``
    QEMU differed from the model on a scenario whose primary (first) row it is: a
    recorded QEMU bug (``expected-nonconformance``, with its reason) or a new
    ``nonconformance``.
``unreachable``
    no evidence, and this machine cannot produce any: the tier is unavailable here
    (its host's reason), the tier lacks a feature the row needs (the tier's declared
    reason, :data:`TIER_LACKS`), the host SMMU the tier offers can never make the row's
    check fire (derived from the model's own tables, :func:`host_check_reachability`),
    or every scenario of the row was skipped in the results (the skip reasons).
``predicted``
    the model has rules for the row, but no run on this tier shows them.
``unmodelled``
    neither evidence nor a model rule (a catalogue row nothing predicts yet).

The catalogue's own statement of what each row needs (§9 of the behaviour reference:
KVM, a VFIO device with iommufd, a guest that programs the vSMMU, ...) is
:data:`ROW_NEEDS`; what each tier cannot offer, and why, is :data:`TIER_LACKS`.
"""

from __future__ import annotations

import importlib
import itertools
import pkgutil
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import reference_model.engine
import reference_model.rules
from catalogue.scenario import HostSmmu, load_catalogue
from catalogue.vocabulary import section_of as sec
from conformance.evidence import Build, Evidence
from conformance.tiers import host_for
from conformance.tiers.nested.machine import machine_args
from reference_model import predict
from reference_model.rules import host_compat
from reference_model.rules.idregs import get

STATES = ("confirmed", "contradicted", "unreachable", "predicted", "unmodelled")
TIERS = ("tcg", "kvm", "nested", "hw")
CONFIRMING = frozenset({"pass", "unexpected-pass"})
CONTRADICTING = frozenset({"nonconformance", "expected-nonconformance"})

#: the behaviour rows of the catalogue (docs: the behaviour reference), in its order.
#: History-only rows (AS5, M6, M7, §10) are left out: nothing can observe them.
CATALOGUE_ROWS: tuple[str, ...] = (
    "P1", "P1a", "P3", "P4", "P5", "P6", "P7", "P8", "P9", "P10", "P11", "P12", "P13",
    "P14", "P15", "P16",
    "2a", "2b",
    "A1", "A2", "A3", "A4", "A6", "A7", "A8",
    "AS1", "AS2", "AS3", "AS4",
    "H0", "H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8", "H9", "H10", "H11",
    "5a", "5b", "5c",
    "M1", "M2", "M3", "M4", "M5",
    "7a", "7b",
    "O1", "O2", "O3", "O4", "O5", "O7", "O8", "O9", "O10", "O11",
    "F",
)

#: what a row needs to be observed at all (catalogue §9 "Test tiers"), first match wins.
#: Features: ``kvm`` (accel=on past P1), ``vfio-iommufd`` (a passed-through device with
#: an iommufd backend behind a host SMMUv3 with nesting), ``guest`` (a guest that
#: programs the vSMMU: STEs, CMDQ, MSI), ``guest-acpi`` (ACPI tables read by a guest,
#: since -qtest cannot be combined with KVM), ``cmdqv`` (a Tegra241 CMDQV host),
#: ``host-events`` (a host SMMU raising events), ``accel-less-build`` (a QEMU built
#: without CONFIG_ARM_SMMUV3_ACCEL).
ROW_NEEDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"^P13$", ("accel-less-build",)),
    (r"^P1[146]$", ("kvm",)),
    (r"^P15$", ("kvm",)),
    (r"^A[134]$|^AS3$|^AS4$", ("kvm",)),
    (r"^A[27]$|^H\d+$|^5[ab]$|^O1[01]$", ("kvm", "vfio-iommufd")),
    (r"^A8$|^7b$", ("kvm", "vfio-iommufd", "cmdqv")),
    (r"^5c$|^7a$|^M[15]$", ("kvm", "vfio-iommufd", "guest")),
    (r"^M4$", ("guest",)),  # the control group's emulated device (guest-ctl-msi-walk)
    (r"^M2$", ("kvm",)),
    (r"^O[25]$|^M3$", ("kvm", "guest-acpi")),
    (r"^O8$", ("guest",)),
    (r"^O9$", ("kvm", "vfio-iommufd", "guest", "host-events")),
)

#: feature -> why the tier cannot offer it (declarations about the tier, not the rows)
TIER_LACKS: dict[str, dict[str, str]] = {
    "tcg": {
        "kvm": ("QEMU refuses accel=on under TCG before any other check (P1: 'SMMUv3 "
                "accel=on requires KVM with kernel-irqchip=on support')"),
        "accel-less-build": ("the QEMU under test has CONFIG_ARM_SMMUV3_ACCEL (P13's "
                             "message is not in Debian's 11.1.3 binary)"),
    },
    "nested": {
        "cmdqv": ("L0's SMMUv3 is QEMU's emulated one: L1's kernel offers no Tegra241 "
                  "CMDQV (L2 says 'CMDQV requested but not supported', docs/nested.md)"),
        "accel-less-build": ("the nested tier runs the arm64 QEMU 11.1.3 in the L1 image, "
                             "which has CONFIG_ARM_SMMUV3_ACCEL"),
    },
    "kvm": {},
    "hw": {},
}


# ----------------------------------------------------------------------------- model
def load_rules() -> Mapping[str, Any]:
    """Every model rule (all ``reference_model.rules`` modules imported)."""
    pkg = reference_model.rules
    for m in pkgutil.iter_modules(pkg.__path__):
        importlib.import_module(f"{pkg.__name__}.{m.name}")
    return pkg.RULES


def needs_of(row: str) -> tuple[str, ...]:
    for pattern, needs in ROW_NEEDS:
        if re.match(pattern, row):
            return needs
    return ()


def section_of(row: str) -> str:

    return sec([row])


# ----------------------------------------------------------------------------- host SMMU
def l0_host_smmu() -> Any:
    """The host SMMUv3 the nested tier's L2 sees: L0's machine SMMUv3, as the model
    predicts it for L0's own command line (``conformance.tiers.nested.machine``)."""

    p = predict(machine_args("QEMU_EFI.fd"))
    idr = (p.smmus or {}).get("legacy")
    if idr is None or idr.idr is None:
        return None
    r = idr.idr
    return HostSmmu(idr0=r["IDR0"], idr1=r["IDR1"], idr3=r["IDR3"], idr5=r["IDR5"])


#: tier -> the host SMMUv3 that tier's VFIO devices sit behind (None: any, or none)
TIER_HOST_SMMU: dict[str, Callable[[], Any]] = {"nested": l0_host_smmu}

#: the vSMMU property values accel=on accepts explicitly (§2a), for the reachability scan
_VSMMU_CHOICES = {"ats": ("on", "off"), "ril": ("on", "off"), "oas": ("44", "48"),
                  "ssidsize": tuple(str(i) for i in range(21))}


def vsmmu_idrs() -> list[dict[str, int]]:
    """The ID registers of every explicit accel=on configuration, as the model predicts."""

    out = []
    keys = list(_VSMMU_CHOICES)
    for values in itertools.product(*(_VSMMU_CHOICES[k] for k in keys)):
        props = ",".join(f"{k}={v}" for k, v in zip(keys, values, strict=True))
        p = predict(["-M", "virt", "-accel", "kvm", "-cpu", "host", "-bios", "fw",
                     "-device", f"arm-smmuv3,primary-bus=pcie.0,accel=on,{props},cmdqv=off"])
        for s in (p.smmus or {}).values():
            if s.idr is not None:
                out.append(s.idr)
    return out


def host_check_reachability(host: Any) -> dict[str, str | None]:
    """Host-check row (``H0``...``H11``) -> why it can never fire with ``host``, or None.

    Uses the model's own check table (``reference_model.rules.host_compat.CHECKS``) and
    the ID registers the model predicts for every explicit accel=on configuration.
    """

    out: dict[str, str | None] = {}
    hidr = host_compat.host_idr(host)
    regs = ", ".join(f"{k}=0x{v:08x}" for k, v in hidr.items())
    out["H0"] = (None if host.info_type != 2 else
                 f"the host SMMU reports IOMMU_HW_INFO_TYPE_ARM_SMMUV3 (2) ({regs}): H0 "
                 "needs another hw_info type")
    configs = vsmmu_idrs()
    for hid, fld, bad in host_compat.CHECKS:
        hv = get(hidr, fld)
        seen = sorted({get(q, fld) for q in configs})
        if any(bad(hv, q) for q in seen):
            out[hid] = None
        else:
            out[hid] = (f"the host SMMU ({regs}) has {fld}={hv} and every accel=on "
                        f"configuration gives {fld} in {{{', '.join(map(str, seen))}}}: "
                        f"{hid}'s check cannot fail")
    return out


# ----------------------------------------------------------------------------- machine
@dataclass(frozen=True)
class TierHere:
    """A tier on this machine: ``None`` if it can run, else why not; missing features."""

    unavailable: str | None = None
    missing: Mapping[str, str] = field(default_factory=dict)


def machine_tiers(tiers: Sequence[str] = TIERS) -> dict[str, TierHere]:
    """Ask each tier's host (no QEMU is started) whether it can run here."""

    out = {}
    for t in tiers:
        try:
            host = host_for(t, "qemu-system-aarch64")
            why = host.unavailable_reason()
        except Exception as e:  # a tier that cannot even be set up is unavailable
            out[t] = TierHere(f"{type(e).__name__}: {e}")
            continue
        missing: dict[str, str] = {}
        if why is None:
            for feat in ("vfio-iommufd",):
                m = host.missing_requirement(feat)
                if m:
                    missing[feat] = m
        out[t] = TierHere(why, missing)
    return out


# ----------------------------------------------------------------------------- matrix
@dataclass
class Cell:
    state: str
    confirmed_by: list[tuple[str, str]] = field(default_factory=list)  # (scenario, build)
    contradicted_by: list[tuple[str, str, str]] = field(default_factory=list)  # +reason
    reason: str = ""
    declared_only: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason,
                "declared_only": self.declared_only,
                "confirmed_by": [{"scenario": s, "build": b} for s, b in self.confirmed_by],
                "contradicted_by": [{"scenario": s, "build": b, "reason": r}
                                    for s, b, r in self.contradicted_by]}

    @property
    def short(self) -> str:
        if self.state == "confirmed":
            return f"confirmed{'*' if self.declared_only else ''}({len(self.confirmed_by)})"
        if self.state == "contradicted":
            return f"CONTRADICTED({len(self.contradicted_by)})"
        return self.state


@dataclass
class RowCoverage:
    row: str
    section: str
    rules: list[str]
    needs: tuple[str, ...]
    cells: dict[str, Cell]


@dataclass
class Matrix:
    tiers: tuple[str, ...]
    rows: list[RowCoverage]
    #: rule id -> tier -> "confirmed" / "contradicted" -> scenarios
    rules: dict[str, dict[str, dict[str, list[str]]]]
    builds: list[Build]

    def counts(self) -> dict[str, Counter[str]]:
        out = {t: Counter[str]() for t in self.tiers}
        for r in self.rows:
            for t, c in r.cells.items():
                out[t][c.state] += 1
        return out

    def confirmed_rules(self, tier: str | None = None) -> list[str]:
        return sorted(rid for rid, per in self.rules.items()
                      if any(ev.get("confirmed") for t, ev in per.items()
                             if tier is None or t == tier))

    def to_dict(self) -> dict[str, Any]:
        return {
            "tiers": list(self.tiers),
            "counts": {t: dict(c) for t, c in self.counts().items()},
            "builds": [{"version": b.version, "sha256": b.sha256, "path": b.path}
                       for b in self.builds],
            "rows": [{"row": r.row, "section": r.section, "rules": r.rules,
                      "needs": list(r.needs),
                      "cells": {t: c.to_dict() for t, c in r.cells.items()}}
                     for r in self.rows],
            "rules": self.rules,
        }


#: rows the model decides in a structured field without a rule firing (each device's
#: ``DevicePrediction.rule`` holds the row; the ID registers hold nothing): the rule
#: that decides that row under the default profile, confirmed when the field matched
FIELD_ROW_RULES = {"AS1": "AS1.iommu", "AS2": "AS2.system", "AS3": "AS3.accel-iommu",
                   "AS4": "AS4.accel-sysmem", "A6": "A6.per-bus", "2b": "2b.defaults",
                   "A1": "A1.bridge", "A2": "A2.vfio-iommufd"}
DEFAULT_PROFILE = "qemu-11.1"


#: the runner's skip reason for a scenario that does not list the tier
_NOT_LISTED = re.compile(r"^tier '[^']+' cannot show this scenario")


def _row_order(rows: Iterable[str]) -> list[str]:
    known = {r: i for i, r in enumerate(CATALOGUE_ROWS)}
    return sorted(set(rows), key=lambda r: (known.get(r, len(known)), r))


def build_matrix(records: Sequence[Evidence], *, tiers: Sequence[str] = TIERS,
                 here: Mapping[str, TierHere] | None = None,
                 rules: Mapping[str, Any] | None = None,
                 scenario_rows: Iterable[str] = (),
                 host_smmus: Mapping[str, Any] | None = None) -> Matrix:
    """The coverage matrix of ``records`` (a pure function of its arguments).

    ``here``: each tier's availability on this machine (:func:`machine_tiers`);
    ``rules``: the model's rule registry (:func:`load_rules`); ``scenario_rows``: rows
    the catalogue's scenarios declare (so a row only scenarios know still shows);
    ``host_smmus``: tier -> host SMMU its VFIO devices see (:data:`TIER_HOST_SMMU`).
    """
    rules = load_rules() if rules is None else rules
    here = here or {}
    rule_rows: dict[str, list[str]] = {}
    for rid, r in rules.items():
        rule_rows.setdefault(r.row, []).append(rid)
    all_rows = _row_order([*CATALOGUE_ROWS, *rule_rows, *scenario_rows,
                           *(x for rec in records for x in rec.rows)])
    reach = {t: host_check_reachability(h) for t, h in (host_smmus or {}).items()
             if h is not None and t in tiers}

    confirmed: dict[tuple[str, str], list[tuple[str, str]]] = {}
    declared: set[tuple[str, str]] = set()
    contradicted: dict[tuple[str, str], list[tuple[str, str, str]]] = {}
    skipped: dict[tuple[str, str], list[str]] = {}
    rule_ev: dict[str, dict[str, dict[str, list[str]]]] = {}
    builds: dict[tuple[str, str], Build] = {}
    for rec in records:
        if rec.status == "skipped":
            if _NOT_LISTED.match(rec.reason):
                continue  # the scenario is for other tiers: says nothing about this one
            for row in rec.rows:
                skipped.setdefault((row, rec.tier), []).append(rec.reason)
            continue
        if rec.status not in CONFIRMING | CONTRADICTING:
            continue  # infra-error: says nothing about QEMU
        if rec.build.version or rec.build.sha256:  # one build per executable
            builds.setdefault(("", rec.build.sha256) if rec.build.sha256 else
                              (rec.build.version, ""), rec.build)
        fired_rows: dict[str, list[str]] = {}
        for rid in rec.rules:
            r = rules.get(rid)
            if r is not None:
                fired_rows.setdefault(r.row, []).append(rid)
        bad = rec.status in CONTRADICTING
        primary = rec.primary_row
        if bad and primary is not None:
            contradicted.setdefault((primary, rec.tier), []).append(
                (rec.scenario, rec.build.label, rec.reason))
            for rid in fired_rows.get(primary, []):
                rule_ev.setdefault(rid, {}).setdefault(rec.tier, {}).setdefault(
                    "contradicted", []).append(rec.scenario)
        if rec.status == "nonconformance":
            continue  # which field differed is not tied to a row: no other claim
        # everything compared matched (an expected-nonconformance differs only on its
        # recorded fields, charged to its primary row above)
        for row in dict.fromkeys([*rec.compared, *rec.rows]):
            if bad and row == primary:
                continue
            key = (row, rec.tier)
            if row in rec.compared:
                confirmed.setdefault(key, []).append((rec.scenario, rec.build.label))
                by_field = FIELD_ROW_RULES.get(row, "")
                extra = ([by_field] if by_field in rules and by_field not in fired_rows.get(
                    row, []) and rec.profile in ("", DEFAULT_PROFILE) else [])
                for rid in [*fired_rows.get(row, []), *extra]:
                    rule_ev.setdefault(rid, {}).setdefault(rec.tier, {}).setdefault(
                        "confirmed", []).append(rec.scenario)
            elif row not in rule_rows:  # declared, and the model has no rule for it
                confirmed.setdefault(key, []).append((rec.scenario, rec.build.label))
                declared.add(key)

    out_rows = []
    for row in all_rows:
        needs = needs_of(row)
        cells = {}
        for t in tiers:
            key = (row, t)
            if key in contradicted:
                cells[t] = Cell("contradicted", confirmed.get(key, []), contradicted[key])
            elif key in confirmed:
                # a row without model rules is confirmed only as declared
                cells[t] = Cell("confirmed", confirmed[key], declared_only=key in declared)
            else:
                why = _unreachable(row, t, needs, here.get(t), reach.get(t), skipped.get(key))
                if why is not None:
                    cells[t] = Cell("unreachable", reason=why)
                elif row in rule_rows:
                    cells[t] = Cell("predicted", reason="no run on this tier shows it")
                else:
                    cells[t] = Cell("unmodelled", reason="no model rule and no evidence")
        out_rows.append(RowCoverage(row, section_of(row), sorted(rule_rows.get(row, [])),
                                    needs, cells))
    return Matrix(tuple(tiers), out_rows, rule_ev, sorted(builds.values(),
                                                          key=lambda b: b.label))


def _unreachable(row: str, tier: str, needs: tuple[str, ...], here: TierHere | None,
                 reach: Mapping[str, str | None] | None,
                 skips: list[str] | None) -> str | None:
    lacks = TIER_LACKS.get(tier, {})
    for feat in needs:
        if feat in lacks:
            return f"{tier} lacks {feat}: {lacks[feat]}"
    if here is not None and here.unavailable:
        return f"tier unavailable here: {here.unavailable}"
    if here is not None:
        for feat in needs:
            if feat in here.missing:
                return f"needs {feat}: {here.missing[feat]}"
    if reach is not None and reach.get(row):
        return str(reach[row])
    if skips:
        common = Counter(skips).most_common()
        return "every run was skipped: " + "; ".join(
            f"{why} ({n}x)" if n > 1 else why for why, n in common[:3])
    return None


def matrix_for(records: Sequence[Evidence], tiers: Sequence[str] = TIERS,
               here: Mapping[str, TierHere] | None = None) -> Matrix:
    """The matrix for ``records`` on this machine, with the shipped catalogue's rows."""

    rows = {r for s in load_catalogue() for r in s.rows}
    smmus = {}
    for t, f in TIER_HOST_SMMU.items():
        try:
            smmus[t] = f()
        except Exception:  # the model cannot say: no derived reason, no harm
            smmus[t] = None
    return build_matrix(records, tiers=tiers,
                        here=machine_tiers(tiers) if here is None else here,
                        scenario_rows=rows, host_smmus=smmus)
