"""``python -m images``: see :mod:`images.cli`."""

import sys

from images.cli import main

sys.exit(main())
