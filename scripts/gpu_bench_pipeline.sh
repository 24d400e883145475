#!/usr/bin/env bash
# GPU run of the whole pipeline (issue: hot path v2, item 11): `monitor bench --mix text` and `--mix multimodal`
# with 1, 2 and 4 worker processes (tokenisation is CPU-bound: one process tokenises ~10k texts/s on an H100
# machine, so several processes feed one GPU), JSON lines to $OUT/bench_gpu_pipeline.jsonl.
#
# Needs the project installed (`bash scripts/setup.sh` on a GPU host with the package index reachable). The
# lent device machines of this workplace are offline and take 64 MiB of carried files: the MiniLM fp16 weights
# (~45 MB) and the embedded broker's wheel do not fit together, so this script is for a normal GPU host.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
PY=${PY:-.venv/bin/python}
nvidia-smi --query-gpu=name --format=csv,noheader || { echo "no GPU"; exit 1; }
for mix in text multimodal; do
  posts=20000; [ "$mix" = multimodal ] && posts=2000
  for w in 1 2 4; do
    $PY -m monitor.cli bench --mix "$mix" --posts "$posts" --workers "$w" --device cuda --json \
      | tee -a "$OUT/bench_gpu_pipeline.jsonl"
  done
done
