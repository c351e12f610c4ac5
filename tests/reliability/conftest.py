"""Fixtures for fault-injection tests on a real QEMU (the provisioned 11.1.3 by default).

Every test gets a private temporary root (short: UNIX socket paths are limited to 108
bytes) so that leak accounting (:func:`conformance.testing.faults.leaks`) sees only what that
test's runs created.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.errors import BinaryError
from conformance.tools.qemu_binary import choose


@pytest.fixture(scope="session")
def qemu_binary() -> str:
    try:
        return choose(None).path
    except BinaryError as e:
        pytest.skip(f"no QEMU under test: {e}")


@pytest.fixture
def tmp_root() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="smmuv3-rel-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)
