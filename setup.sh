#!/usr/bin/env bash
# One command, on a fresh Debian 12 machine, sets up everything the tests need:
#   ./setup.sh                 Python venv (.venv) + QEMU 11.1.3 + the nested tier's stock image
#   ./setup.sh --iommufd       ... and the iommufd kernel image (cross-built, ~10 min, cached)
# Downloads are cached outside the repository (~/.cache/accel-smmuv3-conformance).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/python -m conformance provision
