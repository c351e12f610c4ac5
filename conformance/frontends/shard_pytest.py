"""``pytest --shard K/N``: the plugin's hooks for sharding (see :mod:`conformance.shard`).

:mod:`conformance.frontends.pytest_plugin` imports these hooks, so pytest finds them by name.
Every collected item is a unit (a conformance item is ``<tier>-<scenario>``); this
job keeps its shard and reports the rest as deselected.  The shard and the partition's
fingerprint are JUnit test-suite properties (``conformance_shard``,
``conformance_partition``), which ``conformance merge`` checks.
"""

from __future__ import annotations

import pytest

from conformance.shard import Shard, ShardError, describe, split_items


def pytest_sessionstart(session: pytest.Session) -> None:
    """``--shard``: checked before anything runs; named in JUnit (the xdist controller
    too, which collects nothing)."""
    spec = session.config.getoption("shard", None)
    if spec:
        try:
            _junit_property(session.config, "conformance_shard", str(Shard.parse(spec)))
        except ShardError as e:
            raise pytest.UsageError(str(e)) from None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--shard K/N``: keep this shard's items (every job computes the same split)."""
    spec, durations = config.getoption("shard"), config.getoption("shard_durations") or []
    if not spec:
        if durations:
            raise pytest.UsageError("--shard-durations needs --shard K/N")
        return
    try:
        kept, dropped, plan, shard = split_items(items, spec, durations)
    except ShardError as e:
        raise pytest.UsageError(str(e)) from None
    items[:] = kept
    config.hook.pytest_deselected(items=dropped)
    _junit_property(config, "conformance_partition", plan.fingerprint())
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(describe(plan, shard))


def _junit_property(config: pytest.Config, name: str, value: str) -> None:
    """A test-suite property in ``--junitxml`` output (``conformance merge`` reads it)."""
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - pytest moved it; the merge works without
        return
    xml = config.stash.get(xml_key, None)
    if xml is not None:
        xml.add_global_property(name, value)
