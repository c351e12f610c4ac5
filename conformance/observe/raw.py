"""What one QEMU run yielded, before normalisation (:mod:`conformance.normalise`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from catalogue.prediction import EventResult, IortPrediction
from conformance.observe.mtree import Mtree
from conformance.observe.trace import TraceLine
from conformance.tiers.host import ExitStatus


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
