"""Turn what the harness saw into a :class:`~catalogue.prediction.Prediction`.

The model predicts a ``Prediction``; the harness builds the same class from a
:class:`RawObservation`, so that :func:`catalogue.prediction.diff` compares like
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

from catalogue.prediction import Prediction
from conformance.observe import OBSERVERS, devices_from
from conformance.observe.raw import RawObservation, SmmuReading
from conformance.stderr_summary import cap_warnings, qemu_lines

__all__ = ["RawObservation", "SmmuReading", "devices_from", "normalise", "split_stderr",
           "strip_prefix"]

_PREFIX_RE = re.compile(r"^(?:\S*/)?qemu-system-[A-Za-z0-9_]+: ")


def strip_prefix(line: str) -> str:
    return _PREFIX_RE.sub("", line, count=1)


def split_stderr(text: str) -> tuple[str | None, list[str]]:
    """(error, warnings) from QEMU's stderr, prefixes removed."""
    warnings: list[str] = []
    errors: list[str] = []
    for raw in qemu_lines(text):  # the harness's "bytes dropped" marker is not QEMU's
        line = strip_prefix(raw.rstrip())
        if not line:
            continue
        (warnings if "warning: " in line else errors).append(line)
    return ("\n".join(errors) if errors else None), cap_warnings(warnings)


def normalise(raw: RawObservation) -> Prediction:
    error, warnings = split_stderr(raw.stderr)
    code = raw.exit.code if raw.exit is not None else None
    if not raw.started:
        return Prediction(outcome="exits", exit_code=code, error=error, warnings=warnings,
                          events=None)
    pred = Prediction(outcome="starts", exit_code=code, error=error, warnings=warnings,
                      events=raw.events)
    for name, observer in OBSERVERS.items():  # each observable the scenario asked for
        if name in raw.observe:
            observer.fill(raw, pred)
    return pred
