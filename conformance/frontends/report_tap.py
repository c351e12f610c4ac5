"""TAP 13 rendering of verdicts, for ``meson test`` (``protocol: 'tap'``) and ``prove``.

One test point per :class:`~conformance.result.Verdict`, named like the pytest id
(``<tier>-<scenario name>``), so a line in a meson log and a line in a pytest log
point at the same thing::

    TAP version 13
    ok 1 - tcg-p1-accel-on-tcg
    not ok 2 - tcg-p6-no-primary-bus
      ---
      status: "nonconformance"
      scenario: "preconditions.toml:p6-no-primary-bus"
      differences:
        - "error: expected \\"...\\", observed \\"...\\""
      ...
    ok 3 - kvm-a4-emulated-hotplug # SKIP native KVM tier needs an aarch64 host
    1..3

How statuses map onto TAP (and what meson then reports):

=========================  ===========================  ============
Verdict status             TAP line                     meson
=========================  ===========================  ============
``pass``                   ``ok``                       OK
``skipped``                ``ok ... # SKIP reason``     SKIP
``expected-nonconformance`` ``not ok ... # TODO reason`` EXPECTEDFAIL
``nonconformance``         ``not ok``                   FAIL
``unexpected-pass``        ``not ok``                   FAIL
``infra-error``            ``not ok``                   FAIL
=========================  ===========================  ============

``unexpected-pass`` is deliberately a plain ``not ok`` and not TAP's ``ok # TODO``
("bonus"): most TAP consumers count a passing TODO as a success, but a known bug that
no longer shows is a failure here, exactly as in the verdict model (a strict xfail).

Every point that is not ``ok`` carries a YAML diagnostic block (TAP 13) with the
status, reason, differences, argv, exit status, stderr tail and log folder.  The YAML
is written with JSON-quoted scalars, which every YAML 1.2 parser reads, so no YAML
library is needed to write it.

:class:`TapWriter` streams (points appear as verdicts arrive; the plan comes first
when the count is known, else last, both of which TAP allows); :func:`render_tap`
renders a finished list.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from typing import TextIO

from conformance.result import STATUS, Verdict

TAP_VERSION_LINE = "TAP version 13"
#: stderr lines kept in the YAML block
STDERR_LINES = 10


def test_name(v: Verdict) -> str:
    """``<tier>-<scenario name>``: the same id pytest shows in ``test_conformance[...]``."""
    name = v.scenario.rpartition(":")[2] or v.scenario
    return f"{v.tier}-{name}"


def _escape(text: str) -> str:
    """A TAP description or directive text: one line, ``#`` escaped (TAP 13 §Escaping)."""
    one = " ".join(text.split())
    return one.replace("\\", "\\\\").replace("#", "\\#")


def _directive_text(text: str) -> str:
    """The reason after ``# SKIP``/``# TODO``: one line (a ``#`` there is literal)."""
    return " ".join(text.split())


def _q(value: object) -> str:
    return json.dumps(value, ensure_ascii=True)


def _yaml_block(v: Verdict, indent: str = "  ") -> list[str]:
    lines = [f"status: {_q(v.status)}", f"scenario: {_q(v.scenario)}",
             f"tier: {_q(v.tier)}"]
    if v.reason:
        lines.append(f"reason: {_q(v.reason)}")
    if v.rows:
        lines.append(f"rows: [{', '.join(_q(r) for r in v.rows)}]")
    if v.profile:
        lines.append(f"profile: {_q(v.profile)}")
    if v.differences:
        lines.append("differences:")
        for d in v.differences:
            lines.append(f"  - path: {_q(d.get('path'))}")
            lines.append(f"    expected: {_q(d.get('expected'))}")
            lines.append(f"    observed: {_q(d.get('observed'))}")
    if v.argv:
        lines.append(f"argv: {_q(shlex.join(v.argv))}")
    if v.exit_code is not None:
        lines.append(f"exit_code: {v.exit_code}")
    if v.signal is not None:
        lines.append(f"signal: {v.signal}")
    tail = v.stderr_tail.splitlines()[-STDERR_LINES:]
    if tail:
        lines.append("stderr_tail:")
        lines += [f"  - {_q(ln)}" for ln in tail]
    if v.log_dir:
        lines.append(f"log_dir: {_q(v.log_dir)}")
    if v.qemu_version:
        lines.append(f"qemu_version: {_q(v.qemu_version)}")
    lines.append(f"duration_ms: {round(v.duration_s * 1000)}")
    return [f"{indent}---", *(indent + ln for ln in lines), f"{indent}..."]


def tap_point(number: int, v: Verdict) -> list[str]:
    """The line(s) for one verdict: the test point, then its YAML block unless ``ok``."""
    r = STATUS[v.status]
    head = f"{'ok' if r.tap_ok else 'not ok'} {number} - {_escape(test_name(v))}"
    if r.tap_directive == "SKIP":
        head += f" # SKIP {_directive_text(v.reason or 'skipped')}"
    elif r.tap_directive == "TODO":
        head += f" # TODO known QEMU bug: {_directive_text(v.reason)}"
    elif v.status in _POINT_NOTE:
        head += f" ({_POINT_NOTE[v.status]})"
    return [head] if r.tap_ok else [head, *_yaml_block(v)]


#: what a plain ``not ok`` point adds after its name, so the log says which failure it is
_POINT_NOTE = {"unexpected-pass": "unexpected pass", "infra-error": "infra-error"}


class TapWriter:
    """Stream verdicts to ``out`` as TAP 13.

    With ``total`` the plan ``1..total`` is printed first; without it, :meth:`close`
    prints it after the last point.  ``out`` is flushed after every point so that
    ``meson test`` shows progress.
    """

    def __init__(self, out: TextIO, total: int | None = None) -> None:
        self.out = out
        self.total = total
        self.count = 0
        self._closed = False
        self._emit([TAP_VERSION_LINE] + ([f"1..{total}"] if total is not None else []))

    def _emit(self, lines: list[str]) -> None:
        self.out.write("".join(ln + "\n" for ln in lines))
        self.out.flush()

    def add(self, v: Verdict) -> None:
        self.count += 1
        self._emit(tap_point(self.count, v))

    def comment(self, text: str) -> None:
        self._emit([f"# {ln}" for ln in text.splitlines() or [""]])

    def bail_out(self, reason: str) -> None:
        """Stop the whole run (the harness cannot continue at all)."""
        self._emit([f"Bail out! {' '.join(reason.split())}"])
        self._closed = True

    @staticmethod
    def bail_out_line(out: TextIO, reason: str) -> None:
        """``Bail out!`` on ``out`` when no writer is at hand (the run was interrupted)."""
        out.write(f"Bail out! {' '.join(reason.split())}\n")
        out.flush()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self.total is None:
            self._emit([f"1..{self.count}"])


def render_tap(verdicts: Iterable[Verdict]) -> str:
    """A complete TAP 13 document for ``verdicts`` (plan first)."""
    vs = list(verdicts)
    lines = [TAP_VERSION_LINE, f"1..{len(vs)}"]
    for i, v in enumerate(vs, 1):
        lines += tap_point(i, v)
    return "\n".join(lines) + "\n"
