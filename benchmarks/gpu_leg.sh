#!/usr/bin/env bash
# One GPU training leg as a single command on a lent machine (docs/TRAINING.md, "GPU legs"):
#   bash benchmarks/gpu_leg.sh OUT [MINUTES]        MINUTES: the whole command's budget (default 9)
# writes OUT/summary.json, OUT/leg.log and the new chain head OUT/chain/ (commit it as chain/).
# Dry run on the CPU, every step at tiny sizes:  APRVFI_DEVICE=cpu bash benchmarks/gpu_leg.sh OUT 1
set -uo pipefail
out=${1:?usage: gpu_leg.sh OUT [MINUTES]}
minutes=${2:-9}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"
# The lent machine has torch but no installed aprvfi: run the checkout itself, with its shipped weights.
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" APRVFI_WEIGHTS_DIR="$root/weights" PYTHONUNBUFFERED=1
cd "$root"
# -P: the checkout on PYTHONPATH is the code that runs, never a stray copy in the current folder
python3 -P benchmarks/gpu_leg.py "$out" "$minutes" 2>&1 | tee "$out/leg.log"
exit "${PIPESTATUS[0]}"
