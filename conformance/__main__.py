"""``python -m conformance``: see :mod:`conformance.frontends.cli`."""

import signal
import sys
from types import FrameType


def _ended(signum: int, frame: FrameType | None) -> None:
    """SIGTERM/SIGHUP before the harness runs its event loop (which handles them with
    clean-up): nothing has started yet, so end with the contract's ``128 + signum``
    (docs/reliability.md), not the interpreter's default death by the signal."""
    raise SystemExit(128 + signum)


for _sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(_sig, _ended)

try:
    from conformance.frontends.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python imports the harness: nothing started yet
    print("python -m conformance: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
