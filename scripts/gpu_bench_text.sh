#!/usr/bin/env bash
# Device run: texts/s of the shipped text model on the GPU (fp16), batch 64/256/1024, tweet-length texts.
# Needs carried: .carry/minilm (fp16 base weights), .carry/data/text/tweets_sentiment_dev.tsv
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export MONITOR_MINILM_PATH=$PWD/.carry/minilm PYTHONPATH=$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader
python3 - <<'PY' 2>&1 | tee "$OUT/bench_gpu_text.jsonl"
import csv, json
from monitor.score.text_model import TextSentimentModel
from monitor.training.bench_text import bench_text_model
rows = list(csv.DictReader(open(".carry/data/text/tweets_sentiment_dev.tsv"), delimiter="\t"))
texts = [r["text"] for r in rows][:2048]
m = TextSentimentModel(device="cuda")
for bs in (64, 256, 1024):
    print(json.dumps(bench_text_model(m, texts, bs, seconds=3)))
PY
