"""Turn what the harness saw into a :class:`~reference_model.prediction.Prediction`.

The model predicts a ``Prediction``; the harness builds the same class from a
:class:`RawObservation`, so that :func:`reference_model.prediction.diff` compares like
with like.  The rules (see the Prediction docstring for the field conventions):

* ``outcome`` is ``exits`` if QEMU ended before QMP came up, ``starts`` otherwise (then
  ``exit_code`` is the status after the harness's ``quit``, normally 0);
* stderr lines lose the program-name prefix (``qemu-system-aarch64: ``, whatever the
  binary's path); lines holding ``warning: `` go to ``warnings`` in order, the other
  lines, joined by newlines, are ``error``;
* ``devices`` maps each PCI device (id, else QOM type) to the kind of its bus-master
  alias target, and for ``iommu`` the SMMU that owns the IOMMU region;
* ``smmus`` holds, per SMMU instance seen in the memory map, what the scenario asked to
  observe (ID registers, properties, msi-gpa) plus its MMIO base;
* ``iort`` is the parsed ACPI IORT (:mod:`conformance.observe.iort`), when observed;
* ``trace`` holds, per phase (machine start, then each QMP event), the ``smmu_add_mr``
  names and the number of ``smmu_reset_exit`` lines (:mod:`conformance.observe.trace`);
* ``events`` holds each QMP event's result (ok, or the error class and description).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, cast

from conformance.hosts import ExitStatus
from conformance.observe.mtree import Mtree, classify_target
from conformance.observe.trace import TraceLine, trace_prediction
from reference_model.prediction import (
    AddressSpaceKind,
    DevicePrediction,
    EventResult,
    IortPrediction,
    Prediction,
    SmmuPrediction,
)

_PREFIX_RE = re.compile(r"^(?:\S*/)?qemu-system-[A-Za-z0-9_]+: ")


@dataclass
class SmmuReading:
    base: int
    idr: dict[str, int] | None = None
    properties: dict[str, Any] | None = None


@dataclass
class RawObservation:
    """Everything read from one QEMU run, before normalisation."""

    started: bool  # QMP came up
    exit: ExitStatus | None
    stderr: str
    events: list[EventResult] | None = None
    mtree: Mtree | None = None
    smmus: dict[str, SmmuReading] = field(default_factory=dict)
    observe: tuple[str, ...] = ()
    iort: IortPrediction | None = None  # parsed by conformance.observe.iort
    #: trace events per phase: machine start, then one entry per QMP event
    trace: list[list[TraceLine]] | None = None


def strip_prefix(line: str) -> str:
    return _PREFIX_RE.sub("", line, count=1)


def split_stderr(text: str) -> tuple[str | None, list[str]]:
    """(error, warnings) from QEMU's stderr, prefixes removed."""
    warnings: list[str] = []
    errors: list[str] = []
    from conformance.stderr_summary import cap_warnings, qemu_lines
    for raw in qemu_lines(text):  # the harness's "bytes dropped" marker is not QEMU's
        line = strip_prefix(raw.rstrip())
        if not line:
            continue
        (warnings if "warning: " in line else errors).append(line)
    return ("\n".join(errors) if errors else None), cap_warnings(warnings)


def devices_from(tree: Mtree) -> dict[str, DevicePrediction]:
    out: dict[str, DevicePrediction] = {}
    for d in tree.devices():
        kind = classify_target(tree, d.target)
        smmu = None
        if kind == "iommu" and d.target is not None:
            smmu = tree.smmu_key_for_owner(tree.region_owner(d.target))
        out[d.key] = DevicePrediction(address_space=cast(AddressSpaceKind, kind), smmu=smmu)
    return out


def normalise(raw: RawObservation) -> Prediction:
    error, warnings = split_stderr(raw.stderr)
    code = raw.exit.code if raw.exit is not None else None
    if not raw.started:
        return Prediction(outcome="exits", exit_code=code, error=error, warnings=warnings,
                          events=None)
    pred = Prediction(outcome="starts", exit_code=code, error=error, warnings=warnings,
                      events=raw.events)
    if raw.mtree is not None and "address_spaces" in raw.observe:
        pred.devices = devices_from(raw.mtree)
    wants = {"idregs", "properties", "msi_gpa"} & set(raw.observe)
    if wants:
        smmus: dict[str, SmmuPrediction] = {}
        for key, r in raw.smmus.items():
            props = dict(r.properties) if r.properties is not None else None
            msi = props.get("msi-gpa") if props is not None else None
            smmus[key] = SmmuPrediction(
                idr=r.idr if "idregs" in wants else None,
                msi_gpa=msi if "msi_gpa" in wants else None,
                properties=props if "properties" in wants else None,
                base=r.base)
        pred.smmus = smmus
    if "iort" in raw.observe:
        pred.iort = raw.iort
    if "trace" in raw.observe and raw.trace is not None:
        pred.trace = trace_prediction(raw.trace)
    return pred
