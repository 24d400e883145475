#!/usr/bin/env bash
# One prepared device run (issue 3): fine-tune candidate text models on the GPU, pick on dev, bench texts/s.
# Needs carried: .carry/data/text/*.tsv, .carry/minilm (fp16 base), .whl/vaderSentiment*.whl
# Usage on the device: bash scripts/gpu_text.sh   (writes everything under $OUT)
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
export MONITOR_TRAINING_DATA=$PWD/.carry/data MONITOR_MINILM_PATH=$PWD/.carry/minilm PYTHONUNBUFFERED=1 TQDM_MININTERVAL=10
EXTRA=${EXTRA:-}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
run() {  # name, args...
  local name=$1; shift
  python3 -m monitor.cli train text --out "$OUT/$name" "$@" $EXTRA 2>&1 | grep -v "it/s\]$" | tail -n 40 > "$OUT/$name.log"
  grep -E "epoch [0-9]+:|artefact" "$OUT/$name.log"
}
run A --lora-r 16 --lora-alpha 32 --lr 5e-4 --epochs 5
run B --lora-r 32 --lora-alpha 64 --lr 4e-4 --epochs 6
run C --lora-r 32 --lora-alpha 64 --lr 6e-4 --epochs 6 --mix-social 0.65 --mix-fin-tweets 0.22 --mix-fin-news 0.13
python3 - <<'PY' 2>&1 | tee "$OUT/bench_gpu.json"
import json, os, csv
from monitor.score.text_model import TextSentimentModel
from monitor.training.bench_text import bench_text_model
out = os.environ["OUT"]
best = max((json.load(open(f"{out}/{n}/train_summary.json")) | {"name": n} for n in "ABC"
            if os.path.exists(f"{out}/{n}/train_summary.json")), key=lambda s: max(h["selection_score"] for h in s["history"]))
print(json.dumps({"best": best["name"], "version": best["version"]}))
rows = list(csv.DictReader(open(".carry/data/text/tweets_sentiment_dev.tsv"), delimiter="\t"))
texts = [r["text"] for r in rows][:2048]
m = TextSentimentModel(f"{out}/{best['name']}", device="cuda")
for bs in (64, 256, 1024):
    print(json.dumps(bench_text_model(m, texts, bs, seconds=4)))
PY
