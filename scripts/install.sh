#!/usr/bin/env bash
# Install the auditor into a virtual environment in .venv, with the Debian packages it needs.
#   bash scripts/install.sh       the auditor (PDF rendering needs Pango, HarfBuzz and a font)
#   bash scripts/install.sh dev   also what the test suite needs (poppler, PostgreSQL, Chromium)
# Debian's own Python refuses `pip install` outside a virtual environment
# (externally-managed-environment), so everything goes into .venv. Run as root or with sudo.
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"
case "$extra" in "" | dev) ;; *) echo "usage: bash scripts/install.sh [dev]" >&2; exit 2 ;; esac

packages=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core)
[ "$extra" = dev ] && packages+=(poppler-utils postgresql chromium)
# the Spark engine's tests run PySpark in local mode, which needs a Java runtime
[ "$extra" = dev ] && ! command -v java >/dev/null 2>&1 && packages+=(default-jre-headless)
python3 -c "import ensurepip, venv" 2>/dev/null || packages+=(python3-venv)

if command -v dpkg >/dev/null 2>&1; then
  missing=()
  for pkg in "${packages[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing system packages: ${missing[*]}"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
else
  echo "not a Debian-based system: install ${packages[*]} (or their equivalents) yourself" >&2
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
export PIP_DISABLE_PIP_VERSION_CHECK=1
if [ "$extra" = dev ]; then
  .venv/bin/python -m pip install -q -e '.[dev]'
  # lifelines (survival models from a pinned pickle, tested in tests/): its metadata caps
  # pandas below 3, but its regression fitters run on pandas 3 (tests/test_lifelines_models.py);
  # --no-deps keeps the pandas the suite is tested on. formulaic is its one other need.
  .venv/bin/python -m pip install -q formulaic
  .venv/bin/python -m pip install -q --no-deps lifelines autograd autograd-gamma
else
  .venv/bin/python -m pip install -q -e .
fi
echo "installed into .venv (activate it with: . .venv/bin/activate)"
