"""Run scenarios on a :class:`~conformance.tiers.host.QemuHost` and judge them.

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

How an abnormal end (crash, hang, outside kill, lost QMP) becomes a verdict is
:mod:`conformance.classify`; running under signals is :mod:`conformance.interrupt`.

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
import shlex
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogue.observables import ROWS as OBSERVABLE_ROWS
from catalogue.prediction import EventResult, Prediction
from catalogue.scenario import Scenario
from conformance import select
from conformance.argcheck import is_capability_gap, not_covered
from conformance.capabilities import Capabilities, probe
from conformance.classify import (
    classify_end,
    classify_hang,
    externally_terminated,
    is_stopped,
    stderr_tail,
)
from conformance.compare import judge
from conformance.errors import (
    HarnessError,
    QemuDied,
    QmpLost,
    QmpStartupFailed,
    QmpTimeout,
    ScenarioTimeout,
)
from conformance.host_smmu import model_host
from conformance.normalise import RawObservation, SmmuReading, normalise
from conformance.observe import ObserveContext, Observer, observers_for
from conformance.observe import mtree as mtree_mod
from conformance.observe.trace import TRACE_EVENTS, TRACE_FILE
from conformance.preflight import log_write_failed
from conformance.result import Status, Verdict
from conformance.select import DEFAULT_PROFILE
from conformance.session import CommandFailed, QmpSession
from conformance.tiers.host import ExitStatus, QemuHost, QemuProcess
from conformance.tiers.nested.guest import run_guest
from reference_model import TypeHierarchy
from reference_model.errors import ModelError

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

#: what the model raises on purpose when it does not cover a command line, profile or
#: type table: its one root (reference_model/errors.py); anything else is a model bug
MODEL_ERRORS = (ModelError,)

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


def compose_argv(scenario: Scenario, host: QemuHost) -> list[str]:
    """Scenario args plus ``host``'s tier args (:func:`conformance.select.compose_argv`)."""
    return select.compose_argv(scenario, host.tier_args())


class Runner:
    """Runs scenarios for one binary on one host (capabilities probed once)."""

    def __init__(self, host: QemuHost, binary: str, options: RunOptions | None = None,
                 qemu_version: str = "") -> None:
        self.host = host
        self.binary = binary
        self.options = options or RunOptions()
        self.qemu_version = qemu_version
        self._caps: Capabilities | None = None
        self._types: TypeHierarchy | None = None
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
        for req in s.requires:  # a host running QEMU elsewhere answers for that machine
            why = self.host.missing_requirement(req)
            if why:
                return f"requires {req}: {why}"
        for row in OBSERVABLE_ROWS:  # can this host observe what the scenario asks for?
            if row.name in s.observe and not row.needs <= self.host.features:
                return row.missing
        caps = await self.capabilities()
        drivers = [str(e.arguments["driver"]) for e in s.events if e.op == "device_add"]
        if "trace" in s.observe and caps.missing_trace_events(TRACE_EVENTS):
            return caps.missing_trace_events(TRACE_EVENTS)
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
        reason = not_covered(s.argv)
        if reason is not None:  # the model cannot say: not a finding either way
            v.status, v.reason = "not-covered", reason
            return v
        v.qemu_version = self.qemu_version
        try:
            if "guest" in s.extra:  # the guest-driven tier (conformance.tiers.nested.guest)
                await run_guest(self, s, v)
            else:
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
        start_args: dict[str, Any] = {}
        for o in observers_for(s.observe):
            start_args.update(o.start_args())
        proc = await self.host.start(argv, **start_args)
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
                    if is_stopped(proc) else ""))
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
            types = await self.type_hierarchy()
            # the host SMMU: the scenario's override, else the tier's probe
            host, v.host_smmu = model_host(s, self.host)
            pred = select.predict_for(s, self.host.tier, types, host=host,
                                      profile=self.options.profile, argv=proc.argv[1:])
        except HarnessError as e:  # a failed host probe: the tier's problem, not QEMU's
            v.status, v.reason = "infra-error", str(e)
            return None
        except MODEL_ERRORS as e:  # the model does not cover this; a model bug propagates
            v.status = "not-covered"
            v.reason = f"the model does not cover this: {e}"
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
        wanted = observers_for(s.observe)
        raw = RawObservation(started=True, exit=None, stderr="", observe=s.observe)
        ctx = ObserveContext(proc, session, raw, self.options.command_timeout)
        for o in wanted:
            if o.on_started is not None:
                o.on_started(ctx)
        if s.events:
            raw.events = await self._play_events(s, proc, session, ctx, wanted)
        smmu_readers = list(dict.fromkeys(o.read_smmu for o in wanted if o.read_smmu))
        if smmu_readers or any(o.uses_mtree for o in wanted):
            await self._fault(Phase.OBSERVE, s, proc, session)
            raw.mtree = mtree_mod.parse(await session.hmp("info mtree -o -D"))
            for i, w in enumerate(raw.mtree.smmus() if smmu_readers else []):
                await self._fault(Phase.READ, s, proc, session, i)
                r = SmmuReading(base=w.base)
                for read_smmu in smmu_readers:
                    await read_smmu(session, w, r)
                raw.smmus[w.key] = r
        for o in wanted:
            if o.read is not None:
                await o.read(ctx)
        await self._fault(Phase.QUIT, s, proc, session)
        exit_status = await session.quit()
        if exit_status.signal is not None or externally_terminated(proc.stderr_text()):
            raise QemuDied(f"QEMU ended ({exit_status.describe()}) after 'quit'",
                           exit_status, where="after 'quit'")
        for o in wanted:
            if o.after_quit is not None:
                o.after_quit(ctx)
        raw.exit, raw.stderr = exit_status, proc.stderr_text()
        return raw

    async def type_hierarchy(self) -> TypeHierarchy:
        """The build's QOM types as the model takes them (probed once per runner)."""
        if self._types is None:
            self._types = TypeHierarchy.from_qom_list_types(
                (await self.capabilities()).qom_types())
        return self._types

    async def play_events(self, s: Scenario, proc: QemuProcess,
                          session: QmpSession) -> list[EventResult]:
        """The scenario's QMP events, for a tier that observes by other means (the guest
        tier): no observer hooks run between them."""
        raw = RawObservation(started=True, exit=None, stderr="", observe=s.observe)
        ctx = ObserveContext(proc, session, raw, self.options.command_timeout)
        return await self._play_events(s, proc, session, ctx, [])

    async def _play_events(self, s: Scenario, proc: QemuProcess, session: QmpSession,
                           ctx: ObserveContext, wanted: list[Observer]) -> list[EventResult]:
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
            for o in wanted:
                if o.after_event is not None:
                    o.after_event(ctx)
        return out

    # ----------------------------------------------------------------- logs
    def log_dir_for(self, s: Scenario) -> Path | None:
        root = self.options.log_root
        return None if root is None else root / self.host.tier / s.name

    def _write_trace_log(self, s: Scenario, proc: QemuProcess) -> None:
        """Keep the run's trace log (its folder is gone once QEMU is reaped)."""
        d = self.log_dir_for(s)
        text = proc.trace_text()
        if d is None or text is None:
            return
        try:
            d.mkdir(parents=True, exist_ok=True)
            (d / TRACE_FILE).write_text(text)
        except OSError as e:
            logger.warning("cannot write %s to %s: %s", TRACE_FILE, d, e)
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


