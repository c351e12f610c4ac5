"""Shared helpers of the model's rule tests (tests/model/test_<section>.py)."""

from __future__ import annotations

from typing import Any

from catalogue.prediction import Prediction
from reference_model import predict
from reference_model.profiles import resolve
from reference_model.rules import Decision

TCG = ["-accel", "tcg"]
KVM = ["-accel", "kvm", "-cpu", "host", "-bios", "/dev/null"]
SMMU = "arm-smmuv3,primary-bus=pcie.0,id=smmu0"
EXPLICIT = "accel=on,ats=off,ril=off,ssidsize=0,oas=44"
#: the default profile's messages (QEMU 11.1's wording)
MESSAGES = resolve("qemu-11.1").msg


def run(cmd: str, tier: list[str] = TCG, **kw: Any) -> Prediction:
    """Predict ``"virt -device ..."``: the first word is the machine, then options."""
    parts = cmd.split()
    return predict(["-M", parts[0], *parts[1:], *tier], **kw)


def fired(p: Prediction) -> set[str]:
    """The catalogue rows of every rule that fired."""
    return {r.row for r in p.rules}


def worded(decision: Decision | None) -> tuple[str, str] | None:
    """A rule's decision as (rule id, text in QEMU 11.1's wording)."""
    if decision is None:
        return None
    return decision[0], MESSAGES[decision[1]].format(**decision[2])
