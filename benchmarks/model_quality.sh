#!/usr/bin/env bash
# Every quality number of weights/MODEL_CARD.md, each from `aprvfi eval` (flow-only floor in the same run).
# Usage: [DEV_TRIPLETS=N] benchmarks/model_quality.sh WEIGHTS OUTDIR [DEVSET] [DATA]
#   DEV_TRIPLETS: score an evenly spread subset of the dev split (default: all)
#   DEVSET: the training pack (or store) whose dev split is scored (default pack, committed; `aprvfi data pack`
#           builds it; cache/store scores the old store's 209 dev triplets)
#   DATA:  the shared evaluation data (default ../shared/data)
# Writes OUTDIR/{dev,middlebury,sintel,cockatoo,VID_20191220_170832,balle1-vp9}.json and prints each table.
set -euo pipefail
weights=$1 out=$2 devset=${3:-pack} data=${4:-../shared/data}
mkdir -p "$out"
methods=flow-only,static,apr
score() {  # name path [extra eval options]
  local name=$1 path=$2; shift 2
  aprvfi eval "$path" --weights "$weights" --methods "$methods" --json "$out/$name.json" "$@"
}
score dev "$devset" ${DEV_TRIPLETS:+--max-triplets "$DEV_TRIPLETS"}
score middlebury "$data/middlebury_other"
score sintel "$data/sintel_raft_demo"
# the free clips that no training source contains (the others are training clips: their first 80 % is trained on)
score cockatoo "$data/free_clips/cockatoo.mp4" --max-triplets 6
score VID_20191220_170832 "$data/free_clips/VID_20191220_170832.mp4" --max-triplets 3
score balle1-vp9 "$data/free_clips/balle1-vp9.avi" --max-triplets 12
