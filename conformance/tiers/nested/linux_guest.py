"""Real Linux guests in L2: the guest's own drivers program the accel vSMMU.

A *Linux-guest scenario* (``scenarios/linux_guest/*.toml``, ``[[linux_guest]]`` tables)
is an L2 command line that boots Debian's arm64 kernel through UEFI
(:mod:`images.l2guest`) with the passed-through e1000e (``0000:01:00.0`` in L1) behind
an ``arm-smmuv3``.  The guest's ``/init`` (``images/recipe/l2guest-init``) reports on
its console, a chardev file in L1, one ``L2GUEST <key> <value>`` line per fact: the
kernel's ``arm-smmu-v3`` lines, ``/sys/class/iommu``, every PCI function with its driver,
IOMMU group and default-domain type, and the device's interrupt counts before and after
a few seconds with its interface up.  L2 runs with the trace events of §5b/§5c/§6.

The prediction comes from the model, for the same argv
(:func:`reference_model.predict`; rules ``5c.install-ste`` and ``M2.msi-gpa``):

``iommus``
    one ``smmu3.0x<base>`` per SMMU the model places (the guest's arm-smmu-v3 driver
    probes each);
``group``
    the device has an IOMMU group (the model puts it behind an SMMU);
``ste_last``
    the type of the last ``smmuv3_accel_install_ste`` for the device's vSID: the §5c
    table for an enabled SMMU and a valid STE whose Config is what the guest's default
    domain needs (5 for a DMA domain, 4 for identity; ``iommu.passthrough=1`` in
    ``append`` asks for identity); no install at all behind a non-accel SMMU;
``translate_traced``
    a ``smmuv3_accel_translate_ste`` for that vSID when the type is ``translate``;
``viommus`` / ``vdev_virt_ids``
    §5b: one vIOMMU (type 1) and one vDEVICE whose virt_id is the vSID;
``msi_targets``
    §6 M1: every ``kvm_arm_fixup_msi_route`` for the accel device goes to the SMMU's
    ``msi-gpa`` (M2), whatever gIOVA the guest programmed;
``invalidations_forwarded`` / ``invalidation_entries``
    §7a: L2 traces every command the guest queues (``smmuv3_cmdq_opcode``); the model's
    forwarding table, walked over that stream, says how many reach the host as
    ``iommufd_backend_invalidate_cache`` calls, each with one entry (no batching);
``irqs_arrive``
    the device's interrupt counts grow (a route to 0 would never deliver, M5).

The vSID is the device's requester ID, read from its ``bus=pcie.0,addr=`` (scenarios
place the device on pcie.0, bus 0, with an explicit ``addr``).  Each run is a
:class:`~conformance.result.Verdict`, so the front ends, the results file and the
coverage matrix take it like any other.  A guest that does not print ``L2GUEST done``
within the scenario's timeout is a ``nonconformance`` "guest hung" with its console
tail; an L2 that exits early is reported with its exit status and stderr.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from artefacts.images import l2guest_find as find
from catalogue.scenario import ScenarioError, default_dir, split_args
from conformance.classify import classify_end
from conformance.errors import HarnessError
from conformance.evidence import from_verdict, write_results
from conformance.observe.l2trace import scan
from conformance.result import Verdict
from conformance.tiers.nested.host import make_host
from conformance.tiers.nested.qga import QgaCommandError
from reference_model import predict as model_predict
from reference_model.rules import ste
from reference_model.rules.invalidation import FORWARD, forwarded

#: where the guest's files go in L1 (pushed once per L1 boot)
L1_DIR = "/run/l2guest"
#: trace events L2 runs with (names checked against QEMU 11.1.3's ``-trace help``)
TRACE_EVENTS = ("smmuv3_accel_install_ste", "smmuv3_accel_translate_ste",
                "smmuv3_accel_set_iommu_device", "smmuv3_cmdq_cfgi_ste",
                "smmuv3_cmdq_opcode", "smmuv3_cmdq_cfgi_cd",
                "iommufd_backend_alloc_viommu", "iommufd_backend_alloc_vdev",
                "iommufd_backend_alloc_hwpt", "iommufd_backend_invalidate_cache",
                "kvm_arm_fixup_msi_route")
CONSOLE = "console.log"
TRACE = "trace.log"
SCENARIO_DIR = default_dir() / "linux_guest"
_KEYS = {"name", "rows", "description", "args", "append", "timeout", "wait"}
_ROW_RE = re.compile(r"^(P\d+a?|A\d+|AS\d+|H\d+|M\d+|O\d+|2a|2b|5[abc]|7[ab]|F\d*)$")
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


@dataclass(frozen=True)
class LinuxGuestScenario:
    name: str
    rows: tuple[str, ...]
    argv: tuple[str, ...]
    append: str = ""
    timeout: float = 300.0
    wait: int = 6  # seconds the guest counts interrupts for
    description: str = ""
    source: str = ""

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.name}" if self.source else self.name

    @property
    def vsid(self) -> int | None:
        """The passed-through (or emulated) endpoint's requester ID on pcie.0."""
        for a, b in zip(self.argv, self.argv[1:], strict=False):
            if a != "-device" or not re.match(r"(vfio-pci|e1000e),", b):
                continue
            opts = dict(p.split("=", 1) for p in b.split(",")[1:] if "=" in p)
            if opts.get("bus") == "pcie.0" and "addr" in opts:
                slot, _, fn = opts["addr"].partition(".")
                return (int(slot, 0) << 3) | int(fn or "0", 0)
        return None


def parse(d: Any, source: str) -> LinuxGuestScenario:
    if not isinstance(d, dict) or not isinstance(d.get("name"), str) \
            or not _NAME_RE.match(d["name"]):
        raise ScenarioError(f"{source}: each [[linux_guest]] needs a lower-case 'name'")
    where = f"{source}: linux_guest '{d['name']}'"
    bad = set(d) - _KEYS
    if bad:
        raise ScenarioError(f"{where}: unknown field '{sorted(bad)[0]}' "
                            f"(expected {', '.join(sorted(_KEYS))})")
    rows = d.get("rows")
    if not isinstance(rows, list) or not rows or not all(
            isinstance(r, str) and _ROW_RE.match(r) for r in rows):
        raise ScenarioError(f"{where}: field 'rows' must be a non-empty list of row ids")
    if not isinstance(d.get("args"), (str, list)):
        raise ScenarioError(f"{where}: missing field 'args' (string or list)")
    for k, typ in (("append", str), ("description", str), ("timeout", (int, float)),
                   ("wait", int)):
        if k in d and not isinstance(d[k], typ):
            raise ScenarioError(f"{where}: field '{k}' has the wrong type")
    s = LinuxGuestScenario(name=d["name"], rows=tuple(rows), argv=split_args(d["args"]),
                           append=d.get("append", ""), timeout=float(d.get("timeout", 300)),
                           wait=int(d.get("wait", 6)), description=d.get("description", ""),
                           source=source)
    if s.vsid is None:
        raise ScenarioError(f"{where}: field 'args': the endpoint (vfio-pci or e1000e) "
                            "needs bus=pcie.0 and an explicit addr= (its vSID)")
    return s


def load(paths: Iterable[Path] | None = None) -> list[LinuxGuestScenario]:
    files = sorted(SCENARIO_DIR.glob("*.toml")) if paths is None else list(paths)
    out: list[LinuxGuestScenario] = []
    for f in files:
        try:
            doc = tomllib.loads(f.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise ScenarioError(f"{f}: {e}") from None
        if set(doc) - {"linux_guest"}:
            raise ScenarioError(f"{f}: a Linux-guest file holds [[linux_guest]] tables")
        out += [parse(d, f.name) for d in doc.get("linux_guest", [])]
    return out


# ----------------------------------------------------------------------------- argv
def l2_argv(s: LinuxGuestScenario) -> list[str]:
    """The scenario's args plus KVM, UEFI, the guest kernel, the console and traces."""
    append = f"console=ttyAMA0 panic=-1 L2GUEST_WAIT={s.wait} {s.append}".strip()
    out = [*s.argv, "-accel", "kvm", "-cpu", "host", "-bios", f"{L1_DIR}/QEMU_EFI.fd",
           "-kernel", f"{L1_DIR}/Image.gz", "-initrd", f"{L1_DIR}/initrd",
           "-append", append, "-serial", f"file:{CONSOLE}", "-no-reboot", "-D", TRACE]
    for ev in TRACE_EVENTS:
        out += ["-trace", ev]
    return out


# ----------------------------------------------------------------------------- model
def predict(s: LinuxGuestScenario, argv: list[str]) -> dict[str, Any]:
    """What the model says the guest run must show (see the module docstring)."""

    p = model_predict(argv)
    if p.outcome != "starts":
        return {"start": f"exits: {p.error}", "rules": [r.__dict__ for r in p.rules]}
    dev = next((d for k, d in (p.devices or {}).items() if k not in ("gpex-root",)
                and d.address_space != "system" and not k.startswith("rp")), None)
    accel = dev is not None and dev.address_space == "accel-sysmem"
    smmus = p.smmus or {}
    identity = "iommu.passthrough=1" in s.append or "iommu.passthrough=on" in s.append
    config = 4 if identity else 5
    rules = [r.__dict__ for r in p.rules]
    out: dict[str, Any] = {
        "start": "starts",
        "iommus": sorted(f"smmu3.0x{sp.base:016x}" for sp in smmus.values()
                         if sp.base is not None),
        "group": dev is not None,
        "domain": "identity" if identity else "DMA",
        "irqs_arrive": True,
    }
    kind = ste.install_ste(viommu=accel, accel_vfio_dev=accel, ste_found=True,
                           smmu_enabled=True, gbpa_abort=False, ste_valid=True,
                           config=config)
    rules.append({"rule": ste.install_ste.id, "row": "5c",
                  "source": "merged", "predicted": False, "detail": str(kind)})
    out["ste_last"] = kind or None
    if accel:
        out["translate_traced"] = kind == "translate"
        out["viommus"] = 1
        out["vdev_virt_ids"] = [s.vsid]
        gpa = next(iter(smmus.values())).msi_gpa if smmus else None
        out["msi_targets"] = [gpa] if gpa else []  # M1: msi-gpa (M2), not the gIOVA
        out["smmus"] = {k: {"msi_gpa": sp.msi_gpa} for k, sp in smmus.items()}
    out["rules"] = rules
    return out


# ----------------------------------------------------------------------------- observe
_LINE = re.compile(r"^L2GUEST (\S+)(?: (.*))?$")


def _all(trace: str, event: str) -> list[dict[str, str]]:
    """The fields of every ``event`` line of L2's trace (:mod:`conformance.observe.l2trace`)."""
    return [f for _, f in scan(trace, event)]


def report_lines(console: str) -> list[tuple[str, str]]:
    out = []
    for raw in console.replace("\r", "").splitlines():
        m = _LINE.match(raw.strip())
        if m:
            out.append((m[1], m[2] or ""))
    return out


def observe(s: LinuxGuestScenario, console: str, trace: str,
            predicted: dict[str, Any]) -> dict[str, Any]:
    """The guest's report and L2's trace, in the prediction's shape."""
    rep = report_lines(console)
    vsid = s.vsid
    installs = [(int(f["vsid"], 16), f["type"]) for f in _all(trace, "smmuv3_accel_install_ste")]
    mine = [t for v, t in installs if v == vsid]
    pci = [v for k, v in rep if k == "pci"]
    ep = next((line for line in pci if line.split()[0].endswith(f":00:{(vsid or 0) >> 3:02x}."
                                                                 f"{(vsid or 0) & 7}")), "")
    fields = dict(f.split("=", 1) for f in ep.split()[2:] if "=" in f)
    before = {a.split()[0]: int(a.split()[1]) for k, a in rep if k == "irq-before"}
    after = {a.split()[0]: int(a.split()[1]) for k, a in rep if k == "irq-after"}
    obs: dict[str, Any] = {
        "start": "starts",
        "iommus": sorted(v for k, v in rep if k == "iommu"),
        "group": fields.get("group", "none") != "none",
        "domain": {"DMA-FQ": "DMA"}.get(fields.get("domain", ""), fields.get("domain")),
        "irqs_arrive": bool(after) and any(after[n] > before.get(n, 0) for n in after),
        "ste_last": mine[-1] if mine else None,
        "done": any(k == "done" for k, _ in rep),
        "driver": fields.get("driver"),
        "irq_counts": {"before": before, "after": after},
        "installs": [f"{v:#x}:{t}" for v, t in installs],
    }
    if "translate_traced" in predicted:
        obs["translate_traced"] = any(int(f["vsid"], 16) == vsid
                                      for f in _all(trace, "smmuv3_accel_translate_ste"))
        obs["viommus"] = sum(1 for f in _all(trace, "iommufd_backend_alloc_viommu")
                             if f["type"] == "1")
        obs["vdev_virt_ids"] = [int(f["virt_id"], 16)
                                for f in _all(trace, "iommufd_backend_alloc_vdev")]
        inv = [int(f["num"]) for f in _all(trace, "iommufd_backend_invalidate_cache")]
        obs["invalidations_forwarded"] = len(inv)
        obs["invalidation_entries"] = sorted(set(inv))
        fix = [(int(f["iova"], 16), int(f["gpa"], 16))
               for f in _all(trace, "kvm_arm_fixup_msi_route")]
        obs["msi_targets"] = sorted({t for _, t in fix})
        obs["msi_iovas"] = sorted({i for i, _ in fix})
        if "smmus" in predicted:
            obs["smmus"] = {k: {"msi_gpa": obs["msi_targets"][0] if len(
                obs["msi_targets"]) == 1 else None} for k in predicted["smmus"]}
    return obs


def forwarding(trace: str, ats: bool) -> tuple[int, dict[str, int]]:
    """§7a for the guest's own command stream: how many ``invalidate_cache`` calls the
    model's forwarding table (``reference_model.rules.invalidation``) asks for, walking
    L2's trace in order, and the commands seen by opcode.  The vIOMMU exists from its
    ``alloc_viommu`` line on; a SID has a vDEVICE from the ``alloc_vdev`` line with that
    ``virt_id`` on; a CFGI_CD(_ALL) is judged at the ``smmuv3_cmdq_cfgi_cd sid=`` line
    that follows its opcode line (the emulated host bridge's SID has no vDEVICE)."""

    viommu = False
    vdevs: set[int] = set()
    pending: str | None = None
    expected = 0
    seen: dict[str, int] = {}
    for name, f in scan(trace, "iommufd_backend_alloc_viommu", "iommufd_backend_alloc_vdev",
                        "smmuv3_cmdq_cfgi_cd", "smmuv3_cmdq_opcode"):
        if name == "iommufd_backend_alloc_viommu":
            viommu = True
        elif name == "iommufd_backend_alloc_vdev":
            vdevs.add(int(f["virt_id"], 16))
        elif name == "smmuv3_cmdq_cfgi_cd" and pending is not None:
            expected += forwarded(pending, viommu, int(f["sid"], 16) in vdevs, ats)
            pending = None
        elif name == "smmuv3_cmdq_opcode":
            op = f["op"]
            seen[op] = seen.get(op, 0) + 1
            if op in ("CMD_CFGI_CD", "CMD_CFGI_CD_ALL"):
                pending = op
            elif op in FORWARD:  # ATC_INV's SID is not traced: the passed-through one
                expected += forwarded(op, viommu, bool(vdevs), ats)
    return expected, seen


#: prediction keys that are claims (compared); the rest is provenance or context
CLAIMS = ("start", "iommus", "group", "domain", "ste_last", "translate_traced", "viommus",
          "vdev_virt_ids", "msi_targets", "invalidations_forwarded", "invalidation_entries",
          "irqs_arrive", "smmus")


def judge(pred: dict[str, Any], obs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"path": k, "expected": pred[k], "observed": obs.get(k)}
            for k in CLAIMS if k in pred and pred[k] != obs.get(k)]


# ----------------------------------------------------------------------------- running
async def write_file(qga: Any, path: str, data: bytes, chunk: int = 1 << 20) -> None:
    handle = await qga.execute("guest-file-open", {"path": path, "mode": "w"})
    try:
        for i in range(0, len(data), chunk):
            await qga.execute("guest-file-write", {
                "handle": handle, "buf-b64": base64.b64encode(data[i:i + chunk]).decode()},
                timeout=120.0)
    finally:
        await qga.execute("guest-file-close", {"handle": handle})


async def push_guest(host: Any) -> float:
    """Copy the guest's files into L1 (once per L1 boot); returns the seconds it took."""

    g = find()
    if g is None:
        raise HarnessError("the Linux L2 guest is not built (run: python -m images.l2guest)")
    l1 = await host.ensure_l1()  # the files must be in L1 before L2 starts
    if getattr(l1, "_l2guest_boot", None) == l1.boots:
        return 0.0
    t0 = time.monotonic()
    await l1.qga.sh(f"mkdir -p {L1_DIR}")
    for f in g.files():
        await write_file(l1.qga, f"{L1_DIR}/{f.name}", f.read_bytes())
    l1._l2guest_boot = l1.boots
    return time.monotonic() - t0


async def run(host: Any, s: LinuxGuestScenario, log_dir: Path | None = None) -> Verdict:
    """Boot the guest in L2 on the nested ``host``; the verdict of the scenario.

    With ``log_dir``, ``<log_dir>/<name>/`` keeps ``argv.txt``, ``console.log``,
    ``trace.log`` and ``verdict.json``."""
    v = await _run(host, s)
    if log_dir is not None and v.status != "skipped":
        d = log_dir / s.name
        try:
            d.mkdir(parents=True, exist_ok=True)
            (d / "argv.txt").write_text(" ".join(v.argv) + "\n")
            obs = v.observation or {}
            for name in (CONSOLE, TRACE):
                (d / name).write_text(str(obs.get(f"_{name}", "")))
            v.log_dir = str(d)
            (d / "verdict.json").write_text(v.to_json() + "\n")
        except OSError:
            pass
    if v.observation:
        v.observation.pop(f"_{CONSOLE}", None)
        v.observation.pop(f"_{TRACE}", None)
    return v


async def _run(host: Any, s: LinuxGuestScenario) -> Verdict:
    t0 = time.monotonic()
    v = Verdict(scenario=s.ref, tier="nested", status="skipped", rows=list(s.rows),
                profile="qemu-11.1")
    why = host.unavailable_reason() or host.missing_requirement("vfio-iommufd")
    if why:
        v.reason = why
        return v
    argv = l2_argv(s)
    pred = predict(s, argv)
    v.prediction = pred
    try:
        await push_guest(host)
        proc = await host.start(argv)
    except Exception as e:  # L1 boot, guest agent: not QEMU's fault
        v.status, v.reason = "infra-error", f"{type(e).__name__}: {e}"
        return v
    v.argv = list(proc.argv)
    qga = host.l1.qga
    console = trace = ""
    status = None
    started = False
    try:
        deadline = time.monotonic() + s.timeout
        while not proc.qmp_ready():
            if await proc.wait(0.2) is not None or time.monotonic() > deadline:
                break
        started = proc.qmp_ready()
        if started:
            v.qemu_version = await _qmp(proc, "cont")
        while started and time.monotonic() < deadline:
            if await proc.wait(2.0) is not None:
                break
            console = await _read(qga, f"{proc.workdir}/{CONSOLE}")
            if "L2GUEST done" in console:
                await proc.wait(15.0)  # the guest powers off: let QEMU exit by itself
                break
        console = await _read(qga, f"{proc.workdir}/{CONSOLE}")
        trace = await _read(qga, f"{proc.workdir}/{TRACE}")
    except Exception as e:  # reported; L2 is reaped below
        v.status, v.reason = "infra-error", f"{type(e).__name__}: {e}"
    finally:
        status = await proc.terminate()
        v.stderr_tail = "\n".join(proc.stderr_text().strip().splitlines()[-20:])
        v.exit_code, v.signal = status.code, status.signal
        v.duration_s = round(time.monotonic() - t0, 2)
    if v.status == "infra-error":
        return v
    if "translate_traced" in pred and "smmuv3_cmdq_opcode" in trace:
        # §7a: what the guest sent decides what must reach the host (one entry each)
        ats = "ats=on" in " ".join(s.argv)
        pred["invalidations_forwarded"], commands = forwarding(trace, ats)
        pred["invalidation_entries"] = [1] if pred["invalidations_forwarded"] else []
        pred["rules"].append({"rule": "7a.forward", "row": "7a", "source": "merged",
                              "predicted": False, "detail": json.dumps(commands)})
    obs = observe(s, console, trace, pred)
    obs["console_tail"] = "\n".join(console.strip().splitlines()[-15:])
    obs[f"_{CONSOLE}"], obs[f"_{TRACE}"] = console, trace  # for the logs, then dropped
    v.observation = obs
    if not started:  # L2 ended before QMP: compare the start-up with the model's
        last = (v.stderr_tail.splitlines() or [""])[-1]
        obs["start"] = "exits: " + re.sub(r"^qemu-system-aarch64: ", "", last)
        v.differences = judge({"start": pred["start"]}, obs)
        v.status = "nonconformance" if v.differences else "pass"
        v.reason = (f"L2 ended ({status.describe()}) before QMP: {last}"
                    if v.differences else "")
        return v
    if not obs["done"]:
        if v.duration_s >= s.timeout:
            v.status = "nonconformance"
            v.reason = (f"guest hung: no 'L2GUEST done' within {s.timeout:g} s; console "
                        f"tail: {obs['console_tail'][-600:]!r}")
        else:  # QEMU's own end (crash, exit) or a kill from outside (infra-error)

            st, why = classify_end(status, proc.stderr_text(), "before the guest finished")
            v.status, v.reason = st, (f"{why}; console tail: "
                                      f"{obs['console_tail'][-300:]!r}")
        return v
    v.differences = judge(pred, obs)
    v.status = "nonconformance" if v.differences else "pass"
    v.reason = "; ".join(f"{d['path']}: expected {d['expected']}, observed {d['observed']}"
                         for d in v.differences)
    return v


async def _read(qga: Any, path: str) -> str:
    """A file of L2's folder in L1, ``""`` if it is not there (L2 never wrote it)."""

    try:
        return bytes(await qga.read_file(path)).decode(errors="replace")
    except QgaCommandError:
        return ""


async def _qmp(proc: Any, command: str) -> str:
    """Run ``command`` on L2's QMP; returns L2's version text (``query-version``)."""
    from qemu.qmp import QMPClient

    c = QMPClient("linux-guest")
    await c.connect(proc.qmp.for_client())
    try:
        ver: Any = await c.execute("query-version")
        await c.execute(command)
    finally:
        await c.disconnect()
    q = ver.get("qemu", {}) if isinstance(ver, dict) else {}
    pkg = str(ver.get("package", "")).strip()  # the runner's format (Capabilities)
    return (f"{q.get('major')}.{q.get('minor')}.{q.get('micro')}" + (f" ({pkg})" if pkg else "")
            if q else "")


def main(argv: list[str] | None = None) -> int:
    """``python -m conformance.tiers.nested.linux_guest [--scenario NAME] [--results FILE]``."""
    import argparse
    import json

    ap = argparse.ArgumentParser(prog="python -m conformance.tiers.nested.linux_guest")
    ap.add_argument("--scenario", action="append", help="scenario name (default: all)")
    ap.add_argument("--results", help="write evidence records here (for coverage)")
    ap.add_argument("--json", action="store_true", help="print the verdicts as JSON")
    ap.add_argument("--log-dir", help="keep argv, console, trace and verdict per scenario")
    a = ap.parse_args(argv)
    try:
        scenarios = [s for s in load() if not a.scenario or s.name in a.scenario]
    except ScenarioError as e:
        print(f"linux_guest: error: {e}")
        return 2

    async def go() -> list[Verdict]:

        host = make_host("")
        try:
            logs = Path(a.log_dir) if a.log_dir else None
            return [await run(host, s, logs) for s in scenarios]
        finally:
            await host.close()

    verdicts = asyncio.run(go())
    for v in verdicts:
        print(json.dumps(v.to_dict(), indent=1) if a.json else v.headline())
    if a.results:
        write_results(a.results, [from_verdict(v) for v in verdicts])
    return 1 if any(v.failed for v in verdicts) else 0


if __name__ == "__main__":
    raise SystemExit(main())

