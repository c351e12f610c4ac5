"""What a scenario can ask the harness to observe: one row per observable.

A row says which :class:`~catalogue.prediction.Prediction` field the observable fills,
which host features observing it needs (a host declares its ``features``:
:class:`conformance.tiers.host.QemuHost`), why it is skipped on a host without them, and
whether the model fills the field on every prediction (``always``) or builds it only
when asked (``builder``: ``predict(..., observe=...)``).

Adding an observable: a row here, a field in :mod:`catalogue.prediction`, its observer
in ``conformance/observe/`` (registered in ``OBSERVERS``), the model's builder, tests.
``tests/observe/test_observers.py`` checks the three agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Observable:
    name: str
    #: the Prediction field it fills
    field: str
    #: host features observing it needs (empty: every host)
    needs: frozenset[str] = frozenset()
    #: the skip reason on a host that lacks ``needs``
    missing: str = ""
    #: ``always``: the model fills ``field`` on every prediction; ``builder``: only when
    #: the scenario observes it
    model: Literal["always", "builder"] = "always"


#: why a scenario observing the IORT is skipped on a host without qtest
IORT_NEEDS_GUEST = ("observing the IORT needs -qtest, which cannot be combined with KVM: "
                    "on this tier the tables must be read by a booted guest (acpidump), "
                    "which the harness does not do yet")
#: why a scenario observing trace events is skipped on a host that is not local
TRACE_NEEDS_LOCAL = ("observing trace events needs the -D log file of a QEMU started "
                     "on this machine; this tier's host does not hand it back yet")

ROWS: tuple[Observable, ...] = (
    Observable("address_spaces", "devices"),
    Observable("idregs", "smmus"),
    Observable("properties", "smmus"),
    Observable("msi_gpa", "smmus"),
    Observable("iort", "iort", frozenset({"qtest"}), IORT_NEEDS_GUEST, "builder"),
    Observable("trace", "trace", frozenset({"trace-file"}), TRACE_NEEDS_LOCAL, "builder"),
)
#: name -> row, in catalogue order
OBSERVABLE: dict[str, Observable] = {o.name: o for o in ROWS}
#: the names a scenario's ``observe`` list may hold
OBSERVABLES: tuple[str, ...] = tuple(OBSERVABLE)
#: what an ad-hoc command line (``run -- ARGS``) observes: everything every host can see
DEFAULT_OBSERVABLES: tuple[str, ...] = tuple(o.name for o in ROWS if not o.needs)

__all__ = ["DEFAULT_OBSERVABLES", "OBSERVABLE", "OBSERVABLES", "ROWS", "Observable"]
