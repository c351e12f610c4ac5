"""``python -m conformance``: see :mod:`conformance.frontends.cli`."""

import sys

try:
    from conformance.frontends.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python imports the harness: nothing started yet
    print("python -m conformance: interrupted", file=sys.stderr)
    sys.exit(130)

sys.exit(main())
