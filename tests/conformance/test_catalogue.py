"""The scenario catalogue against real QEMU: one test per scenario and tier.

The parameters come from the ``conformance`` pytest plugin (``--tier``, ``--qemu``,
``--scenario-file``); each test starts QEMU, observes it, asks the reference model and
turns the verdict into a pytest outcome.
"""

import pytest

from conformance.frontends.pytest_plugin import ConformanceCase, ConformanceSession


@pytest.mark.asyncio(loop_scope="session")
async def test_conformance(conformance_case: ConformanceCase,
                           conformance_session: ConformanceSession) -> None:
    verdict = await conformance_session.run(conformance_case)
    conformance_session.check(verdict)
