"""``python -m conformance coverage``: catalogue rows x tiers, derived from runs.

Examples::

    python -m conformance run --results results/tcg.json
    python -m conformance coverage --results results/tcg.json
    python -m conformance coverage --results results/tcg.json --results results/nested.json \\
        --html results/coverage --rules

Each cell is ``confirmed`` (by which scenarios, on which QEMU build), ``contradicted``
(a recorded bug or a new nonconformance), ``unreachable`` on this machine (with the
reason), ``predicted`` only, or ``unmodelled`` (see :mod:`conformance.coverage`).  The
rules' hand-set ``predicted`` flags are not read.  Exit status 0, or 2 for a bad option
or results file.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from conformance.coverage import TIERS, matrix_for
from conformance.evidence import EvidenceError, from_log_dirs, read_results
from conformance.frontends.cli import UsageError
from conformance.frontends.report_coverage import page_html, render_rules, render_text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", action="append", default=[], metavar="FILE",
                   help="results file written by `run --results` or pytest "
                        "--conformance-results (repeatable)")
    p.add_argument("--logs", action="append", default=[], metavar="DIR",
                   help="per-scenario log folder (run --log-dir, --conformance-log-dir): "
                        "evidence from its verdict.json files (repeatable)")
    p.add_argument("--tier", action="append", choices=TIERS,
                   help="tiers to show (repeatable; default: all)")
    p.add_argument("--html", metavar="DIR", help="also write DIR/coverage.html")
    p.add_argument("--json", action="store_true", help="print the matrix as JSON")
    p.add_argument("--details", action="store_true",
                   help="after the table, one line per cell: scenarios, builds, reasons")
    p.add_argument("--rules", action="store_true",
                   help="list the model rules the evidence confirms or contradicts")


def run(a: argparse.Namespace) -> int:
    try:
        records = read_results(a.results) + from_log_dirs(a.logs)
    except EvidenceError as e:
        raise UsageError(str(e)) from None
    tiers = tuple(dict.fromkeys(a.tier)) if a.tier else TIERS
    m = matrix_for(records, tiers=tiers)
    try:
        if a.json:
            json.dump(m.to_dict(), sys.stdout, indent=1)
            print()
        else:
            print(render_text(m, details=a.details))
            if a.rules:
                print()
                print(render_rules(m) or "no rule confirmed or contradicted by the evidence")
        sys.stdout.flush()
    except BrokenPipeError:  # `... | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if a.html:
        d = Path(a.html)
        try:
            d.mkdir(parents=True, exist_ok=True)
            (d / "coverage.html").write_text(page_html(m, sources=a.results),
                                             encoding="utf-8")
        except OSError as e:
            raise UsageError(f"--html {d}: cannot write: {e.strerror or e}") from None
        print(f"HTML coverage: {d / 'coverage.html'}", file=sys.stderr)
    return 0
