from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def recorded() -> Path:
    """Folder of QEMU 11.1.3 output recorded by the harness itself."""
    return DATA
