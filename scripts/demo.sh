#!/usr/bin/env bash
# Set up (idempotent) and run the demo on the embedded broker. Extra arguments go to `monitor demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/monitor demo "${@:---duration=120}"
