"""Model rules: one small function per behaviour, each citing its catalogue row.

Every rule is registered with a :class:`Rule` record (id, catalogue row, the revision
whose behaviour it models, whether the catalogue marks it PRED).  The engine
(:mod:`reference_model.engine`) calls the rules in QEMU's phase order; a rule decides
and returns its :data:`Decision`, and only the engine fires it, recording a
:class:`~catalogue.prediction.RuleFiring` in the prediction, so ``explain`` can
say which row decided each line.  Adding a rule is adding a clause beside its siblings
in its section's module, plus the one call in the engine phase where QEMU runs it.

The modules, by catalogue section:

=====================  ==============================================================
``qdev``               §F generic qdev: option loop, -M, accelerator, driver/bus/property
                       errors, -global, NIC warning, default bus, unplug
``preconditions``      §1 P1-P16 (pre_plug, realize, plug, machine-done checks), P5
``properties``         §2a property types, parsing, defaults, qom-get values, identifier
``idregs``             §2b ID registers (defaults, stage, accel overrides, 'auto')
``admission``          §3 which devices may sit behind an accel SMMU (A1-A4)
``address_space``      §4 and A6: which address space each PCI device gets; O11
``host_compat``        §5a H0-H11: host SMMUv3 compatibility, 'auto' resolution; 7b probe
``ste``                §5c STE install decision
``msi``                §6 M2: the msi-gpa virt programs into an accel SMMU
``invalidation``       §7a command forwarding to the host
``iort``               §8 O1-O4: the IORT (only when observed)
``pci_slots``          F: PCI devfn assignment, slot errors, the PCIe port warning
``trace``              §0 traces: O7 and AS1 trace events (only when observed)
``guest``              the guest tier: §5b sequence/vDEVICE/vEVENTQ, §5c fetch/range/
                       CERROR_ILL, §7a stage-2, M1 doorbell, M5, O2/O5 from the guest
=====================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar, cast

from ..prediction import RuleFiring


@dataclass(frozen=True)
class Rule:
    """A model rule: ``id`` (``P1.kvm-irqchip``), catalogue ``row``, ``source`` revision."""

    id: str
    row: str
    source: str
    predicted: bool = False
    doc: str = ""

    def firing(self, detail: str = "") -> RuleFiring:
        # RuleFiring is frozen: one shared instance per (rule, detail) suffices
        k = (self.id, detail)
        f = _FIRINGS.get(k)
        if f is None:
            if len(_FIRINGS) > 8192:
                _FIRINGS.clear()
            f = _FIRINGS[k] = RuleFiring(self.id, self.row, self.source, self.predicted,
                                         detail)
        return f


#: interned firings by (rule id, detail)
_FIRINGS: dict[tuple[str, str], RuleFiring] = {}


#: What a rule decides when it refuses or warns: ``(rule id, message id, format
#: arguments)``; a rule that finds nothing returns ``None``.  Rules never fire and never
#: word a message: the engine fires the rule (:meth:`~reference_model.engine.run.Run.fmt`)
#: and formats :data:`~reference_model.messages.MESSAGES` in the profile's wording.  (A
#: rule that computes a value, as ``msi.msi_gpa``, is a :class:`RuleFn` whose ``id`` the
#: engine fires when it uses the value; the lazy builders, ``iort.build`` and
#: ``trace.build``, return their value with the ids they decided.)
Decision = tuple[str, str, Mapping[str, Any]]

#: every registered rule, by id
RULES: dict[str, Rule] = {}
#: the firing of every registered rule without a detail, by rule id
FIRED: dict[str, RuleFiring] = {}

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


def register(id: str, row: str, source: str, predicted: bool = False, doc: str = "") -> Rule:
    """Register a rule record (used for rules that are table entries, not functions)."""
    r = Rule(id, row, source, predicted, doc)
    if id in RULES and RULES[id] != r:
        raise ValueError(f"rule id '{id}' registered twice")
    RULES[id] = r
    FIRED[id] = r.firing()
    return r


class RuleFn(Protocol[P, R_co]):
    """A rule that is a function (what :func:`rule` gives back): call it as the
    function; :attr:`rule` is its registered :class:`Rule` and :attr:`id` its id, which
    the engine fires when it uses the function's result.

    A typed view of the function itself, not a wrapper: a wrapper's ``__call__`` would
    cost every call a second Python frame."""

    rule: Rule
    id: str

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R_co: ...


def rule(id: str, row: str, source: str, predicted: bool = False
         ) -> Callable[[Callable[P, R]], RuleFn[P, R]]:
    """Decorator: register ``fn`` as rule ``id``; its docstring documents the rule."""

    def deco(fn: Callable[P, R]) -> RuleFn[P, R]:
        r = register(id, row, source, predicted, (fn.__doc__ or "").strip().split("\n")[0])
        setattr(fn, "rule", r)  # noqa: B010 (the function becomes a RuleFn here)
        setattr(fn, "id", r.id)  # noqa: B010
        return cast("RuleFn[P, R]", fn)

    return deco
