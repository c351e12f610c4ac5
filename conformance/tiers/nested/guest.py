"""The guest-driven tier: a payload in L2 programs the vSMMU and the passed-through device.

A scenario with a ``guest`` step list (:mod:`catalogue.guest_steps`) runs like
this (:func:`run_guest`, called by :meth:`conformance.runner.Runner.run`):

1. the payload (:mod:`artefacts.payload`, cached) and the compiled step script are
   written next to QEMU: into L1 through the guest agent on the nested tier, into a
   private temporary folder on a local host (TCG: the non-accel control group);
2. QEMU starts with the scenario's command line and the tier's, with ``-bios`` the
   payload, ``-fw_cfg name=opt/smmuv3/steps,file=...``, the PL011 to a file and the
   guest tier's trace events (:data:`reference_model.guest.TRACE_EVENTS`) to ``-D``;
3. over QMP the scenario's events are played, then ``cont``; the harness polls the
   serial file until the payload's ``G end`` (or ``G fault``), until QEMU ends, or until
   ``guest_timeout``; then ``quit``, and QEMU is always terminated and the files removed;
4. :mod:`conformance.observe.guest` turns the serial report and the trace into the shape
   :func:`reference_model.guest.predict_guest` predicts; :func:`judge_guest` compares.

A guest that faults or hangs, or a QEMU that crashes, is a verdict about QEMU
(``nonconformance`` unless predicted), reported with the payload's last line and the
traces; only a failure of the harness or the host is an ``infra-error``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from artefacts import ArtefactError
from artefacts.payload import build_payload
from catalogue.guest_steps import SMMU_DEFAULT_BASE, GuestStep, compile_script
from catalogue.prediction import Difference
from conformance.classify import stderr_tail
from conformance.compare import judge_differences
from conformance.errors import HarnessError, QmpLost, QmpStartupFailed, QmpTimeout
from conformance.host_smmu import model_host
from conformance.normalise import split_stderr
from conformance.observe.guest import NOT_COMPARED, GuestRun, observe
from conformance.select import compose_argv
from conformance.session import CommandFailed, QmpSession
from conformance.tiers.local import LocalHost
from conformance.tiers.nested.host import NestedHost
from conformance.tiers.nested.qga import QgaError
from reference_model import TypeHierarchy, predict
from reference_model.errors import ModelError
from reference_model.guest import TRACE_EVENTS, msi_mechanism, predict_guest
from reference_model.guest import setup as guest_setup
from reference_model.profiles import resolve

if TYPE_CHECKING:
    from catalogue.scenario import Scenario
    from conformance.result import Verdict
    from conformance.runner import Runner

#: how long the payload may take from ``cont`` to ``G end``
GUEST_TIMEOUT = 60.0
POLL = 0.25
SCRIPT_NAME = "opt/smmuv3/steps"


class _Files:
    """Where QEMU's side files live: L1 (through the guest agent) or a local folder."""

    dir: str

    async def put(self, path: str, data: bytes) -> None:
        raise NotImplementedError

    async def read(self, path: str) -> str:
        raise NotImplementedError

    async def cleanup(self) -> None:
        raise NotImplementedError


#: (L1 boot, payload sha256) pairs whose payload is already in L1's /run/guest
_staged: set[tuple[int, str]] = set()


class _L1Files(_Files):
    def __init__(self, qga: Any, n: int, boot: int) -> None:
        self.qga = qga
        self.boot = boot
        self.dir = f"/run/guest/{os.getpid()}-{n}"
        self._made = False

    async def stage_payload(self, data: bytes, sha: str) -> str:
        """The payload's path in L1, written once per L1 boot."""
        path = f"/run/guest/payload-{sha[:16]}.bin"
        if (self.boot, sha) not in _staged:
            await self.put(path, data)
            _staged.add((self.boot, sha))
        return path

    async def put(self, path: str, data: bytes) -> None:
        if not self._made:  # one mkdir per scenario (it also creates /run/guest)
            await self.qga.sh(f"mkdir -p {self.dir}", timeout=15.0)
            self._made = True
        handle = await self.qga.execute("guest-file-open", {"path": path, "mode": "w"})
        try:
            for off in range(0, len(data), 48 << 10):
                await self.qga.execute("guest-file-write", {
                    "handle": handle,
                    "buf-b64": base64.b64encode(data[off:off + (48 << 10)]).decode()})
        finally:
            await self.qga.execute("guest-file-close", {"handle": handle})

    async def read(self, path: str) -> str:
        try:
            return bytes(await self.qga.read_file(path)).decode(errors="replace")
        except QgaError:
            return ""

    async def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            await self.qga.sh(f"rm -rf {self.dir}", timeout=15.0)


class _LocalFiles(_Files):
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="smmuv3-guest-")

    async def put(self, path: str, data: bytes) -> None:
        Path(path).write_bytes(data)

    async def read(self, path: str) -> str:
        try:
            return Path(path).read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


_counter = 0


async def _files_for(runner: Runner) -> _Files:
    global _counter

    host = runner.host
    if isinstance(host, NestedHost):
        l1 = await host.ensure_l1()
        _counter += 1
        return _L1Files(l1.qga, _counter, id(l1) + len(host.boot_seconds))
    if isinstance(host, LocalHost):
        return _LocalFiles()
    raise HarnessError(f"guest scenarios cannot run on the '{host.tier}' tier's host")


def guest_argv(base: list[str], files: _Files, payload: str) -> list[str]:
    """The scenario's and tier's arguments with the payload as firmware, the script,
    the serial file and the traces added (a ``-bios`` already there is replaced)."""
    out: list[str] = []
    it = iter(base)
    for a in it:
        if a == "-bios":
            next(it, None)
            continue
        out.append(a)
    if "-cpu" not in out:  # the payload is AArch64 (virt's default CPU is 32-bit)
        out += ["-cpu", "max"]
    d = files.dir
    out += ["-bios", payload, "-fw_cfg", f"name={SCRIPT_NAME},file={d}/steps.bin",
            "-serial", f"file:{d}/serial.log", "-D", f"{d}/trace.log"]
    # $SMMUV3_GUEST_TRACE: extra trace patterns for debugging (kept in the logs, not judged)
    for ev in (*TRACE_EVENTS, *os.environ.get("SMMUV3_GUEST_TRACE", "").split()):
        out += ["-trace", ev]
    return out


def smmu_base(argv: list[str]) -> int:
    """The payload's SMMU: the first user-created one, else the legacy one (§0)."""
    if any(a.startswith("arm-smmuv3") for a in argv):
        return SMMU_DEFAULT_BASE
    return 0x09050000 if any("iommu=smmuv3" in a for a in argv) else 0


async def _wait_for_guest(files: _Files, proc: Any, timeout: float) -> str:
    """Poll the serial file: "completed", "faulted", "hung" or "exited"."""
    deadline = time.monotonic() + timeout
    path = f"{files.dir}/serial.log"
    while True:
        text = await files.read(path)
        if "\nG end" in "\n" + text:
            return "completed"
        if "G fault" in text:
            return "faulted"
        if await proc.wait(0) is not None:
            return "exited"
        if time.monotonic() > deadline:
            return "hung"
        await asyncio.sleep(POLL)


def _predict(runner: Runner, s: Scenario, argv: list[str], steps: tuple[GuestStep, ...],
             types: TypeHierarchy) -> dict[str, Any]:
    host, _source = model_host(s, runner.host)  # the scenario's override, else the probe
    main = predict(argv, events=s.events, host=host, profile=runner.options.profile,
                   types=types, observe=("msi_gpa",))
    if main.outcome != "starts":
        return {"guest": "not-started", "exit_code": main.exit_code, "error": main.error}
    mech = msi_mechanism(resolve(runner.options.profile).b.msi_gpa_phase)
    st = guest_setup(argv, main.smmus or {}, mech)
    pred = predict_guest(steps, st)
    pred["warnings"] = list(main.warnings)
    return pred


#: observation keys compared only on the keys the prediction names (the payload reports
#: more than the model claims: addresses it chose, the device ID)
_PROJECTED = ("report",)
#: bookkeeping keys, never compared
_INFO = NOT_COMPARED


def _walk(path: str, e: Any, o: Any, out: list[dict[str, Any]]) -> None:
    if isinstance(e, dict) and isinstance(o, dict):
        keys = list(e) if path.rsplit(".", 1)[-1] in _PROJECTED else list(dict.fromkeys(
            [*e, *o]))
        for k in keys:
            if k in _INFO:
                continue
            _walk(f"{path}.{k}" if path else k, e.get(k), o.get(k), out)
    elif isinstance(e, list) and isinstance(o, list) and path.endswith("steps"):
        for i in range(max(len(e), len(o))):
            _walk(f"{path}[{i}]", e[i] if i < len(e) else None,
                  o[i] if i < len(o) else None, out)
    elif e != o:
        out.append({"path": path, "expected": e, "observed": o})


def judge_guest(expected: dict[str, Any], observed: dict[str, Any],
                s: Scenario, profile: str) -> tuple[str, str, list[dict[str, Any]]]:
    """The verdict of one guest run: the guest observation's differences from the
    prediction (:func:`_walk`) judged like any other (:func:`compare.judge_differences`)."""
    diffs: list[dict[str, Any]] = []
    _walk("", expected, observed, diffs)
    j = judge_differences([Difference(d["path"], d["expected"], d["observed"]) for d in diffs],
                          s.nonconformance, profile)
    return j.status, j.reason, diffs


async def run_guest(runner: Runner, s: Scenario, v: Verdict) -> None:
    """Run one guest scenario and fill in ``v`` (see the module docstring)."""

    steps: tuple[GuestStep, ...] = s.extra["guest"]
    try:
        payload = await asyncio.to_thread(build_payload)
    except ArtefactError as e:
        if "not found" in str(e):  # no cross compiler: this machine cannot run the tier
            v.status, v.reason = "skipped", f"guest payload cannot be built: {e}"
            return
        raise HarnessError(f"guest payload: {e}") from None
    files = await _files_for(runner)
    run: GuestRun | None = None
    started = True
    exit_info: dict[str, Any] = {}
    try:
        base = compose_argv(s, runner.host.tier_args())
        await files.put(f"{files.dir}/steps.bin", compile_script(steps, smmu_base(base)))
        if isinstance(files, _L1Files):
            bios = await files.stage_payload(payload.path.read_bytes(), payload.sha256)
        else:
            bios = str(payload.path)  # a local QEMU reads the cached file itself
        argv = guest_argv(base, files, bios)
        proc = await runner.host.start(argv)
        v.argv = list(proc.argv)
        session = QmpSession(proc, startup_timeout=runner.options.startup_timeout,
                             command_timeout=runner.options.command_timeout)
        state = "hung"
        try:
            st = await session.open()
            if st is not None:
                started = False
                exit_info = {"exit_code": st.code}
            else:
                if s.events:
                    await runner.play_events(s, proc, session)
                await session.command("cont")
                state = await _wait_for_guest(files, proc, GUEST_TIMEOUT)
                if state != "exited":
                    with contextlib.suppress(QmpTimeout, QmpLost, CommandFailed):
                        await session.quit()
        except (QmpStartupFailed, QmpLost) as e:
            if await proc.wait(1.0) is None:
                raise HarnessError(str(e)) from None
            state = "exited"
        except QmpTimeout:
            state = "hung"
        finally:
            v.qmp_transcript = session.transcript
            try:
                await session.close()
            finally:
                status = await proc.terminate()
            stderr = proc.stderr_text()
            v.stderr_tail = stderr_tail(stderr)
            v.exit_code, v.signal = status.code, status.signal
        serial = await files.read(f"{files.dir}/serial.log")
        trace = await files.read(f"{files.dir}/trace.log")
        sig = None
        if state == "exited" and status.signal is not None:
            state, sig = "crashed", signal.Signals(status.signal).name
        run = GuestRun(serial=serial, trace=trace, stderr=stderr, status=state, signal=sig)
    finally:
        await files.cleanup()
    _keep_logs(runner, s, run)
    if not started:
        err, _w = split_stderr(run.stderr)
        observed: dict[str, Any] = {"guest": "not-started", **exit_info, "error": err}
    else:
        observed = observe(run, list(steps))
    v.observation = observed
    try:
        types = await runner.type_hierarchy()
        expected = _predict(runner, s, list(v.argv[1:]), steps, types)
    except ModelError as e:  # GuestModelError included; anything else is a model bug
        v.status, v.reason = "not-covered", f"the model does not cover this: {e}"
        return
    v.prediction = expected
    status_, reason, diffs = judge_guest(expected, observed, s, runner.options.profile)
    if observed.get("guest") in ("hung", "faulted") and status_ == "nonconformance":
        reason = f"guest {observed['guest']} (last report: {observed.get('last_report')!r}); " \
            + reason
    v.status, v.reason, v.differences = status_, reason, diffs  # type: ignore[assignment]


def _keep_logs(runner: Runner, s: Scenario, run: GuestRun | None) -> None:
    d = runner.log_dir_for(s)
    if d is None or run is None:
        return
    with contextlib.suppress(OSError):
        d.mkdir(parents=True, exist_ok=True)
        (d / "serial.log").write_text(run.serial)
        (d / "trace.log").write_text(run.trace)
