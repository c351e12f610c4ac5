"""What the harness reads from a running QEMU: one observer per observable.

The techniques, one module each (parsers take text and return plain data, so they are
unit-tested on recorded output; the ``read_*`` coroutines take a
:class:`~conformance.session.QmpSession`):

* :mod:`.mtree`: per-device address spaces and SMMU MMIO windows from
  ``info mtree -o -D`` (HMP through QMP);
* :mod:`.registers`: SMMU ID registers with ``xp /1wx``, one 32-bit word per command
  (wider reads return zeros on the SMMU);
* :mod:`.properties`: ``qom-get`` of SMMU properties;
* :mod:`.iort`: the ACPI IORT table read through ``-qtest`` and fw_cfg DMA;
* :mod:`.trace`: ``-trace`` events from the ``-D`` log, phase by phase.

:data:`OBSERVERS` is the registry: one :class:`Observer` per row of
:data:`catalogue.observables.OBSERVABLES`.  The runner does not know any observable by
name: it asks each observer the scenario lists for its start arguments, calls its hooks
at the points of a run (QEMU started, after each QMP event, the read phase, after
``quit``), and :func:`conformance.normalise.normalise` calls its ``fill``.  Observers
that read the memory map share one ``info mtree``; those that read each SMMU share one
pass over the SMMU windows (``read_smmu``, called in registry order, each function once).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from catalogue.prediction import AddressSpaceKind, DevicePrediction, Prediction, SmmuPrediction
from conformance.observe.iort import QtestLine, read_iort
from conformance.observe.mtree import Mtree, SmmuWindow, classify_target
from conformance.observe.properties import read_properties
from conformance.observe.raw import RawObservation, SmmuReading
from conformance.observe.registers import read_registers
from conformance.observe.trace import TRACE_EVENTS, TraceReader, trace_prediction
from conformance.tiers.host import QemuProcess

if TYPE_CHECKING:  # the session module pulls in qemu.qmp; the parsers here do not need it
    from conformance.session import QmpSession


@dataclass
class ObserveContext:
    """One scenario run, as the observers see it."""

    proc: QemuProcess
    session: QmpSession
    raw: RawObservation
    command_timeout: float
    #: per-observer scratch space (e.g. the trace reader), keyed by observer name
    state: dict[str, Any] = field(default_factory=dict)


Hook = Callable[[ObserveContext], None]
AsyncHook = Callable[[ObserveContext], Awaitable[None]]
SmmuReader = Callable[["QmpSession", SmmuWindow, SmmuReading], Awaitable[None]]


def _no_start_args() -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class Observer:
    """How the harness observes one observable (a row of catalogue.observables)."""

    name: str
    #: fills the observable's Prediction field from the raw observation
    fill: Callable[[RawObservation, Prediction], None]
    #: keyword arguments for ``QemuHost.start`` (the host has the features they need)
    start_args: Callable[[], Mapping[str, Any]] = _no_start_args
    #: reads ``info mtree`` (once per run, shared)
    uses_mtree: bool = False
    #: reads each SMMU window of the memory map (implies ``uses_mtree``)
    read_smmu: SmmuReader | None = None
    #: once QMP is up, before the first QMP event
    on_started: Hook | None = None
    #: after each QMP event
    after_event: Hook | None = None
    #: the read phase, after the memory map and SMMU reads, before ``quit``
    read: AsyncHook | None = None
    #: after ``quit``
    after_quit: Hook | None = None


# --------------------------------------------------------------------- address_spaces
def devices_from(tree: Mtree) -> dict[str, DevicePrediction]:
    """Each PCI device's address-space kind, and for ``iommu`` the SMMU that owns it."""
    out: dict[str, DevicePrediction] = {}
    for d in tree.devices():
        kind = classify_target(tree, d.target)
        smmu = None
        if kind == "iommu" and d.target is not None:
            smmu = tree.smmu_key_for_owner(tree.region_owner(d.target))
        out[d.key] = DevicePrediction(address_space=cast(AddressSpaceKind, kind), smmu=smmu)
    return out


def _fill_devices(raw: RawObservation, pred: Prediction) -> None:
    if raw.mtree is not None:
        pred.devices = devices_from(raw.mtree)


# --------------------------------------------------------------------- SMMU readings
def _smmu(pred: Prediction, key: str, r: SmmuReading) -> SmmuPrediction:
    assert pred.smmus is not None
    if key not in pred.smmus:
        pred.smmus[key] = SmmuPrediction(base=r.base)
    return pred.smmus[key]


def _smmus(pred: Prediction) -> None:
    if pred.smmus is None:
        pred.smmus = {}


async def _read_idr(session: QmpSession, w: SmmuWindow, r: SmmuReading) -> None:
    r.idr = await read_registers(session, w.base)


async def _read_props(session: QmpSession, w: SmmuWindow, r: SmmuReading) -> None:
    if w.owner is not None:
        r.properties = await read_properties(session, w.owner.qom_path)


def _fill_idr(raw: RawObservation, pred: Prediction) -> None:
    _smmus(pred)
    for key, r in raw.smmus.items():
        _smmu(pred, key, r).idr = r.idr


def _fill_props(raw: RawObservation, pred: Prediction) -> None:
    _smmus(pred)
    for key, r in raw.smmus.items():
        _smmu(pred, key, r).properties = dict(r.properties) if r.properties is not None \
            else None


def _fill_msi(raw: RawObservation, pred: Prediction) -> None:
    _smmus(pred)
    for key, r in raw.smmus.items():
        _smmu(pred, key, r).msi_gpa = r.properties.get("msi-gpa") \
            if r.properties is not None else None


# --------------------------------------------------------------------- iort
async def _read_iort(ctx: ObserveContext) -> None:
    conn = await ctx.proc.qtest_connection(ctx.command_timeout)
    ctx.raw.iort = await read_iort(QtestLine(conn, ctx.command_timeout))


def _fill_iort(raw: RawObservation, pred: Prediction) -> None:
    pred.iort = raw.iort


# --------------------------------------------------------------------- trace
def _trace_start(ctx: ObserveContext) -> None:
    path = ctx.proc.trace_path
    if path is None:
        return
    reader = ctx.state["trace"] = TraceReader(path)
    ctx.raw.trace = [reader.take()]  # machine start


def _trace_event(ctx: ObserveContext) -> None:
    reader = ctx.state.get("trace")
    if reader is not None and ctx.raw.trace is not None:
        ctx.raw.trace.append(reader.take())


def _trace_quit(ctx: ObserveContext) -> None:
    reader = ctx.state.get("trace")
    if reader is not None and ctx.raw.trace is not None:
        ctx.raw.trace[-1] += reader.take()  # nothing expected: shown in the last phase


def _fill_trace(raw: RawObservation, pred: Prediction) -> None:
    if raw.trace is not None:
        pred.trace = trace_prediction(raw.trace)


#: observable name -> observer, in catalogue order (catalogue.observables.OBSERVABLES)
OBSERVERS: dict[str, Observer] = {o.name: o for o in (
    Observer("address_spaces", _fill_devices, uses_mtree=True),
    Observer("idregs", _fill_idr, read_smmu=_read_idr),
    Observer("properties", _fill_props, read_smmu=_read_props),
    Observer("msi_gpa", _fill_msi, read_smmu=_read_props),
    Observer("iort", _fill_iort, start_args=lambda: {"qtest": True}, read=_read_iort),
    Observer("trace", _fill_trace, start_args=lambda: {"trace": TRACE_EVENTS},
             on_started=_trace_start, after_event=_trace_event, after_quit=_trace_quit),
)}


def observers_for(observe: tuple[str, ...] | list[str]) -> list[Observer]:
    """The observers a scenario's ``observe`` list asks for, in registry order."""
    return [o for n, o in OBSERVERS.items() if n in observe]


__all__ = ["OBSERVERS", "ObserveContext", "Observer", "devices_from", "observers_for"]
