#!/usr/bin/env bash
# The benchmark suite in one command (as root): install what it needs, then run every comparison
# and write bench/results/{results.json,report.md,*.png}. `bash bench/run.sh --quick` for ~3 min.
set -euo pipefail
cd "$(dirname "$0")/.."
bash bench/setup.sh
exec .venv/bin/python -m bench "$@"
