"""Signatures and buckets: many failing cases, few distinct findings.

A verdict that is not a pass gets a :class:`Signature`:

``observable``
    the first differing field with device/SMMU keys and list indexes wildcarded
    (``devices.*.address_space``, ``smmus.*.idr.IDR0``, ``events[*].error_desc``,
    ``error``), or ``crash`` / ``hang`` / ``qemu-exit`` / ``infra`` when there is no
    field diff;
``rule``
    the model rule that decided that field (the device's or event's rule, the last
    rule fired for an exit, the last rule of the field's catalogue section otherwise);
``message``
    what QEMU said or showed there, normalised: the ``-device <options>:`` location,
    QOM type names of the build, hex and decimal numbers are replaced, so two cases
    that differ only in ids, devfns or device models share a bucket.

A bucket whose signature equals that of a *recorded* QEMU bug (a catalogue scenario
with a ``nonconformance`` record, run on the same tier at the start of the campaign)
is ``known``; every other bucket is new.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.result import Verdict
from reference_model.rules import RULES

#: the catalogue section whose last rule decides a field that carries no rule itself
_SECTION_ROWS: dict[str, tuple[str, ...]] = {
    "idr": ("2b",), "properties": ("2a",), "msi_gpa": ("M2",), "base": ("2a",),
    "trace": ("O7", "AS1"), "iort": ("O1", "O2", "O3", "O4"),
}
#: the IORT row of each IORT field
_IORT_ROWS: dict[str, tuple[str, ...]] = {
    "revision": ("O1",), "node_count": ("O2", "O1"), "its_present": ("O4",),
    "smmu_nodes": ("O4",), "rc_id_mappings": ("O4",), "rc_ats": ("O3",),
    "rmr_nodes": ("O2",),
}
_INDEX_RE = re.compile(r"\[\d+\]")
_HEX_RE = re.compile(r"0x[0-9a-fA-F]+")
_NUM_RE = re.compile(r"\d+")
_DEVICE_LOC_RE = re.compile(r"-device [^\s:]*(?:[^\s:]|::)*: ")
_ENDED_RE = re.compile(r"QEMU (crashed|hung|exited unexpectedly)[^\n]*")
_WORD_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@dataclass(frozen=True, order=True)
class Signature:
    observable: str
    rule: str
    message: str

    def line(self) -> str:
        return f"{self.observable} | {self.rule} | {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"observable": self.observable, "rule": self.rule, "message": self.message}


class Normaliser:
    """Replaces what varies between cases of one finding (numbers, ids, type names)."""

    def __init__(self, type_names: Iterable[str] = ()) -> None:
        self.types = {t for t in type_names if len(t) > 2 and not t.isdigit()}

    def __call__(self, text: str) -> str:
        text = _DEVICE_LOC_RE.sub("-device …: ", text)
        text = _WORD_RE.sub(lambda m: "<T>" if m[0] in self.types else m[0], text)
        text = _HEX_RE.sub("\x00", text)  # hex first, then decimals, then hex back
        return _NUM_RE.sub("N", text).replace("\x00", "0xN")


def observable_of(path: str) -> str:
    """``devices.rp3.address_space`` -> ``devices.*.address_space``."""
    path = _INDEX_RE.sub("[*]", path)
    parts = path.split(".")
    if parts[0] in ("devices", "smmus") and len(parts) > 1:
        parts[1] = "*"
    return ".".join(parts)


def _key_of(path: str) -> str | None:
    parts = path.split(".")
    return parts[1] if parts[0] in ("devices", "smmus") and len(parts) > 1 else None


def _rules(pred: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The prediction's rule firings as dicts.  A start-up prediction lists firings; a
    guest-tier prediction lists rule ids, whose row comes from the model's rule table
    (as :func:`conformance.crossrelease._firings` reads them)."""
    out = []
    for r in (pred.get("rules") or []) if pred else ():
        if isinstance(r, str):
            known = RULES.get(r)
            r = {"rule": r, "row": known.row if known is not None else "?"}
        out.append(r)
    return out


#: rows of rules that only describe what an observation will show (trace, IORT): they
#: fire after the rule that decided the outcome and never decide an error
_OBSERVATION_ROWS = frozenset({"O1", "O2", "O3", "O4", "O7", "AS1"})


def deciding_rule(pred: dict[str, Any] | None, path: str) -> str:
    """The model rule that decided the field at ``path`` (``-`` if none is known)."""
    rules = _rules(pred)
    deciding = [r for r in rules if r.get("row") not in _OBSERVATION_ROWS]
    last = deciding[-1]["rule"] if deciding else "-"
    if pred is None:
        return "-"
    head = path.split(".")[0].split("[")[0]
    if head == "devices":
        dev = (pred.get("devices") or {}).get(_key_of(path) or "")
        if dev and dev.get("rule"):
            return str(dev["rule"])
        return last if dev else "-"  # a device the model does not know of
    if head == "events":
        m = re.match(r"events\[(\d+)\]", path)
        evs = pred.get("events") or []
        if m and int(m[1]) < len(evs) and evs[int(m[1])].get("rule"):
            return str(evs[int(m[1])]["rule"])
        return last
    parts = path.split(".")
    section = parts[2] if head == "smmus" and len(parts) > 2 else head
    rows = _SECTION_ROWS.get(section)
    if head == "iort" and len(parts) > 1:
        rows = _IORT_ROWS.get(parts[1].split("[")[0], rows)
    if rows:
        for r in reversed(rules):
            if r.get("row") in rows:
                return str(r["rule"])
        return rows[0]  # decided by the section's defaults: no rule fired
    return last


def _text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, int) and not isinstance(v, bool):
        return hex(v)
    return repr(v)


def signature(v: Verdict, norm: Normaliser) -> Signature | None:
    """The bucket signature of a verdict; ``None`` for a pass or a skip."""
    if v.status in ("pass", "skipped"):
        return None
    if v.status == "infra-error":
        return Signature("infra", "-", norm(v.reason.split(";")[0]))
    # a crash/hang/exit keeps that kind whether or not a record judged it (a recorded
    # crash is "expected-nonconformance" with the runner's reason in brackets)
    ended = _ENDED_RE.search(v.reason)
    if ended is not None:
        kind = {"crashed": "crash", "hung": "hang"}.get(ended[1], "qemu-exit")
        return Signature(kind, deciding_rule(v.prediction, "outcome"),
                         norm(ended[0].rstrip("]")))
    if v.differences:
        d = v.differences[0]
        path = str(d["path"])
        obs = d.get("observed")
        exp = d.get("expected")
        if isinstance(obs, str) or isinstance(exp, str):
            msg = f"{_text(exp)} -> {_text(obs)}" if path not in ("error",) else _text(obs)
        else:
            msg = f"{_text(exp)} -> {_text(obs)}"
        # only the first line of a multi-line error (QEMU's second line repeats values)
        return Signature(observable_of(path), deciding_rule(v.prediction, path),
                         norm(msg.splitlines()[0] if msg else ""))
    return Signature(v.status, deciding_rule(v.prediction, "outcome"), norm(v.reason))


@dataclass
class Bucket:
    signature: Signature
    count: int = 0
    known: str = ""  # the recorded bug's scenario ref and reason, when known
    first_case: int = -1  # index of the first (smallest-looking) case in the campaign
    first_size: tuple[int, int] = (1 << 30, 0)
    cases: list[int] = field(default_factory=list)
    shrunk: dict[str, Any] | None = None  # written by the campaign after shrinking

    @property
    def is_new(self) -> bool:
        return not self.known and self.signature.observable != "infra"

    def add(self, index: int, size: tuple[int, int]) -> None:
        self.count += 1
        if len(self.cases) < 20:
            self.cases.append(index)
        if size < self.first_size:
            self.first_case, self.first_size = index, size

    def to_dict(self) -> dict[str, Any]:
        return {"signature": self.signature.to_dict(), "count": self.count,
                "known": self.known, "new": self.is_new, "example_cases": self.cases,
                "shrunk": self.shrunk}
