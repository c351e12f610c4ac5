"""Real Linux guests in L2 (``scenarios/linux_guest/``): one test per scenario.

Each test boots Debian's arm64 kernel through UEFI in L2 on the nested tier's L1, with
the passed-through e1000e behind an ``arm-smmuv3`` (accel or, for the control group,
not), and compares the guest's report and L2's trace with the model's prediction
(:mod:`conformance.tiers.nested.linux_guest`).  The verdict becomes the pytest outcome like a
catalogue scenario's, and an evidence record for ``--conformance-results``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance.frontends.pytest_evidence import remember_item
from conformance.frontends.report_text import details
from conformance.tiers.nested import linux_guest
from conformance.tiers.nested.host import NestedHost

pytestmark = [pytest.mark.nested, pytest.mark.slow,
              pytest.mark.asyncio(loop_scope="session")]

SCENARIOS = linux_guest.load()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_linux_guest(scenario: linux_guest.LinuxGuestScenario, nested_host: NestedHost,
                           request: pytest.FixtureRequest) -> None:
    from images.l2guest import find

    if find() is None:
        pytest.skip("the Linux L2 guest is not built (python -m images.l2guest)")
    why = nested_host.missing_requirement("vfio-iommufd")
    if why:
        pytest.skip(why)
    logs = Path(request.config.getoption("conformance_log_dir", "logs/conformance"))
    v = await linux_guest.run(nested_host, scenario, logs / "nested" / "linux_guest")
    remember_item(request.node, v)
    if v.status == "skipped":
        pytest.skip(v.reason)
    assert v.status == "pass", f"{v.status}: {v.reason}\n{details(v)}"
