"""One fuzz campaign: probe, known bugs, bare rate, cases, triage, shrinking, report.

:func:`run_campaign` (a coroutine, run under :func:`conformance.runner.run_interruptible`):

1. probes the binary once (the runner's capabilities: ``qom-list-types``, machines) and
   builds the generator's :class:`~conformance.fuzz.generate.Domain` from it;
2. runs the catalogue's recorded QEMU bugs (scenarios with a ``nonconformance`` record)
   on this tier: their signatures are the *known* buckets;
3. draws cases in chunks and runs them with :func:`conformance.runner.run_scenarios`
   (``-j`` QEMUs at once), triaging every verdict into buckets, until ``--cases`` or
   ``--time``;
4. before each chunk, times bare QEMU start -> QMP -> quit cycles on every 8th of the
   chunk's own command lines, ``-j`` at once (so the baseline sees the same machine
   load as the campaign; its time is excluded from the campaign's).  The bare rate is
   ``jobs / mean cycle time``, the throughput of ``-j`` busy pipelines; the campaign's
   is cases / wall time, everything included (generation, model, triage, drains);
5. shrinks one case of every *new* bucket (:mod:`.shrink`; QEMU runs go through the
   same runner), writes each as a ready scenario file with a one-line reproduction
   command, and ``report.json`` (``--out``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogue.scenario import Scenario, load_catalogue
from conformance.fuzz.generate import NESTED_VFIO_HOST, Case, Domain, draw_case
from conformance.fuzz.shrink import shrink
from conformance.fuzz.triage import Bucket, Normaliser, Signature, signature
from conformance.result import Verdict
from conformance.runner import Runner, RunOptions, compose_argv, run_scenarios
from conformance.session import STARTUP_TIMEOUT, QmpSession
from conformance.tiers.host import QemuHost
from conformance.tiers.local import LocalHost
from reference_model import predict
from reference_model.qom import TypeHierarchy

CHUNK_PER_JOB = 24


@dataclass
class CampaignConfig:
    tier: str
    seed: int
    binary: str
    cases: int | None = None
    seconds: float | None = None
    profile: str = "qemu-11.1"
    jobs: int = 2
    out: Path | None = None
    shrink_budget: float = 120.0
    shrink: bool = True
    only_case: int | None = None
    command_timeout: float = 20.0
    #: a bare QEMU start->QMP->quit cycle on every Nth case's command line, run just
    #: before that case's chunk with the same -j (the "same run" baseline)
    bare_every: int = 8
    #: ``control`` or ``accel``: draw guest step lists (conformance.fuzz.guest) instead
    #: of command lines
    guest: str | None = None


@dataclass
class CampaignReport:
    config: dict[str, Any]
    qemu_version: str = ""
    cases: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    campaign_s: float = 0.0  # generation + runs + triage (what cases/s divides)
    bare_rate: float = 0.0
    bare_samples: int = 0
    buckets: dict[Signature, Bucket] = field(default_factory=dict)
    known: dict[Signature, str] = field(default_factory=dict)
    shrink_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.cases / self.campaign_s if self.campaign_s else 0.0

    @property
    def new_buckets(self) -> list[Bucket]:
        return [b for b in self.buckets.values() if b.is_new]

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config, "qemu_version": self.qemu_version,
                "cases": self.cases, "statuses": dict(self.statuses),
                "campaign_s": round(self.campaign_s, 2), "wall_s": round(self.wall_s, 2),
                "cases_per_s": round(self.rate, 3), "bare_per_s": round(self.bare_rate, 3),
                "ratio_to_bare": round(self.rate / self.bare_rate, 3) if self.bare_rate else None,
                "bare_samples": self.bare_samples, "shrink_s": round(self.shrink_s, 1),
                "known_signatures": [{"signature": s.to_dict(), "recorded_in": r}
                                     for s, r in sorted(self.known.items())],
                "buckets": [b.to_dict() for b in sorted(
                    self.buckets.values(), key=lambda b: (not b.is_new, -b.count))]}


async def bare_cycle(host: QemuHost, argv: list[str],
                     startup_timeout: float = STARTUP_TIMEOUT) -> float:
    """Start QEMU with the harness's arguments, greet QMP (or see it exit), quit, reap:
    the baseline the fuzzer's and the benchmarks' ratios divide by; its seconds."""
    t0 = time.perf_counter()
    proc = await host.start(argv)
    session = QmpSession(proc, startup_timeout=startup_timeout)
    try:
        if await session.open() is None:
            await session.quit()
    finally:
        with contextlib.suppress(Exception):
            await session.close()
        await proc.terminate()
    return time.perf_counter() - t0


async def bare_cycles(host: QemuHost, argvs: list[list[str]], jobs: int) -> list[float]:
    """Durations of bare cycles on these command lines, ``jobs`` at once."""
    sem = asyncio.Semaphore(jobs)

    async def one(a: list[str]) -> float:
        async with sem:
            return await bare_cycle(host, a)

    return list(await asyncio.gather(*(one(a) for a in argvs)))


def case_name(seed: int, index: int) -> str:
    return f"fuzz-s{seed}-c{index}"


def bucket_slug(n: int, sig: Signature) -> str:
    obs = re.sub(r"[^a-z0-9]+", "-", sig.observable.lower()).strip("-")
    rule = re.sub(r"[^a-z0-9]+", "-", sig.rule.lower()).strip("-")
    return f"bucket-{n:02d}-{obs}-{rule}"[:80].rstrip("-")


class Campaign:
    def __init__(self, cfg: CampaignConfig, host: QemuHost,
                 echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr)) -> None:
        self.cfg = cfg
        self.host = host
        self.echo = echo
        self.runner = Runner(host, cfg.binary, RunOptions(
            profile=cfg.profile, command_timeout=cfg.command_timeout))
        self.report = CampaignReport(config={
            "tier": cfg.tier, "seed": cfg.seed, "cases": cfg.cases, "time": cfg.seconds,
            "profile": cfg.profile, "jobs": cfg.jobs, "qemu": cfg.binary,
            "guest": cfg.guest})
        self.dom: Domain | None = None
        self.types: TypeHierarchy | None = None
        self.norm = Normaliser()
        self.cases: dict[int, Case] = {}
        #: bare start->QMP->quit cycles on every Nth case's command line, before each
        #: chunk (0: none); their time is not campaign time
        self.bare_every = 0
        self.bare_s = 0.0
        self.bare_durations: list[float] = []

    # ------------------------------------------------------------- set-up
    async def prepare(self) -> Domain:
        caps = await self.runner.capabilities()
        self.report.qemu_version = caps.version_text
        types = self.types = TypeHierarchy.from_qom_list_types(caps.qom_types())
        self.norm = Normaliser(types._parent)
        missing = getattr(self.host, "missing_requirement", None)
        vfio = (NESTED_VFIO_HOST if self.cfg.tier == "nested" and missing is not None
                and missing("vfio") is None else None)
        self.dom = Domain.for_build(self.cfg.tier, types, caps.machines,
                                    local=isinstance(self.host, LocalHost), vfio_host=vfio)
        if self.cfg.guest is not None:
            self.dom = dataclasses.replace(self.dom, guest=self.cfg.guest)
        return self.dom

    async def known_bugs(self) -> dict[Signature, str]:
        """Signatures of the catalogue's recorded QEMU bugs, as seen on this tier now."""
        recorded = [s for s in load_catalogue()
                    if s.nonconformance is not None and self.cfg.tier in s.tiers]
        verdicts = await run_scenarios(recorded, self.runner, jobs=self.cfg.jobs)
        for s, v in zip(recorded, verdicts, strict=True):
            if v.status == "expected-nonconformance":
                sig = signature(v, self.norm)
                if sig is not None:
                    assert s.nonconformance is not None
                    self.report.known[sig] = f"{s.ref}: {s.nonconformance.reason}"
        return self.report.known

    # ------------------------------------------------------------- cases
    def case(self, index: int) -> Case:
        assert self.dom is not None
        c = self.cases.get(index)
        if c is None:
            c = self.cases[index] = draw_case(self.dom, self.cfg.seed, index)
        return c

    def scenario(self, index: int) -> Scenario:
        return self.case(index).scenario(case_name(self.cfg.seed, index), self.cfg.tier)

    def triage(self, index: int, v: Verdict) -> None:
        rep = self.report
        rep.cases += 1
        rep.statuses[v.status] += 1
        # a guest case the model refuses is one the architecture leaves unpredictable
        # (conformance.fuzz.guest), not a finding
        sig = None if self.cfg.guest and v.status == "not-covered" else signature(v, self.norm)
        if sig is None:
            self.cases.pop(index, None)
            return
        b = rep.buckets.get(sig)
        if b is None:
            b = rep.buckets[sig] = Bucket(sig, known=rep.known.get(sig, ""))
            tag = "known" if b.known else "infra" if sig.observable == "infra" else "NEW"
            self.echo(f"fuzz: case {index}: {tag} bucket {len(rep.buckets)}: {sig.line()}")
            b.shrunk = {"first_verdict": _slim(v)}
        b.add(index, self.case(index).size())

    async def run_cases(self) -> None:
        cfg = self.cfg
        t0 = time.monotonic()
        chunk = max(CHUNK_PER_JOB * cfg.jobs, 8)

        def batches() -> Iterator[list[int]]:
            if cfg.only_case is not None:
                yield [cfg.only_case]
                return
            nxt = 0
            while cfg.seconds is None or time.monotonic() - t0 < cfg.seconds:
                n = chunk if cfg.cases is None else min(chunk, cfg.cases - nxt)
                if n <= 0:
                    return
                yield list(range(nxt, nxt + n))
                nxt += n

        def draw(batch: list[int]) -> list[Scenario]:
            return [self.scenario(i) for i in batch]

        # the next chunk is drawn in a thread while this one runs (drawing is CPU work
        # in this process; the QEMUs would otherwise idle while it happens)
        todo = batches()
        upcoming = next(todo, None)
        drawing = asyncio.ensure_future(asyncio.to_thread(draw, upcoming)) if upcoming else None
        while drawing is not None and upcoming is not None:
            batch, scenarios = upcoming, await drawing
            upcoming = next(todo, None)
            drawing = (asyncio.ensure_future(asyncio.to_thread(draw, upcoming))
                       if upcoming else None)
            if self.bare_every:  # interleaved: same load, same command lines
                argvs = [compose_argv(sc, self.host) for sc in scenarios[::self.bare_every]]
                t_b = time.monotonic()
                self.bare_durations += await bare_cycles(self.host, argvs, cfg.jobs)
                self.bare_s += time.monotonic() - t_b
            verdicts = await run_scenarios(scenarios, self.runner, jobs=cfg.jobs)
            for i, v in zip(batch, verdicts, strict=True):
                self.triage(i, v)
            done = self.report.cases
            if done % (chunk * 5) < len(batch):
                el = time.monotonic() - t0
                self.echo(f"fuzz: {done} cases in {el:.0f} s ({done / el:.2f}/s), "
                          f"{len(self.report.buckets)} bucket(s), "
                          f"{len(self.report.new_buckets)} new")
        self.report.campaign_s = time.monotonic() - t0 - self.bare_s
        if self.bare_durations:  # throughput of `jobs` pipelines of bare cycles
            self.report.bare_rate = cfg.jobs * len(self.bare_durations) / sum(
                self.bare_durations)
            self.report.bare_samples = len(self.bare_durations)

    # ------------------------------------------------------------- shrinking
    async def shrink_new(self) -> None:
        assert self.dom is not None
        loop = asyncio.get_running_loop()
        dom = self.dom
        t0 = time.monotonic()
        for b in self.report.new_buckets:
            original = self.case(b.first_case)

            def check(c: Case, first: int = b.first_case,
                      rule: str = b.signature.rule) -> Signature | None:
                s = c.scenario(case_name(self.cfg.seed, first) + "-shrink", self.cfg.tier)
                if not self.model_fires(s, rule):  # the signature names this rule
                    return None
                fut = asyncio.run_coroutine_threadsafe(self.runner.run(s), loop)
                return signature(fut.result(), self.norm)

            db = str(self.cfg.out / "hypothesis-db") if self.cfg.out else None
            self.echo(f"fuzz: shrinking case {b.first_case} ({b.signature.line()})")
            res = await asyncio.to_thread(shrink, dom, original, b.signature, check,
                                          self.cfg.shrink_budget, db, self.cfg.seed)
            b.shrunk = dict(b.shrunk or {})
            b.shrunk.update({
                "case": b.first_case, "reproduced": res.reproduced, "complete": res.complete,
                "qemu_runs": res.calls, "seconds": round(res.seconds, 1),
                "argv": list(res.case.argv),
                "events": [{"op": e.op, **dict(e.arguments)} for e in res.case.events],
                "observe": list(res.case.observe),
                "original_size": list(original.size()), "shrunk_size": list(res.case.size())})
            b.shrunk["_case"] = res.case
        self.report.shrink_s = time.monotonic() - t0

    def model_fires(self, s: Scenario, rule: str) -> bool:
        """Whether the model's prediction for ``s`` fires ``rule`` (a signature's rule
        comes from the prediction, so a candidate without it cannot show the same
        signature: no QEMU run is needed to reject it).  Row-level rules pass."""
        if "." not in rule or "guest" in s.extra:  # a guest rule: the QEMU run decides
            return True
        try:
            pred = predict(compose_argv(s, self.host), s.events, host=s.host,
                           profile=self.cfg.profile, types=self.types, observe=s.observe)
        except Exception:  # the runner reports model failures; let it
            return True
        return any(r.rule == rule for r in pred.rules)

    # ------------------------------------------------------------- output
    def write(self) -> list[str]:
        """Scenario files of the buckets (``--out``) and the reproduction lines."""
        lines: list[str] = []
        out = self.cfg.out
        for n, b in enumerate(sorted(self.report.buckets.values(),
                                     key=lambda b: (not b.is_new, -b.count)), 1):
            if b.shrunk is None:
                continue
            c = b.shrunk.pop("_case", None) or self.case(b.first_case) if b.first_case >= 0 \
                else None
            if c is None or out is None:
                continue
            slug = bucket_slug(n, b.signature)
            row = _row_of(b.signature.rule)
            desc = (f"fuzz seed {self.cfg.seed} case {b.first_case}: {b.signature.line()}"
                    + (f" [known: {b.known.split(':')[0]}]" if b.known else ""))
            path = out / "buckets" / f"{slug}.toml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(c.to_toml(slug, self.cfg.tier, [row], desc))
            b.shrunk["scenario_file"] = str(path)
            b.shrunk["reproduce"] = (
                f".venv/bin/python -m conformance run --tier {self.cfg.tier} "
                f"--scenario {shlex.quote(str(path))}")
            b.shrunk["reproduce_original"] = (
                f".venv/bin/python -m conformance fuzz --tier {self.cfg.tier} "
                f"--seed {self.cfg.seed} --case {b.first_case}")
            lines.append(b.shrunk["reproduce"])
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "report.json").write_text(json.dumps(self.report.to_dict(), indent=2,
                                                        default=str) + "\n")
        return lines


_ROW_RE = re.compile(r"^(P\d+a?|A\d+|AS\d+|H\d+|M\d+|O\d+|2a|2b|5[abc]|7[ab]|10|F\d*)$")


def _row_of(rule: str) -> str:
    row = rule.split(".")[0]
    return row if _ROW_RE.match(row) else "F"


def _slim(v: Verdict) -> dict[str, Any]:
    return {"status": v.status, "reason": v.reason, "differences": v.differences[:5],
            "argv": v.argv, "stderr_tail": v.stderr_tail[-2000:], "exit_code": v.exit_code,
            "signal": v.signal}


async def run_campaign(cfg: CampaignConfig, host: QemuHost,
                       echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr)
                       ) -> tuple[CampaignReport, list[str]]:
    c = Campaign(cfg, host, echo)
    t0 = time.monotonic()
    dom = await c.prepare()
    echo(f"fuzz: tier {cfg.tier}, seed {cfg.seed}, QEMU {c.report.qemu_version}; "
         f"endpoint kinds: {', '.join(f'{k} ({len(v)})' for k, v in dom.endpoints.items())}")
    if cfg.only_case is None:
        known = await c.known_bugs()
        echo(f"fuzz: {len(known)} known-bug signature(s) from the catalogue's records")
    if cfg.only_case is None:
        c.bare_every = cfg.bare_every
    await c.run_cases()
    if cfg.shrink and c.report.new_buckets:
        await c.shrink_new()
    c.report.wall_s = time.monotonic() - t0
    return c.report, c.write()
