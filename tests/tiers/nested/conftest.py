"""Fixtures for the nested tier's own tests: one L1 per test session.

These tests boot L1 under TCG, so they only run when the nested tier is selected
(``pytest --tier nested tests/tiers/nested``); in the default (TCG) run they are skipped with
that hint.  They also need a built image (``python -m images build stock``; the iommufd
checks ``python -m images build iommufd``) and the provisioned x86 QEMU; without them
they are skipped with the command that would provide them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from conformance.tiers.nested.host import NestedHost, make_host


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def nested_host(request: pytest.FixtureRequest) -> AsyncIterator[NestedHost]:
    if "nested" not in (request.config.getoption("tier", None) or []):
        pytest.skip("boots L1 under TCG: run with --tier nested")
    host = make_host("")  # the same L1 as the conformance tests of this session
    why = host.unavailable_reason()
    if why:
        pytest.skip(why)
    try:
        yield host
    finally:
        await host.close()
