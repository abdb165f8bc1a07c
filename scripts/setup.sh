#!/usr/bin/env bash
# Installs what berth needs on a fresh Debian 12 machine (as root): kernel tools, libnftables,
# Python 3.11 with venv, and berth's locked Python dependencies in ./.venv. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  nftables libnftables1 conntrack iproute2 iputils-ping util-linux kmod
  python3 python3-venv python3-pip ca-certificates
)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${BERTH_PYTHON:-$(command -v python3.11 || command -v python3)}
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "setup: berth needs Python 3.11 (found $("$PYTHON" --version))" >&2; exit 1; }

# uv installs the locked dependencies (uv.lock) fast and reproducibly; it lives in its own venv
if [ ! -x .tools/bin/uv ]; then
  "$PYTHON" -m venv .tools
  .tools/bin/pip install -q uv==0.13.9
fi
# --compile-bytecode and compileall: the CLI starts in ~50 ms instead of ~100 even where
# PYTHONDONTWRITEBYTECODE keeps Python from caching what it compiles
UV_PYTHON_DOWNLOADS=never .tools/bin/uv sync -q --frozen --compile-bytecode --extra test \
  --python "$PYTHON"
.venv/bin/python -m compileall -q src >/dev/null
echo "setup: ready ($(.venv/bin/python --version), $(nft --version))"
