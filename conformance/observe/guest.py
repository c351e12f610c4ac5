"""What a guest run showed: the payload's report and L2's trace, in the model's shape.

The payload (``images/payload/main.c``) writes one line per step on the PL011, which L2
sends to a chardev file::

    G begin steps=N
    G 3 cmd ok err=0x0 gerror=0x0
    G 9 acpi data 494f5254...        (continuation lines: the table's bytes)
    G end                            (or: G fault kind=.. esr=.. elr=.. far=.. step=I)

Before step *i* it writes ``0x5e900000|i`` to the SMMU's offset 0xe00, so L2's
``smmuv3_write_mmio`` trace splits the trace log into a start phase and one phase per
step.  :func:`observe` turns both files into the dictionary
:func:`reference_model.guest.predict_guest` predicts (see there for the keys).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from catalogue.guest_steps import DSM_UUID
from conformance.normalise import split_stderr
from conformance.observe.iort import IortError, parse_iort
from conformance.observe.l2trace import fields
from conformance.observe.trace import parse as parse_trace

MARKER = 0x5E900000
_LINE_RE = re.compile(r"^G (\d+) (\S+) (ok|fail|data)\s*(.*)$")
_KV_RE = re.compile(r"(\w+)=(\S+)")
_MARK_RE = re.compile(r"addr: 0xe00 val:0x([0-9a-f]+)")


@dataclass
class GuestRun:
    """The raw material of one guest run."""

    serial: str
    trace: str
    stderr: str
    status: str  # "completed", "faulted", "hung", "crashed", "exited"
    signal: str | None = None


def _hex(v: str) -> str:
    try:
        return f"0x{int(v, 0):x}"
    except ValueError:
        return v


def parse_serial(text: str) -> tuple[dict[int, dict[str, Any]], dict[int, bytes], str]:
    """Per-step reports, per-step data bytes, and the last line (for a hang report)."""
    reports: dict[int, dict[str, Any]] = {}
    data: dict[int, bytes] = {}
    last = ""
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        last = line
        m = _LINE_RE.match(line)
        if m is None:
            continue
        i, _op, status, rest = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        if status == "data":
            data[i] = data.get(i, b"") + bytes.fromhex(rest.strip())
            continue
        rep: dict[str, Any] = {"status": status}
        for k, v in _KV_RE.findall(rest):
            rep[k] = _hex(v) if k != "why" else v
        reports[i] = rep
    return reports, data, last


def split_phases(trace_text: str) -> tuple[list[tuple[str, str]], dict[int, list[tuple[str, str]]]]:
    """Trace events before the first step marker, and those after each step's marker."""
    start: list[tuple[str, str]] = []
    steps: dict[int, list[tuple[str, str]]] = {}
    cur: list[tuple[str, str]] = start
    for name, args in parse_trace(trace_text):
        if name == "smmuv3_write_mmio":
            m = _MARK_RE.search(args)
            if m is not None and int(m.group(1), 16) & 0xFFF00000 == MARKER:
                cur = steps.setdefault(int(m.group(1), 16) & 0xFFFFF, [])
            continue  # the payload's register writes: not observations
        cur.append((name, args))
    return start, steps


def _events(lines: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"ste_installs": [], "translate_stes": [], "vdevs": [],
                           "invalidations": [], "msi_routes": [], "veventqs": []}
    for name, args in lines:
        f = fields(name, args)
        if name == "smmuv3_accel_install_ste":
            out["ste_installs"].append([f["vsid"], f["type"]] if f else ["?", "?"])
        elif name == "smmuv3_accel_translate_ste":
            out["translate_stes"].append([f["vsid"], f.get("ste", "?")] if f else ["?", "?"])
        elif name == "iommufd_backend_alloc_vdev":
            out["vdevs"].append(f["virt_id"] if f else "?")
        elif name == "iommufd_backend_invalidate_cache":
            out["invalidations"].append(
                f"type={f['type']} len={f['len']} num={f['num']} done={f['done']} "
                f"ret={f['ret']}" if f else args)
        elif name == "iommufd_viommu_alloc_eventq":
            out["veventqs"].append(f"type={f['type']} ret={f['ret']}" if f else args)
        elif name == "kvm_arm_fixup_msi_route" and f:
            out["msi_routes"].append([_hex(f["iova"]), _hex(f["gpa"])])
    return out


def _start(lines: list[tuple[str, str]]) -> dict[str, Any]:
    out: dict[str, Any] = {"nest_parent_hwpts": 0, "viommus": [], "nested_hwpts": 0}
    for name, args in lines:
        f = fields(name, args)
        if name == "iommufd_backend_alloc_viommu":
            out["viommus"].append(int(f["type"]) if f else -1)
        elif name == "iommufd_backend_alloc_hwpt" and f:
            if int(f["flags"], 16) & 1:
                out["nest_parent_hwpts"] += 1
            elif f["hwpt_type"] == "2":
                out["nested_hwpts"] += 1
    return out


def acpi_summary(table: str, blob: bytes) -> dict[str, Any]:
    """O2 (RMR nodes of the IORT) or O5 (the DSDT _DSM function-0 bitmap)."""
    if table == "IORT":
        try:
            iort = parse_iort(blob)
        except IortError as e:
            return {"error": str(e)}
        return {"rmr_nodes": [[f"0x{b:x}", f"0x{ln:x}"]
                              for n in iort.rmr_nodes for b, ln in n["ranges"]]}
    at = blob.find(DSM_UUID)
    if at < 0:
        return {"dsm_functions": None}
    buf = blob.find(bytes.fromhex("110301"), at)  # If (Arg2 == 0) Return (Buffer (One) {X})
    return {"dsm_functions": f"0x{blob[buf + 3]:x}" if 0 <= buf < len(blob) - 3 else None}


#: keys of a guest prediction/observation that inform but are never compared (the rules
#: that fired; the payload's last line, kept for a hung or faulted guest's report)
NOT_COMPARED = ("rules", "last_report")
#: the roots of a guest observation's paths (what a known nonconformance's ``fields`` of a
#: guest scenario may name): :func:`observe`'s keys, plus ``exit_code``/``error`` of an L2
#: that never started the guest
OBSERVATION_ROOTS = frozenset({"guest", "start", "steps", "errors", "warnings",
                               "last_report", "signal", "exit_code", "error"})


def observe(run: GuestRun, steps: list[Any]) -> dict[str, Any]:
    """The observation of one guest run (``steps``: the scenario's GuestSteps)."""
    reports, data, last = parse_serial(run.serial)
    start, per_step = split_phases(run.trace)
    out_steps: list[dict[str, Any]] = []
    for i, s in enumerate(steps):
        if i not in reports and i not in per_step:
            break
        o = {"report": reports.get(i, {"status": "missing"}), **_events(per_step.get(i, []))}
        if s.kind == "acpi":
            o["acpi"] = acpi_summary(s.args["table"], data.get(i, b""))
        out_steps.append(o)
    error, warnings = split_stderr(run.stderr)
    errors = [e for e in (error or "").splitlines()
              if not e.startswith("terminating on signal")]
    result: dict[str, Any] = {"guest": run.status, "start": _start(start),
                              "steps": out_steps, "errors": errors, "warnings": warnings,
                              "last_report": last}
    if run.signal:
        result["signal"] = run.signal
    return result
