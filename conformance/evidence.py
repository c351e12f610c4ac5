"""Evidence records: what each scenario run showed, for the coverage matrix.

A run (``python -m conformance run --results FILE``, or pytest with
``--conformance-results FILE``) writes one :class:`Evidence` record per verdict into a
*results file*; ``python -m conformance coverage --results FILE ...`` reads any number
of them (:mod:`conformance.coverage`).  A record says, for one scenario on one tier:

* the verdict ``status`` (and its ``reason``: the skip reason, the known bug);
* ``rows``: the catalogue rows the scenario checks (its ``rows`` field; the first one is
  its *primary* row, the one a recorded bug contradicts);
* ``rules``: the ids of the model rules that fired in the prediction it was judged
  against and whose decision was compared (:func:`compared`; for a nonconformance,
  every rule that fired); empty when the model was not asked (skipped, infra-error);
* ``compared``: the catalogue rows whose decisions were compared with what QEMU did
  (:func:`compared_rows`): the rows of the rules that fired, of each device's address
  space and each QMP event the run observed, ``2b`` when ID registers were read on both
  sides, ``M2`` for ``msi-gpa``, ``2a`` for qom-get values;
* ``build``: the QEMU that ran: ``--version`` text and the sha256 of the *executable*
  (not of a launcher script; on the nested tier the arm64 QEMU inside L1).

The file is one JSON document::

    {"format": "accel-smmuv3-evidence/1",
     "records": [{"scenario": "preconditions.toml:p1-accel-on-tcg", "tier": "tcg",
                  "status": "pass", "reason": "", "rows": ["P1"],
                  "rules": ["P1.kvm-irqchip", ...], "compared": ["P1", ...],
                  "profile": "qemu-11.1",
                  "build": {"version": "QEMU emulator version 11.1.3 ...",
                            "sha256": "...", "path": "..."}}, ...]}

Bad files are a :class:`EvidenceError` (one line naming the file and the field).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from artefacts.provision import install_for
from conformance.result import STATUSES, Verdict
from reference_model.rules import RULES
from reference_model.rules import guest as _guest_rules  # noqa: F401  (registers them)

FORMAT = "accel-smmuv3-evidence/1"


class EvidenceError(ValueError):
    """A results file cannot be read or written; ``str()`` is one line."""


@dataclass(frozen=True)
class Build:
    """One QEMU build: its ``--version`` text and the sha256 of the executable."""

    version: str = ""
    sha256: str = ""
    path: str = ""

    @property
    def label(self) -> str:
        """``11.1.3 (Debian 1:11.1.3+ds-1~bpo13+1) sha256:1a2b3c4d5e6f`` or what is known."""
        v = self.version.replace("QEMU emulator version ", "").strip()
        sha = f" sha256:{self.sha256[:12]}" if self.sha256 else ""
        return (v or self.path or "unknown build") + sha


@dataclass(frozen=True)
class Evidence:
    """What one scenario run on one tier showed (see the module docstring)."""

    scenario: str
    tier: str
    status: str
    rows: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    compared: tuple[str, ...] = ()
    reason: str = ""
    profile: str = ""
    build: Build = field(default_factory=Build)

    @property
    def primary_row(self) -> str | None:
        return self.rows[0] if self.rows else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rows"], d["rules"], d["compared"] = (list(self.rows), list(self.rules),
                                                list(self.compared))
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str = "") -> Evidence:
        if not isinstance(d, dict):
            raise EvidenceError(f"{where}: a record must be an object")
        for k in ("scenario", "tier", "status"):
            if not isinstance(d.get(k), str):
                raise EvidenceError(f"{where}: field '{k}' must be a string")
        if d["status"] not in STATUSES:
            raise EvidenceError(f"{where}: field 'status': unknown value '{d['status']}' "
                                f"(expected one of {', '.join(STATUSES)})")
        for k in ("rows", "rules", "compared"):
            v = d.get(k, [])
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise EvidenceError(f"{where}: field '{k}' must be a list of strings")
        b = d.get("build", {})
        if not isinstance(b, dict) or not all(isinstance(b.get(k, ""), str)
                                              for k in ("version", "sha256", "path")):
            raise EvidenceError(f"{where}: field 'build' must be an object of strings "
                                "(version, sha256, path)")
        return cls(scenario=d["scenario"], tier=d["tier"], status=d["status"],
                   rows=tuple(d.get("rows", [])), rules=tuple(d.get("rules", [])),
                   compared=tuple(d.get("compared", [])),
                   reason=str(d.get("reason", "")), profile=str(d.get("profile", "")),
                   build=Build(b.get("version", ""), b.get("sha256", ""), b.get("path", "")))


# ----------------------------------------------------------------------------- builds
@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    del size, mtime_ns  # cache key only: a rebuilt binary is hashed again
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_of(path: str | Path) -> str:
    """sha256 of a file, memoised by (path, size, mtime); ``""`` if it cannot be read."""
    try:
        st = os.stat(path)
        return _sha256(str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        return ""


def executable_of(binary: str, tier: str) -> str:
    """The QEMU executable a verdict's build really is.

    * nested: the arm64 QEMU that the L1 image carries (provisioned for ``arm64``),
      whatever ``--qemu`` said (the nested tier always runs L1's own QEMU);
    * the provisioned launcher (a shell script running trixie's loader): the ELF it execs;
    * anything else: the binary itself.
    """
    try:
        pass
    except ImportError:  # pragma: no cover - provision is part of the package
        return binary
    if tier == "nested":
        return str(install_for("arm64").prefix / "usr/bin/qemu-system-aarch64")
    inst = install_for("amd64")
    if binary and Path(binary) == inst.launcher:
        return str(inst.prefix / "usr/bin/qemu-system-aarch64")
    return binary


def build_of(v: Verdict) -> Build:
    path = executable_of(v.qemu, v.tier)
    return Build(version=v.qemu_version, sha256=sha256_of(path) if path else "", path=path)


# ----------------------------------------------------------------------------- records
def fired_rules(prediction: dict[str, Any] | None) -> tuple[str, ...]:
    """Rule ids of a ``Prediction.to_dict()``, in firing order, without repeats."""
    if not prediction:
        return ()
    return tuple(dict.fromkeys(str(r["rule"]) if isinstance(r, dict) else str(r)
                               for r in prediction.get("rules", [])
                               if isinstance(r, str) or (isinstance(r, dict) and "rule" in r)))


#: a rule (by id) or a row (all its rules) whose decision lands in one field that only
#: some scenarios read: its firing is compared only when that field was filled on both
#: sides (``idr``: ID registers, ``msi_gpa``, ``properties``: qom-get values)
FIELD_GATES: dict[str, str] = {"2b": "idr", "M2": "msi_gpa",
                               "2a.identifier-index": "properties"}
#: rows the model decides for every SMMU without recording a firing: compared whenever
#: their field was read on both sides (M2 counts only when its rule fired: the msi-gpa
#: of a non-accel SMMU is a §2a default)
IMPLICIT_ROWS: dict[str, str] = {"2b": "idr"}
#: address-space rows that exist only behind an accel SMMU, and the §3 admission row a
#: device placed there passed (a refused device has no address space at all)
ADMITTED_BY: dict[str, str] = {"AS3": "A1", "AS4": "A2"}


def compared(prediction: dict[str, Any] | None, observation: dict[str, Any] | None
             ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(rules, rows)`` whose decisions the judge compared with QEMU's behaviour.

    Outcome, exit code, error text and warnings are always observed, so every rule that
    fired counts, except those gated by :data:`FIELD_GATES`, which count only when their
    field was read on both sides.  Address spaces and QMP event results carry their row
    (``DevicePrediction.rule``, ``EventResult.rule``) and count when that device or
    event was observed.
    """
    if not prediction or not observation:
        return (), ()
    if "guest" in prediction:  # the guest tier: its judge compares every key it predicts
        ids = fired_rules(prediction)
        return ids, tuple(dict.fromkeys(RULES[i].row for i in ids if i in RULES))
    rows: dict[str, None] = {}
    rules: dict[str, None] = {}
    read: set[str] = set()
    pd, od = prediction.get("devices") or {}, observation.get("devices") or {}
    for k, d in pd.items():
        if k in od and isinstance(d, dict) and d.get("rule"):
            rows[str(d["rule"])] = None
            if d["rule"] in ADMITTED_BY:  # present behind an accel SMMU: it was admitted
                rows[ADMITTED_BY[str(d["rule"])]] = None
    for e, _ in zip(prediction.get("events") or [], observation.get("events") or [],
                    strict=False):
        if isinstance(e, dict) and e.get("rule"):
            rows[str(e["rule"])] = None
    ps, obs_s = prediction.get("smmus") or {}, observation.get("smmus") or {}
    for k, sp in ps.items():
        so = obs_s.get(k) or {}
        for f in ("idr", "msi_gpa", "properties"):
            if sp.get(f) is not None and so.get(f) is not None:
                read.add(f)
    for r in prediction.get("rules", []):
        if not isinstance(r, dict) or not r.get("rule"):
            continue
        rid, rrow = str(r["rule"]), str(r.get("row", ""))
        gate = FIELD_GATES.get(rid) or FIELD_GATES.get(rrow)
        if gate is None or gate in read:
            rules[rid] = None
            if rrow:
                rows[rrow] = None
    for row, f in IMPLICIT_ROWS.items():
        if f in read:
            rows[row] = None
    return tuple(rules), tuple(rows)


def compared_rows(prediction: dict[str, Any] | None,
                  observation: dict[str, Any] | None) -> tuple[str, ...]:
    return compared(prediction, observation)[1]


def from_verdict(v: Verdict) -> Evidence:
    rules, rows = compared(v.prediction, v.observation)
    if v.status in ("nonconformance", "expected-nonconformance"):
        rules = fired_rules(v.prediction)  # which of them differed is not known
    return Evidence(scenario=v.scenario, tier=v.tier, status=v.status, rows=tuple(v.rows),
                    rules=rules, compared=rows,
                    reason=v.reason, profile=v.profile,
                    build=build_of(v) if v.status != "skipped" else Build())


def write_results(path: str | Path, records: Iterable[Evidence]) -> Path:
    """Write a results file (raises :class:`EvidenceError` naming the path)."""
    p = Path(path)
    doc = {"format": FORMAT, "records": [r.to_dict() for r in records]}
    try:
        if p.parent != Path():
            p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        tmp.replace(p)
    except OSError as e:
        raise EvidenceError(f"{p}: cannot write the results file: {e.strerror or e}") from None
    return p


def read_results(paths: Sequence[str | Path]) -> list[Evidence]:
    """Every record of the given results files, in order."""
    out: list[Evidence] = []
    for path in paths:
        p = Path(path)
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
        except OSError as e:
            raise EvidenceError(f"{p}: cannot read: {e.strerror or e}") from None
        except ValueError as e:
            raise EvidenceError(f"{p}: not JSON: {e}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise EvidenceError(f"{p}: not a results file (expected \"format\": \"{FORMAT}\"; "
                                "write one with `run --results FILE` or pytest "
                                "--conformance-results FILE)")
        recs = doc.get("records")
        if not isinstance(recs, list):
            raise EvidenceError(f"{p}: field 'records' must be a list")
        out += [Evidence.from_dict(r, f"{p}: records[{i}]") for i, r in enumerate(recs)]
    return out


def from_log_dirs(roots: Sequence[str | Path]) -> list[Evidence]:
    """Evidence recomputed from the ``verdict.json`` files of per-scenario log folders
    (``run --log-dir`` / the plugin's ``--conformance-log-dir``), in path order."""
    out: list[Evidence] = []
    for root in roots:
        r = Path(root)
        if not r.is_dir():
            raise EvidenceError(f"{r}: no such log folder")
        for f in sorted(r.rglob("verdict.json")):
            try:
                out.append(from_verdict(Verdict.from_dict(json.loads(f.read_text()))))
            except (OSError, ValueError, TypeError, KeyError) as e:
                raise EvidenceError(f"{f}: not a verdict record: {e}") from None
    return out
