"""``python -m conformance merge``: one report from the results of ``--shard K/N`` jobs.

Examples::

    python -m conformance merge shard-1 shard-2 shard-3 --out report   # run --html DIRs
    python -m conformance merge junit-*.xml --out report                # pytest --junitxml

Writes ``report/verdicts.json``, ``report/junit.xml`` and ``report/index.html`` and prints
one summary line.  Exit status: 0 if every merged scenario run conformed, 1 if any
failed (as ``run`` would have), 2 if the inputs cannot be merged honestly (unreadable,
overlapping shards, a missing shard, shards of different partitions); see
:mod:`conformance.frontends.merge`.
"""

from __future__ import annotations

import argparse
import sys

from conformance.frontends.cli import UsageError
from conformance.frontends.merge import MergeError, merge, write


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="a shard's --html folder, a verdicts.json / run --json file, or a "
                        "JUnit XML file")
    p.add_argument("--out", metavar="DIR", required=True,
                   help="write verdicts.json, junit.xml and index.html here")
    p.add_argument("--no-html", action="store_true", help="skip index.html")


def run(a: argparse.Namespace) -> int:
    try:
        m = merge(a.inputs)
        paths = write(m, a.out, html=not a.no_html)
    except MergeError as e:
        raise UsageError(str(e)) from None
    print(m.summary())
    print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
    return 1 if m.failed else 0
