"""The pytest plugin's ``--conformance-results FILE``: evidence records from test runs.

Each conformance test's verdict becomes an :class:`~conformance.evidence.Evidence`
record.  Under pytest-xdist the verdict lives in a worker and the file is written by the
controller, so the record travels on the test report: :func:`remember` keeps it on the
session object by test id, the ``pytest_runtest_makereport`` wrapper :func:`attach`-es
it to the call report as the attribute ``conformance_evidence`` (a plain dict, which
xdist serialises with the report), :func:`collect` gathers it where reports are logged
(the controller), and :func:`write` writes the file at the end of the session (not in
workers).
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.evidence import Evidence as _Evidence
from conformance.evidence import EvidenceError, from_verdict, write_results
from conformance.result import Verdict

KEY = "evidence"
ATTR = "conformance_evidence"


def remember(session: Any, case_id: str, v: Verdict) -> None:
    store = session.__dict__.setdefault("_evidence", {})
    store[case_id] = from_verdict(v).to_dict()


def remember_item(item: pytest.Item, v: Verdict) -> None:
    """For tests that run a verdict themselves (e.g. the nested Linux guests)."""
    setattr(item, ATTR, from_verdict(v).to_dict())


def attach(item: pytest.Item, report: pytest.TestReport) -> None:
    own = getattr(item, ATTR, None)
    if isinstance(own, dict):
        setattr(report, ATTR, own)
        return
    case = getattr(item, "callspec", None)
    cs = getattr(item, "funcargs", {}).get("conformance_session")
    if case is None or cs is None:
        return
    c = case.params.get("conformance_case")
    rec = getattr(cs, "_evidence", {}).pop(getattr(c, "id", None), None)
    if rec is not None:
        setattr(report, ATTR, rec)


def collect(stats: dict[str, Any], report: pytest.TestReport) -> None:
    rec = getattr(report, ATTR, None)
    if isinstance(rec, dict):
        stats.setdefault(KEY, []).append(rec)


def write(config: pytest.Config, stats: dict[str, Any]) -> None:
    path = config.getoption("conformance_results", None)
    if not path or hasattr(config, "workerinput"):
        return
    try:
        write_results(path, [_Evidence.from_dict(r, path) for r in stats.get(KEY, [])])
    except EvidenceError as e:
        raise pytest.UsageError(str(e)) from None
