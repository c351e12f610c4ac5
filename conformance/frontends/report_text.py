"""Human renderings of a :class:`~conformance.result.Verdict`.

:func:`headline` is the one line per scenario; :func:`details` is what a user needs to
act on a verdict that is not ``pass``: the field-by-field differences, the command line
(copy-pasteable), the stderr tail, the QMP transcript and the log folder.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from catalogue.prediction import Difference
from conformance.result import Verdict

TRANSCRIPT_LINES = 40
MAX_MESSAGE = 300


def headline(v: Verdict) -> str:
    return v.headline()


def _message(m: Any) -> str:
    text = json.dumps(m, sort_keys=False)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE] + f"... ({len(text)} chars)"


def details(v: Verdict, indent: str = "    ") -> str:
    out: list[str] = []
    if v.differences:
        out.append("differences (expected = model, observed = QEMU):")
        for d in v.differences:
            out.append("  " + Difference(d["path"], d["expected"], d["observed"]).render())
    if v.argv:
        out.append("argv: " + shlex.join(v.argv))
    if v.exit_code is not None or v.signal is not None:
        out.append(f"exit: code={v.exit_code} signal={v.signal}")
    if v.stderr_tail:
        out.append("stderr (tail):")
        out += ["  " + ln for ln in v.stderr_tail.splitlines()]
    if v.qmp_transcript:
        out.append(f"QMP transcript ({len(v.qmp_transcript)} messages, last "
                   f"{min(TRANSCRIPT_LINES, len(v.qmp_transcript))}):")
        for x in v.qmp_transcript[-TRANSCRIPT_LINES:]:
            out.append(f"  {x.t:8.4f} {x.dir} {_message(x.message)}")
    if v.log_dir:
        out.append(f"logs: {v.log_dir}")
    return "\n".join(indent + ln for ln in out)


def summary(verdicts: list[Verdict]) -> str:
    counts: dict[str, int] = {}
    for v in verdicts:
        counts[v.status] = counts.get(v.status, 0) + 1
    parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return f"{len(verdicts)} scenario run(s): {parts or 'none'}"
