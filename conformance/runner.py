"""Run scenarios on a :class:`~conformance.hosts.QemuHost` and judge them.

:func:`run_scenarios` is the API every front end uses (``python -m conformance run``,
the pytest plugin, the benchmark).  For one scenario, :meth:`Runner.run`:

1. decides whether the scenario can run here, else returns ``skipped`` with the reason
   (tier not listed, tier unavailable, host capability missing, build lacks a type);
2. starts QEMU with the harness's arguments (``-S -nodefaults -display none`` + QMP),
   the tier's (``-accel tcg``) and the scenario's;
3. in **one** QMP session: plays the scenario's ``device_add``/``device_del`` events
   (checking QEMU is still alive after each refusal), reads ``info mtree -o -D`` once,
   then each SMMU's ID registers and properties, and quits;
4. normalises what it saw (:mod:`conformance.normalise`), asks the reference model for
   its prediction of the *same* argv, and judges (:mod:`conformance.compare`).

How an abnormal end is classified (:func:`classify_end`, :func:`classify_hang`; the
rationale is in docs/reliability.md):

* QEMU killed by a signal QEMU raises on itself (SIGABRT from ``assert``/``abort``,
  SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS) -> ``nonconformance`` "QEMU
  crashed", with the signal and the last stderr line;
* QEMU killed by a signal only *someone else* sends (SIGKILL: the OOM killer, a user;
  SIGTERM/SIGINT/SIGHUP, which QEMU turns into "terminating on signal N from pid P")
  -> ``infra-error``: the build was not tested, ``git bisect run`` must skip it (125);
* QEMU exiting by itself in the middle of the session -> ``nonconformance``;
* no QMP answer within ``command_timeout`` (or the scenario over ``scenario_timeout``)
  -> ``nonconformance`` "QEMU hung", unless the process is *stopped* (state ``T``:
  SIGSTOP from outside), which is an ``infra-error``;
* QMP socket lost while QEMU lives, QMP never came up, temp folder or fork failed, a
  harness bug (any other exception) -> ``infra-error``.

QEMU is always terminated and its temporary directory removed, whatever happens.

**Fault injection.**  ``RunOptions.fault`` is an optional coroutine function called at
named :class:`Phase` points with a :class:`FaultContext` (the live process and QMP
session).  ``tests/reliability/`` and ``benchmarks/fault_injection.py`` use it to kill,
stop, flood or disconnect a *real* QEMU at real points of a scenario.

With a log root, each run leaves ``argv.txt``, ``stderr.log``, ``qmp.jsonl`` and
``verdict.json`` in ``<log root>/<tier>/<scenario>/``, and ``trace.log`` when the
scenario observes ``trace``.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import re
import shlex
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from conformance.capabilities import Capabilities, probe
from conformance.compare import judge
from conformance.errors import (
    HarnessError,
    Interrupted,
    QemuDied,
    QmpLost,
    QmpStartupFailed,
    QmpTimeout,
    ScenarioTimeout,
)
from conformance.hosts import ExitStatus, QemuHost, QemuProcess
from conformance.local_host import LocalHost, LocalProcess
from conformance.normalise import RawObservation, SmmuReading, normalise
from conformance.observe import mtree as mtree_mod
from conformance.observe.iort import QtestLine, read_iort
from conformance.observe.properties import read_properties
from conformance.observe.registers import read_registers
from conformance.observe.trace import TRACE_EVENTS, TRACE_FILE, TraceLine, TraceReader
from conformance.result import Status, Verdict
from conformance.session import CommandFailed, QmpSession
from reference_model.prediction import EventResult, Prediction
from reference_model.scenario import Scenario

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

DEFAULT_PROFILE = "qemu-11.1"
STDERR_TAIL_LINES = 20

#: host capability a scenario may require -> (check, reason when missing)
REQUIREMENT_CHECKS: dict[str, tuple[Callable[[], bool], str]] = {
    "iommufd": (lambda: os.path.exists("/dev/iommu"), "host has no /dev/iommu (iommufd)"),
    "vfio": (lambda: os.path.exists("/dev/vfio/vfio"), "host has no /dev/vfio/vfio"),
    "vfio-iommufd": (lambda: os.path.exists("/dev/vfio/devices"),
                     "host has no /dev/vfio/devices (VFIO cdev for iommufd)"),
}


#: why a scenario observing the IORT is skipped outside the TCG tier
IORT_NEEDS_GUEST = ("observing the IORT needs -qtest, which cannot be combined with KVM: "
                    "on this tier the tables must be read by a booted guest (acpidump), "
                    "which the harness does not do yet")
#: why a scenario observing trace events is skipped on a host that is not local
TRACE_NEEDS_LOCAL = ("observing trace events needs the -D log file of a QEMU started "
                     "on this machine; this tier's host does not hand it back yet")


class Phase(enum.StrEnum):
    """Points of one scenario run where :attr:`RunOptions.fault` is called."""

    STARTED = "started"  # QEMU forked, QMP not connected yet
    CONNECTED = "connected"  # QMP greeting received
    EVENT = "event"  # before each device_add/device_del (``FaultContext.index``)
    OBSERVE = "observe"  # before ``info mtree``
    READ = "read"  # before each SMMU's register/property reads
    QUIT = "quit"  # before ``quit``


@dataclass
class FaultContext:
    """What a fault hook can act on: the real QEMU process and its QMP session."""

    phase: Phase
    scenario: Scenario
    proc: QemuProcess
    session: QmpSession
    index: int = 0


FaultHook = Callable[[Phase, FaultContext], Awaitable[None]]


@dataclass
class RunOptions:
    profile: str = DEFAULT_PROFILE
    log_root: Path | None = None
    startup_timeout: float = 30.0
    command_timeout: float = 20.0
    #: budget for one whole scenario run (start to quit), then QEMU counts as hung
    scenario_timeout: float = 120.0
    #: test hook, see :class:`Phase` (``None`` in production)
    fault: FaultHook | None = field(default=None, repr=False)


#: signals QEMU raises on itself: assert()/abort(), bad memory access, bad instruction
CRASH_SIGNALS = frozenset({signal.SIGABRT, signal.SIGSEGV, signal.SIGBUS, signal.SIGFPE,
                           signal.SIGILL, signal.SIGTRAP, signal.SIGSYS})
_TERMINATED_RE = re.compile(r"terminating on signal (\d+)(?: from pid (\d+))?[^\n]*")


def externally_terminated(stderr: str) -> str | None:
    """QEMU's own "terminating on signal N from pid P" line, if it printed one."""
    found = list(_TERMINATED_RE.finditer(stderr))
    return found[-1][0].strip() if found else None


def classify_end(status: ExitStatus, stderr: str, where: str) -> tuple[Status, str]:
    """Verdict status and reason for a QEMU that ended while the harness talked to it."""
    from conformance.stderr_summary import last_line
    last = last_line(stderr)
    tail = f": {last}" if last else ""
    if status.signal is not None:
        if status.signal in CRASH_SIGNALS:
            return "nonconformance", f"QEMU crashed ({status.describe()}) {where}{tail}"
        return "infra-error", (f"QEMU was {status.describe()} {where}; not a QEMU fault "
                               "(sent from outside: OOM killer, a user, another process)")
    ext = externally_terminated(stderr)
    if ext is not None:
        return "infra-error", (f"QEMU was terminated from outside {where} ({ext}); "
                               "not a QEMU fault")
    return "nonconformance", f"QEMU exited unexpectedly ({status.describe()}) {where}{tail}"


def _is_stopped(proc: QemuProcess) -> bool:
    stopped = getattr(proc, "stopped", None)
    return bool(stopped is not None and stopped())


def classify_hang(e: QmpTimeout, proc: QemuProcess) -> tuple[Status, str]:
    """A timeout is QEMU's hang unless the process was stopped from outside."""
    if _is_stopped(proc):
        return "infra-error", (f"QEMU hung: {e}; the process was stopped (SIGSTOP/SIGTSTP "
                               "from outside), not a QEMU fault")
    return "nonconformance", f"QEMU hung: {e}"


def compose_argv(scenario: Scenario, host: QemuHost) -> list[str]:
    """Scenario args plus the tier's, unless the scenario picks its accelerator itself."""
    argv = list(scenario.argv)
    sets_accel = "-accel" in argv or "--accel" in argv or any(
        "accel=" in a for i, a in enumerate(argv[1:], 1) if argv[i - 1] in ("-M", "-machine"))
    return argv if sets_accel else [*argv, *host.tier_args()]


def stderr_tail(text: str, lines: int = STDERR_TAIL_LINES, keep_marker: bool = True) -> str:
    from conformance.stderr_summary import tail_lines
    return tail_lines(text, lines, keep_marker)


def _predictor() -> Callable[..., Prediction]:
    from reference_model import predict  # type: ignore[attr-defined,unused-ignore]

    return predict  # type: ignore[no-any-return,unused-ignore]


def _type_hierarchy(caps: Capabilities) -> Any:
    from reference_model import TypeHierarchy  # type: ignore[attr-defined,unused-ignore]

    return TypeHierarchy.from_qom_list_types(caps.qom_types())


class Runner:
    """Runs scenarios for one binary on one host (capabilities probed once)."""

    def __init__(self, host: QemuHost, binary: str, options: RunOptions | None = None,
                 qemu_version: str = "") -> None:
        self.host = host
        self.binary = binary
        self.options = options or RunOptions()
        self.qemu_version = qemu_version
        self._caps: Capabilities | None = None
        self._types: Any = None
        self._caps_lock = asyncio.Lock()

    async def capabilities(self) -> Capabilities:
        async with self._caps_lock:
            if self._caps is None:
                self._caps = await probe(self.host, self.binary,
                                         self.options.startup_timeout)
                self.qemu_version = self._caps.version_text
            return self._caps

    # ----------------------------------------------------------------- skipping
    async def skip_reason(self, s: Scenario) -> str | None:
        tier = self.host.tier
        if tier not in s.tiers:
            return f"tier '{tier}' cannot show this scenario (tiers: {', '.join(s.tiers)})"
        why = self.host.unavailable_reason()
        if why:
            return why
        # a host that runs QEMU elsewhere (the nested tier's L1) answers for itself
        host_missing = getattr(self.host, "missing_requirement", None)
        for req in s.requires:
            if host_missing is not None:
                why = host_missing(req)
                if why:
                    return f"requires {req}: {why}"
                continue
            check, reason = REQUIREMENT_CHECKS.get(req, (lambda: False, f"unknown '{req}'"))
            if not check():
                return f"requires {req}: {reason}"
        if "iort" in s.observe and (tier != "tcg" or not isinstance(self.host, LocalHost)):
            return IORT_NEEDS_GUEST
        if "trace" in s.observe and not isinstance(self.host, LocalHost):
            return TRACE_NEEDS_LOCAL
        caps = await self.capabilities()
        drivers = [str(e.arguments["driver"]) for e in s.events if e.op == "device_add"]
        from conformance.argcheck import is_capability_gap
        why = caps.missing_for(s.argv, drivers)  # a name no build has is predicted instead
        return why if why is None or is_capability_gap(why) else None

    # ----------------------------------------------------------------- running
    async def run(self, s: Scenario) -> Verdict:
        t0 = time.monotonic()
        v = Verdict(scenario=s.ref, tier=self.host.tier, status="skipped", rows=list(s.rows),
                    qemu=self.binary, profile=self.options.profile)
        try:
            reason = await self.skip_reason(s)
        except HarnessError as e:
            v.status, v.reason = "infra-error", f"capability probe failed: {e}"
            return v
        if reason is not None:
            v.reason = reason
            return v
        from conformance.argcheck import not_covered
        reason = not_covered(s.argv)
        if reason is not None:  # the model cannot say: not a finding either way
            v.status, v.reason = "not-covered", reason
            return v
        v.qemu_version = self.qemu_version
        try:
            await self._run(s, v)
        except HarnessError as e:
            v.status, v.reason = "infra-error", str(e)
        except Exception as e:  # a harness bug: QEMU is reaped, the verdict says so
            logger.debug("harness error in %s", s.ref, exc_info=True)
            v.status, v.reason = "infra-error", f"harness error: {type(e).__name__}: {e}"
        finally:
            v.duration_s = round(time.monotonic() - t0, 4)
            self._write_logs(s, v)
        return v

    async def _run(self, s: Scenario, v: Verdict) -> None:
        argv = compose_argv(s, self.host)
        if isinstance(self.host, LocalHost) and {"iort", "trace"} & set(s.observe):
            proc: QemuProcess = await self.host.start(
                argv, qtest="iort" in s.observe,
                trace=TRACE_EVENTS if "trace" in s.observe else ())
        else:
            proc = await self.host.start(argv)
        v.argv = list(proc.argv)
        session = QmpSession(proc, startup_timeout=self.options.startup_timeout,
                             command_timeout=self.options.command_timeout)
        raw: RawObservation | None = None
        failure: tuple[Status, str] | None = None
        died: QemuDied | None = None
        try:
            try:
                async with asyncio.timeout(self.options.scenario_timeout):
                    raw = await self._observe(s, proc, session)
            except TimeoutError:
                failure = classify_hang(ScenarioTimeout(
                    f"scenario did not finish within {self.options.scenario_timeout:g} s"),
                    proc)
            except QemuDied as e:
                died = e
            except QmpTimeout as e:
                failure = classify_hang(e, proc)
            except (QmpStartupFailed, QmpLost) as e:
                failure = ("infra-error", str(e) + (
                    "; the process was stopped (SIGSTOP/SIGTSTP from outside)"
                    if _is_stopped(proc) else ""))
        finally:
            v.qmp_transcript = session.transcript
            try:
                await session.close()
            finally:  # even if cancelled in close(): QEMU is always reaped
                status = await proc.terminate()
            v.stderr_tail = stderr_tail(proc.stderr_text())
            v.exit_code, v.signal = status.code, status.signal
            self._write_trace_log(s, proc)
        if died is not None:
            st = died.status if isinstance(died.status, ExitStatus) else status
            failure = classify_end(st, proc.stderr_text(), died.where)
        if failure is not None and failure[0] == "infra-error":
            v.status, v.reason = failure
            return
        if failure is not None or raw is None:
            v.status, v.reason = failure or ("nonconformance", "no observation")
            v.observation = Prediction(outcome="exits", exit_code=status.code,
                                       error=stderr_tail(proc.stderr_text(), 5, False) or None
                                       ).to_dict()
            expected = await self._attach_prediction(s, v, proc)
            if died is not None and expected is not None and s.nonconformance is not None \
                    and v.status == "nonconformance":
                # a recorded crash (e.g. an assertion): judged like any known bug, so a
                # fix shows as unexpected-pass; a signal death has exit_code None, so
                # such records list the fields that do differ ("error")
                j = judge(expected, Prediction.from_dict(v.observation), s.nonconformance,
                          self.options.profile)
                if j.status == "expected-nonconformance":
                    v.status, v.reason = "expected-nonconformance", f"{j.reason} [{v.reason}]"
                    v.differences = [{"path": d.path, "expected": d.expected,
                                      "observed": d.observed} for d in j.differences]
            return
        observed = normalise(raw)
        v.observation = observed.to_dict()
        expected = await self._attach_prediction(s, v, proc)
        if expected is None:
            return
        j = judge(expected, observed, s.nonconformance, self.options.profile)
        v.status, v.reason = j.status, j.reason  # type: ignore[assignment]
        v.differences = [{"path": d.path, "expected": d.expected, "observed": d.observed}
                         for d in j.differences]

    async def _attach_prediction(self, s: Scenario, v: Verdict,
                                 proc: QemuProcess) -> Prediction | None:
        try:
            predict = _predictor()
            if self._types is None:
                self._types = _type_hierarchy(await self.capabilities())
        except ImportError as e:
            v.status, v.reason = "infra-error", f"reference model unavailable: {e}"
            return None
        try:
            pred = predict(list(proc.argv[1:]), events=s.events, host=s.host,
                           profile=self.options.profile, types=self._types,
                           observe=s.observe)
        except Exception as e:  # the model is another component: report, never crash
            v.status = "infra-error"
            v.reason = f"reference model failed: {type(e).__name__}: {e}"
            return None
        v.prediction = pred.to_dict()
        return pred

    async def _fault(self, phase: Phase, s: Scenario, proc: QemuProcess,
                     session: QmpSession, index: int = 0) -> None:
        if self.options.fault is not None:
            await self.options.fault(phase, FaultContext(phase, s, proc, session, index))

    async def _observe(self, s: Scenario, proc: QemuProcess,
                       session: QmpSession) -> RawObservation:
        await self._fault(Phase.STARTED, s, proc, session)
        status = await session.open()
        if status is not None:
            stderr = proc.stderr_text()
            if status.signal is not None or externally_terminated(stderr):
                raise QemuDied(f"QEMU ended ({status.describe()}) before the QMP greeting",
                               status, where="before the QMP greeting")
            return RawObservation(started=False, exit=status, stderr=stderr)
        await self._fault(Phase.CONNECTED, s, proc, session)
        reader = TraceReader(proc.trace_path) if isinstance(proc, LocalProcess) and \
            proc.trace_path is not None else None
        phases = [reader.take()] if reader is not None else None  # machine start
        events = await self._play_events(s, proc, session, reader, phases) \
            if s.events else None
        observe = set(s.observe)
        tree = None
        smmus: dict[str, SmmuReading] = {}
        if observe & {"address_spaces", "idregs", "properties", "msi_gpa"}:
            await self._fault(Phase.OBSERVE, s, proc, session)
            tree = mtree_mod.parse(await session.hmp("info mtree -o -D"))
            for i, w in enumerate(tree.smmus() if observe & {"idregs", "properties", "msi_gpa"}
                                  else []):
                await self._fault(Phase.READ, s, proc, session, i)
                r = SmmuReading(base=w.base)
                if "idregs" in observe:
                    r.idr = await read_registers(session, w.base)
                if observe & {"properties", "msi_gpa"} and w.owner is not None:
                    r.properties = await read_properties(session, w.owner.qom_path)
                smmus[w.key] = r
        iort = None
        if "iort" in observe and isinstance(proc, LocalProcess):
            conn = await proc.qtest_connection(self.options.command_timeout)
            iort = await read_iort(QtestLine(conn, self.options.command_timeout))
        await self._fault(Phase.QUIT, s, proc, session)
        exit_status = await session.quit()
        if exit_status.signal is not None or externally_terminated(proc.stderr_text()):
            raise QemuDied(f"QEMU ended ({exit_status.describe()}) after 'quit'",
                           exit_status, where="after 'quit'")
        if reader is not None and phases is not None:
            phases[-1] += reader.take()  # nothing expected: shown in the last phase
        return RawObservation(started=True, exit=exit_status, stderr=proc.stderr_text(),
                              events=events, mtree=tree, smmus=smmus, observe=s.observe,
                              iort=iort, trace=phases)

    async def _play_events(self, s: Scenario, proc: QemuProcess, session: QmpSession,
                           reader: TraceReader | None = None,
                           phases: list[list[TraceLine]] | None = None
                           ) -> list[EventResult]:
        out: list[EventResult] = []
        for i, ev in enumerate(s.events):
            await self._fault(Phase.EVENT, s, proc, session, i)
            try:
                if ev.op == "system_reset":  # asynchronous: done at QEMU's RESET event
                    await session.command_and_event(ev.op, "RESET")
                else:
                    await session.command(ev.op, dict(ev.arguments))
                out.append(EventResult(op=ev.op, id=ev.device_id, ok=True))
            except CommandFailed as e:
                out.append(EventResult(op=ev.op, id=ev.device_id, ok=False,
                                       error_class=e.error_class, error_desc=e.desc))
                await session.command("query-status")  # still alive after a refusal?
            if reader is not None and phases is not None:
                phases.append(reader.take())
        return out

    # ----------------------------------------------------------------- logs
    def log_dir_for(self, s: Scenario) -> Path | None:
        root = self.options.log_root
        return None if root is None else root / self.host.tier / s.name

    def _write_trace_log(self, s: Scenario, proc: QemuProcess) -> None:
        """Keep the run's trace log (its folder is gone once QEMU is reaped)."""
        d = self.log_dir_for(s)
        text = proc.trace_text() if isinstance(proc, LocalProcess) else None
        if d is None or text is None:
            return
        try:
            d.mkdir(parents=True, exist_ok=True)
            (d / TRACE_FILE).write_text(text)
        except OSError as e:
            logger.warning("cannot write %s to %s: %s", TRACE_FILE, d, e)
            from conformance.preflight import log_write_failed
            log_write_failed(d, e)

    def _write_logs(self, s: Scenario, v: Verdict) -> None:
        d = self.log_dir_for(s)
        if d is None or v.status == "skipped":
            return
        try:
            d.mkdir(parents=True, exist_ok=True)
            (d / "argv.txt").write_text(shlex.join(v.argv) + "\n")
            (d / "stderr.log").write_text(v.stderr_tail + "\n")
            with open(d / "qmp.jsonl", "w") as f:
                for x in v.qmp_transcript:
                    f.write(json.dumps({"t": x.t, "dir": x.dir, "msg": x.message}) + "\n")
            v.log_dir = str(d)
            (d / "verdict.json").write_text(v.to_json() + "\n")
        except OSError as e:
            logger.warning("cannot write logs to %s: %s", d, e)
            from conformance.preflight import log_write_failed
            log_write_failed(d, e)


async def run_scenarios(scenarios: Iterable[Scenario], runner: Runner, jobs: int = 1,
                        on_verdict: Callable[[Verdict], Awaitable[None] | None] | None = None,
                        ) -> list[Verdict]:
    """Run ``scenarios`` (at most ``jobs`` QEMUs at once); verdicts in scenario order.

    ``on_verdict`` is called for each verdict in scenario order, as soon as it and all
    earlier ones are known (so a CLI can stream lines in a stable order).
    """
    sem = asyncio.Semaphore(max(1, jobs))

    def still_wanted() -> None:
        # A cancellation (Ctrl-C/SIGTERM via run_interruptible) can reach a scenario while
        # qemu.qmp is inside a call that turns it into an error of its own, which then
        # becomes an ordinary verdict.  Task.cancelling() still counts the request: honour
        # it, so a signalled run stops here instead of running every remaining scenario.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise asyncio.CancelledError

    async def one(s: Scenario) -> Verdict:
        async with sem:
            still_wanted()
            v = await runner.run(s)
        still_wanted()
        return v

    tasks = [asyncio.ensure_future(one(s)) for s in scenarios]
    out: list[Verdict] = []
    try:
        for t in tasks:
            v = await t
            still_wanted()
            out.append(v)
            if on_verdict is not None:
                r = on_verdict(v)
                if r is not None:
                    await r
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return out


T = TypeVar("T")


def run_interruptible(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)``, turning SIGINT/SIGTERM/SIGHUP into a clean cancellation.

    The signal cancels ``main``; every ``finally`` on the way (QEMU's ``terminate()``,
    the temporary folder) runs inside the loop, then :class:`Interrupted` is raised so
    the CLI can exit ``128 + signum`` without reporting a partial run as a result.
    """
    got: list[int] = []

    async def wrapper() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_signal(signum: int) -> None:
            got.append(signum)
            # The process is on its way out with no result: asyncio's child watcher may
            # still warn about the QEMUs our clean-up reaped itself ("Unknown child
            # process", "Loop ... is closed").  The one line the CLI prints is the message.
            logging.getLogger("asyncio").setLevel(logging.ERROR)
            task.cancel()  # and every task under it, so no inner task can run on
            for t in asyncio.all_tasks():
                if t is not task:
                    t.cancel()

        def on_loop_exception(lp: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            # Cancelling every task also cancels qemu.qmp's internal gather of its
            # reader/writer; nobody retrieves what it ended with (CancelledError, or
            # EOFError once the QEMU we terminated closed its socket), and asyncio would
            # log "exception was never retrieved" when the future is collected.  After a
            # signal these are our own teardown, and no result is reported anyway.
            if got and (isinstance(context.get("exception"), asyncio.CancelledError)
                        or "never retrieved" in str(context.get("message", ""))):
                return
            lp.default_exception_handler(context)

        loop.set_exception_handler(on_loop_exception)
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, on_signal, sig)
                installed.append(sig)
            except (ValueError, RuntimeError, NotImplementedError):  # not main thread
                pass
        try:
            try:
                result = await main
            except asyncio.CancelledError:
                if got:
                    raise Interrupted(got[0]) from None
                raise
            if got:  # a cancellation was absorbed somewhere: still not a result
                raise Interrupted(got[0])
            return result
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    return asyncio.run(wrapper())
