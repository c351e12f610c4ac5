"""Model rules: one small function per behaviour, each citing its catalogue row.

Every rule is registered with a :class:`Rule` record (id, catalogue row, the revision
whose behaviour it models, whether the catalogue marks it PRED).  The engine
(:mod:`reference_model.engine`) calls the rules in QEMU's phase order; when a rule
decides something it is recorded in the prediction as a
:class:`~reference_model.prediction.RuleFiring`, so ``explain`` can say which row
decided each line.

The modules, by catalogue section:

=====================  ==============================================================
``properties``         §2a property types, parsing, defaults, qom-get values
``preconditions``      §1 P1-P16 (pre_plug, realize, plug, machine-done checks)
``idregs``             §2b ID registers (defaults, stage, accel overrides, 'auto')
``admission``          §3 which devices may sit behind an accel SMMU (A1-A4)
``address_space``      §4 and A6: which address space each PCI device gets
``msi``                §6 M2: the msi-gpa virt programs into an accel SMMU
``host_compat``        §5a H0-H11: host SMMUv3 compatibility, 'auto' resolution
``ste``                §5c STE install decision
``invalidation``       §7a command forwarding to the host
``pci_slots``          F: PCI devfn assignment, slot errors, the PCIe port warning
``trace``              §0 traces: O7 and AS1 trace events (only when observed)
``guest``              the guest tier: §5b sequence/vDEVICE/vEVENTQ, §5c fetch/range/
                       CERROR_ILL, §7a stage-2, M1 doorbell, M5, O2/O5 from the guest
=====================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

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


#: every registered rule, by id
RULES: dict[str, Rule] = {}
#: the firing of every registered rule without a detail, by rule id
FIRED: dict[str, RuleFiring] = {}

F = TypeVar("F", bound=Callable[..., object])


def register(id: str, row: str, source: str, predicted: bool = False, doc: str = "") -> Rule:
    """Register a rule record (used for rules that are table entries, not functions)."""
    r = Rule(id, row, source, predicted, doc)
    if id in RULES and RULES[id] != r:
        raise ValueError(f"rule id '{id}' registered twice")
    RULES[id] = r
    FIRED[id] = r.firing()
    return r


def rule(id: str, row: str, source: str, predicted: bool = False) -> Callable[[F], F]:
    """Decorator: register ``fn`` as rule ``id``; its docstring documents the rule."""

    def deco(fn: F) -> F:
        r = register(id, row, source, predicted, (fn.__doc__ or "").strip().split("\n")[0])
        fn.rule = r  # type: ignore[attr-defined]
        return fn

    return deco
