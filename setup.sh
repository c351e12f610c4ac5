#!/usr/bin/env bash
# One command, on a fresh Debian 12 machine, sets up everything the tests need:
#   ./setup.sh                 Python venv (.venv) + QEMU 11.1.3 + the nested tier's stock image
#   ./setup.sh --iommufd       ... and the iommufd kernel image (cross-built, ~10 min, cached)
#                              and the Linux L2 guest
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
# Debian's other builds, side by side (7.2, 10.0.2, 10.0.13, 11.1.3 from sid; about 190 MB
# of .deb each, cached): tests/ecosystem/test_releases.py and test_bisect_releases.py
.venv/bin/python -m conformance provision --release all

# --- CI front ends (tests/frontends/, owner: ecosystem) -------------------------------
# Debian 12's own QEMU 7.2 (/usr/bin/qemu-system-aarch64) is the second build of the
# fingerprint/diff/bisect tests; chromium renders the HTML report for the screenshot
# test.  apt runs only when a package is missing, and needs root (or sudo).
missing=()
[ -x /usr/bin/qemu-system-aarch64 ] || missing+=(qemu-system-arm)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# the guest-driven tier's payload (images/payload/) is cross-built with it
command -v aarch64-linux-gnu-gcc >/dev/null 2>&1 || missing+=(gcc-aarch64-linux-gnu)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup.sh: installing ${missing[*]} with apt-get" >&2
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# --- nested KVM tier (images/, owner: nested) ---------------------------------------------
# The stock L1 image (Debian's arm64 kernel; no build) always; with --iommufd also the
# iommufd image, whose kernel is cross-built from Debian's linux-source-7.3 (about 10
# minutes on 2 cores, cached) with Debian's gcc-aarch64-linux-gnu.
.venv/bin/python -m images build stock
.venv/bin/python -m images payload
if [ "${1:-}" = "--iommufd" ]; then
  kmissing=()
  for t in aarch64-linux-gnu-gcc:gcc-aarch64-linux-gnu flex:flex bison:bison bc:bc \
           make:make; do
    command -v "${t%%:*}" >/dev/null 2>&1 || kmissing+=("${t#*:}")
  done
  [ -e /usr/include/gelf.h ] || kmissing+=(libelf-dev)
  [ -e /usr/include/openssl/ssl.h ] || kmissing+=(libssl-dev)
  if [ ${#kmissing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "setup.sh: installing ${kmissing[*]} with apt-get (iommufd kernel build)" >&2
    $SUDO apt-get update -q
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends \
      "${kmissing[@]}"
  fi
  .venv/bin/python -m images build iommufd
  # the Linux L2 guest of the nested tier's real-Linux scenarios (Debian's arm64 kernel,
  # busybox and the e1000e module; cached): scenarios/linux_guest/
  .venv/bin/python -m images.l2guest
fi
