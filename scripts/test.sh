#!/usr/bin/env bash
# Runs berth's whole test suite as CI does: unit tests (no root needed) and integration tests
# against the real kernel in throwaway namespaces (root). Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider tests "$@"
