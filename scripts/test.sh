#!/usr/bin/env bash
# Set up (idempotent) and run the whole test suite: unit + integration (real embedded broker) + slow tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system-deps.sh
.venv/bin/ruff check monitor tests
exec .venv/bin/python -m pytest -m "slow or not slow" -p no:cacheprovider "$@"
