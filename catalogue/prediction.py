"""The shape of a prediction, and of an observation.

The reference model answers "what will QEMU do with this command line and these QMP
events?" with a :class:`Prediction`.  The conformance harness normalises what it saw a
real QEMU do into the *same* class, so that comparing the two is a plain field-by-field
diff (:func:`diff`).

Field conventions
-----------------
``error`` and ``warnings`` hold the text QEMU prints *after* the program-name prefix:
QEMU prints ``qemu-system-aarch64: -device arm-smmuv3,accel=on: SMMUv3 accel=on ...``;
the prediction holds ``-device arm-smmuv3,accel=on: SMMUv3 accel=on ...``.  Warning
lines keep QEMU's ``warning: `` marker, after any location prefix.

``devices`` is keyed by the ``id=`` of each PCI device (``-device ...,id=X`` or the id
given to ``device_add``).  A device without an id is keyed by its QOM type name (the
host bridge's PCI function is ``gpex-root``); scenarios give ids to every device whose
address space they care about.

Address-space kinds (catalogue §4):

``system``
    ``address_space_memory``: the device is not behind any SMMU (AS2, A6).
``iommu``
    the SMMU's per-device IOMMU address space (AS1, AS3).
``accel-sysmem``
    the shared ``smmuv3-accel-as-sysmem`` alias of system memory (AS4).

Register values are plain ``int``; JSON renders them as numbers, and the human
renderings print them in hex.

A field set to ``None`` means "the model makes no claim" (for a prediction) or "was not
observed" (for an observation); :func:`diff` compares only fields that both sides fill.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["starts", "exits"]
AddressSpaceKind = Literal["system", "iommu", "accel-sysmem"]
ADDRESS_SPACE_KINDS: tuple[AddressSpaceKind, ...] = ("system", "iommu", "accel-sysmem")


@dataclass(frozen=True)
class RuleFiring:
    """One model rule that decided part of a prediction.

    ``rule`` is the rule's function-level id (e.g. ``P1.kvm-irqchip``), ``row`` the
    catalogue row it implements (``P1``, ``A4``, ``AS3`` ...), ``source`` the revision the
    behaviour comes from (``v6``, ``merged``, ``11.1``...), and ``predicted`` is true when
    the catalogue marks the row PRED (seen in source only, never observed).
    """

    rule: str
    row: str
    source: str
    predicted: bool = False
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DevicePrediction:
    """Where one PCI device's DMA goes.

    A value: frozen, so the model shares one instance between the devices (and the
    predictions) that have the same placement instead of building one per device."""

    address_space: AddressSpaceKind
    smmu: str | None = None  # id of the SMMU it sits behind (None: behind none)
    rule: str = ""  # catalogue row that decided it


@dataclass(slots=True)  # slots: built for every prediction
class SmmuPrediction:
    """One ``arm-smmuv3`` instance (or the legacy ``iommu=smmuv3`` one, id ``legacy``)."""

    idr: dict[str, int] | None = None  # IDR0, IDR1, IDR3, IDR5 (+ others when known)
    msi_gpa: int | None = None
    properties: dict[str, Any] | None = None  # qom-get values, QMP-typed (bool/str/int)
    base: int | None = None  # MMIO base address


@dataclass(slots=True)  # slots: built for every prediction
class EventResult:
    """What one QMP event (``device_add`` / ``device_del``) returned."""

    op: str  # "device_add" | "device_del" | "system_reset"
    id: str | None
    ok: bool
    error_class: str | None = None
    error_desc: str | None = None
    rule: str = ""


@dataclass
class IortPrediction:
    """The ACPI IORT table (catalogue §8 O1-O4), as QEMU builds it at machine start.

    ``smmu_nodes`` are in table order, each ``{"base", "gsiv" ([event, PRI, GERR, sync]),
    "identifier", "flags"}``; ``rc_id_mappings`` are the root complex node's ID mappings
    in table order, each ``{"input", "count", "output", "target"}`` where ``count`` is the
    IORT "number of IDs" (range length minus one) and ``target`` names the output node:
    ``"its"`` or ``"smmu@0x<base>"``.  ``rmr_nodes`` (O2, accel only) are
    ``{"smmu", "input", "count", "ranges" ([[base, length], ...])}``.
    """

    revision: int
    node_count: int
    its_present: bool
    smmu_nodes: list[dict[str, Any]] = field(default_factory=list)
    rc_ats: int = 0
    rc_id_mappings: list[dict[str, Any]] = field(default_factory=list)
    rmr_nodes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TracePrediction:
    """QEMU trace events (catalogue §0 "Traces", O7, AS1), observed with ``-trace``.

    Each list has one entry per *phase*: index 0 is machine start (everything traced
    before the QMP greeting), index ``i`` the scenario's ``i``-th QMP event.  An entry
    ``None`` makes no claim about that phase; a field ``None`` none at all.

    ``add_mr`` holds the ``smmu_add_mr`` arguments (IOMMU memory-region names,
    ``smmuv3-iommu-memory-region-<devfn>-<n>``) in trace order; ``reset_exit`` the
    number of ``smmu_reset_exit`` lines (the event has no argument naming the SMMU).
    """

    add_mr: list[list[str] | None] | None = None
    reset_exit: list[int | None] | None = None


@dataclass(slots=True)  # slots: built for every prediction
class Prediction:
    """Everything the model predicts, or the harness observed, for one scenario."""

    outcome: Outcome
    exit_code: int | None = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    devices: dict[str, DevicePrediction] | None = None
    smmus: dict[str, SmmuPrediction] | None = None
    events: list[EventResult] | None = None
    rules: list[RuleFiring] = field(default_factory=list)
    profile: str = ""
    iort: IortPrediction | None = None  # only when the scenario observes "iort"
    trace: TracePrediction | None = None  # only when the scenario observes "trace"

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Prediction:
        devices = d.get("devices")
        smmus = d.get("smmus")
        events = d.get("events")
        iort = d.get("iort")
        trace = d.get("trace")
        return cls(
            outcome=d["outcome"],
            exit_code=d.get("exit_code"),
            error=d.get("error"),
            warnings=list(d.get("warnings", [])),
            devices=None
            if devices is None
            else {k: DevicePrediction(**v) for k, v in devices.items()},
            smmus=None if smmus is None else {k: SmmuPrediction(**v) for k, v in smmus.items()},
            events=None if events is None else [EventResult(**e) for e in events],
            rules=[RuleFiring(**r) for r in d.get("rules", [])],
            profile=d.get("profile", ""),
            iort=None if iort is None else IortPrediction(**iort),
            trace=None if trace is None else TracePrediction(**trace),
        )


# ------------------------------------------------------------------ diff
@dataclass(frozen=True)
class Difference:
    """One field where prediction and observation disagree.

    ``path`` is a dotted path into the :class:`Prediction` (``devices.nic0.address_space``,
    ``smmus.smmu0.idr.IDR0``, ``events[1].error_desc``).
    """

    path: str
    expected: Any
    observed: Any

    def render(self) -> str:
        return (f"{self.path}: expected {_fmt(self.path, self.expected)}, "
                f"observed {_fmt(self.path, self.observed)}")


def _fmt(path: str, v: Any) -> str:
    if isinstance(v, int) and not isinstance(v, bool) and (
            ".idr." in path or "msi_gpa" in path or path.endswith((".base", ".input", ".output"))):
        return f"0x{v:08x}"
    return json.dumps(v)


_MISSING = object()


def _walk(path: str, exp: Any, obs: Any, out: list[Difference]) -> None:
    if exp is None or obs is None:
        return  # one side makes no claim
    if dataclasses.is_dataclass(exp) and not isinstance(exp, type):
        for f in dataclasses.fields(exp):
            if f.name in ("rules", "profile", "rule"):
                continue  # provenance, not behaviour
            _walk(f"{path}.{f.name}" if path else f.name, getattr(exp, f.name),
                  getattr(obs, f.name, None), out)
        return
    if isinstance(exp, dict) and isinstance(obs, dict):
        for k in sorted(set(exp) | set(obs), key=str):
            e, o = exp.get(k, _MISSING), obs.get(k, _MISSING)
            sub = f"{path}.{k}"
            if e is _MISSING:
                out.append(Difference(sub, None, _plain(o)))
            elif o is _MISSING:
                out.append(Difference(sub, _plain(e), None))
            else:
                _walk(sub, e, o, out)
        return
    if isinstance(exp, list) and isinstance(obs, list) and path != "warnings":
        for i in range(max(len(exp), len(obs))):
            e = exp[i] if i < len(exp) else _MISSING
            o = obs[i] if i < len(obs) else _MISSING
            sub = f"{path}[{i}]"
            if e is _MISSING or o is _MISSING:
                out.append(Difference(sub, None if e is _MISSING else _plain(e),
                                      None if o is _MISSING else _plain(o)))
            else:
                _walk(sub, e, o, out)
        return
    if _plain(exp) != _plain(obs):
        out.append(Difference(path, _plain(exp), _plain(obs)))


def _plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return {k: x for k, x in dataclasses.asdict(v).items() if k != "rule"}
    return v


def diff(expected: Prediction, observed: Prediction) -> list[Difference]:
    """Field-by-field differences, comparing only what both sides fill.

    ``warnings`` compare as whole lists (order matters: QEMU prints them in order);
    dict-valued fields compare key by key, so a device the model predicts but QEMU does
    not show (or the reverse) is a difference with ``None`` on the missing side.
    """
    out: list[Difference] = []
    _walk("", expected, observed, out)
    return out
