"""Judge an observation against a prediction: ``pass``, ``nonconformance``, or a known bug.

Comparison is :func:`catalogue.prediction.diff` after one projection: inside
``smmus.<id>.idr`` and ``smmus.<id>.properties`` the harness reads more than the model
may claim (all nine ID registers, every property), so observed keys the prediction does
not name are dropped there.  Everywhere else an extra key *is* a finding (a device the
model did not expect, an extra SMMU).

Known nonconformances (``nonconformance = { reason, evidence, fields }`` in a scenario)
are strict xfails: the run is ``expected-nonconformance`` only if every difference lies
under one of ``fields`` (a field covers its sub-paths: ``devices.nic0`` covers
``devices.nic0.address_space``) and every listed field has a difference; if nothing
differs it is ``unexpected-pass`` (the bug was fixed, or the record is wrong).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from catalogue.prediction import Difference, Prediction, diff
from catalogue.scenario import KnownNonconformance

_PROJECTED = ("idr", "properties")


def project(expected: Prediction, observed: Prediction) -> Prediction:
    """A copy of ``observed`` limited to the register/property keys ``expected`` claims."""
    if not expected.smmus or not observed.smmus:
        return observed
    obs = copy.deepcopy(observed)
    assert obs.smmus is not None
    for key, e in expected.smmus.items():
        o = obs.smmus.get(key)
        if o is None:
            continue
        for attr in _PROJECTED:
            ev, ov = getattr(e, attr), getattr(o, attr)
            if isinstance(ev, dict) and isinstance(ov, dict):
                setattr(o, attr, {k: v for k, v in ov.items() if k in ev})
    return obs


def covers(field: str, path: str) -> bool:
    return (path == field or path.startswith(field + ".") or path.startswith(field + "[")
            or field == "*")


@dataclass(frozen=True)
class Judgement:
    status: str  # a conformance.result.Status
    reason: str
    differences: list[Difference]


def judge(expected: Prediction, observed: Prediction,
          known: KnownNonconformance | None = None, profile: str = "") -> Judgement:
    """Compare a start-up prediction with what QEMU did (:func:`judge_differences`)."""
    return judge_differences(diff(expected, project(expected, observed)), known, profile)


def judge_differences(diffs: list[Difference], known: KnownNonconformance | None = None,
                      profile: str = "") -> Judgement:
    """The verdict for the differences between a prediction and an observation, of any
    shape (a start-up prediction's, the guest tier's): ``pass``, ``nonconformance``, or,
    against a recorded QEMU bug (strict: every field it names differs and nothing else),
    ``expected-nonconformance`` / ``unexpected-pass``."""
    if known is not None and (not known.profiles or profile in known.profiles):
        if not diffs:
            return Judgement("unexpected-pass",
                             f"known QEMU bug did not show: {known.reason}", diffs)
        stray = [d for d in diffs if not any(covers(f, d.path) for f in known.fields)]
        unmet = [f for f in known.fields if not any(covers(f, d.path) for d in diffs)]
        if not stray and not unmet:
            return Judgement("expected-nonconformance", known.reason, diffs)
        if stray:
            return Judgement("nonconformance",
                             f"{len(stray)} difference(s) beyond the known bug: "
                             f"{stray[0].render()}", diffs)
        return Judgement("unexpected-pass",
                         f"known bug only partly showed (no difference at {unmet[0]})", diffs)
    if diffs:
        first = diffs[0].render()
        more = f" (+{len(diffs) - 1} more)" if len(diffs) > 1 else ""
        return Judgement("nonconformance", first + more, diffs)
    return Judgement("pass", "", diffs)
