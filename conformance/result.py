"""Verdicts: the record of one scenario run on one tier.

Every front end (CLI lines, ``--json``, pytest, TAP, JUnit, avocado, HTML, bisect exit
codes) is a rendering of :class:`Verdict`.  The statuses:

``pass``
    QEMU did what the model predicted, on every field both sides fill.
``nonconformance``
    QEMU differed from the model (including a crash or an assertion abort, which is
    always a difference: the model never predicts one).  This is the suite's finding.
``expected-nonconformance``
    QEMU differed exactly where a recorded known bug says it would (strict xfail).
``unexpected-pass``
    a recorded known bug did not show: it was fixed, or the record is wrong.  Counts as
    a failure, like a strict xfail that passes.
``skipped``
    the tier or a capability is missing; ``reason`` says which.  Never a failure.
``not-covered``
    the scenario uses an option the model does not cover (``-display gtk``,
    ``-readconfig``, a disk image, a chardev waiting for a client:
    :func:`conformance.argcheck.not_covered`); QEMU is not started.  Not a failure, and
    never a nonconformance: the suite cannot say what QEMU should do.
``infra-error``
    the harness or the host failed (QMP never came up, binary missing, disk full).
    Not a statement about QEMU; ``git bisect run`` maps it to 125.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["pass", "nonconformance", "expected-nonconformance", "unexpected-pass",
                 "skipped", "infra-error", "not-covered"]
STATUSES: tuple[Status, ...] = ("pass", "nonconformance", "expected-nonconformance",
                                "unexpected-pass", "skipped", "infra-error", "not-covered")
#: statuses of a scenario that was not run (no statement about QEMU)
NOT_RUN: frozenset[str] = frozenset({"skipped", "not-covered"})

#: ``git bisect run`` exit statuses: good, bad, cannot test (skip), abort the bisection
BISECT_GOOD, BISECT_BAD, BISECT_SKIP, BISECT_ABORT = 0, 1, 125, 128


@dataclass(frozen=True)
class Rendering:
    """What one verdict status is in each front end (one row of :data:`STATUS`)."""

    #: pytest outcome: ``passed``, ``xfail``, ``failed`` or ``skipped``
    pytest: str
    #: the TAP test point starts ``ok`` (else ``not ok``)
    tap_ok: bool
    #: TAP directive after ``#`` (``SKIP``, ``TODO``) or ``None``
    tap_directive: str | None
    #: what ``meson test`` makes of that TAP point
    meson: str
    #: avocado test status (``PASS``, ``FAIL``, ``SKIP``)
    avocado: str
    #: ``bisect-run`` exit status when this is the deciding verdict
    bisect: int
    #: whether the status makes a run fail (CLI exit 1)
    failed: bool

    @property
    def tap(self) -> str:
        """The TAP point's shape, e.g. ``not ok # TODO``."""
        head = "ok" if self.tap_ok else "not ok"
        return f"{head} # {self.tap_directive}" if self.tap_directive else head


#: verdict status -> its rendering in every front end.  The one table: the pytest plugin,
#: TAP, avocado, ``bisect-run`` and the CLI's exit status read it, and
#: tests/core/test_status_table.py checks it row by row against docs/ci-integration.md.
STATUS: dict[Status, Rendering] = {
    "pass": Rendering("passed", True, None, "OK", "PASS", BISECT_GOOD, False),
    "expected-nonconformance": Rendering("xfail", False, "TODO", "EXPECTEDFAIL", "PASS",
                                         BISECT_GOOD, False),
    "nonconformance": Rendering("failed", False, None, "FAIL", "FAIL", BISECT_BAD, True),
    "unexpected-pass": Rendering("failed", False, None, "FAIL", "FAIL", BISECT_BAD, True),
    "skipped": Rendering("skipped", True, "SKIP", "SKIP", "SKIP", BISECT_SKIP, False),
    "infra-error": Rendering("failed", False, None, "FAIL", "FAIL", BISECT_SKIP, True),
    # an option the model does not cover: no statement about QEMU, like a skip
    "not-covered": Rendering("skipped", True, "SKIP", "SKIP", "SKIP", BISECT_SKIP, False),
}
assert set(STATUS) == set(STATUSES)

#: statuses that make a run fail
FAILING: frozenset[str] = frozenset(k for k, r in STATUS.items() if r.failed)


@dataclass
class QmpExchange:
    """One line of the QMP transcript (``dir`` is ``>>>`` sent or ``<<<`` received)."""

    dir: str
    message: Any
    t: float = 0.0


@dataclass
class Verdict:
    scenario: str  # "file.toml:name"
    tier: str
    status: Status
    reason: str = ""  # one line: skip reason, infra error, crash signal, known-bug reason
    rows: list[str] = field(default_factory=list)
    prediction: dict[str, Any] | None = None  # Prediction.to_dict()
    observation: dict[str, Any] | None = None  # Prediction.to_dict() of what was seen
    differences: list[dict[str, Any]] = field(default_factory=list)  # path/expected/observed
    argv: list[str] = field(default_factory=list)
    stderr_tail: str = ""
    qmp_transcript: list[QmpExchange] = field(default_factory=list)
    exit_code: int | None = None
    signal: int | None = None
    log_dir: str = ""
    duration_s: float = 0.0
    qemu: str = ""  # binary path
    qemu_version: str = ""
    profile: str = ""
    host_smmu: dict[str, Any] | None = None  # the host SMMU the model was given (host_smmu.py)

    @property
    def failed(self) -> bool:
        return STATUS[self.status].failed

    @property
    def rendering(self) -> Rendering:
        """How every front end shows this verdict (:data:`STATUS`)."""
        return STATUS[self.status]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Verdict:
        d = dict(d)
        d["qmp_transcript"] = [QmpExchange(**x) for x in d.get("qmp_transcript", [])]
        return cls(**d)

    def headline(self) -> str:
        """The one-line verdict the CLI prints."""
        tail = f" ({self.reason})" if self.reason else ""
        return f"{self.status:<24} {self.tier:<7} {self.scenario}{tail}"
