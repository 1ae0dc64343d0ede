#!/usr/bin/env bash
# Reproduce the results table in train/README.md on this machine:
#   capsnet and cnn with seeds 0 1 2, capsnet-sabour with seed 0, then the summary table.
# Finished runs are skipped and interrupted ones resumed, so it can be re-run after a stop.
# Extra arguments go to every `signcaps train` (e.g. --set data.cache_dir=/tmp/cache).
set -euo pipefail
SIGNCAPS=${SIGNCAPS:-.venv/bin/signcaps}
OUT=${OUT:-runs/table}

run() {  # recipe seed [extra args]
  local dir="$OUT/$1-s$2"
  [ -f "$dir/metrics.json" ] && return 0
  "$SIGNCAPS" train --recipe "train/recipes/$1.yaml" --seed "$2" --run-dir "$dir" \
    $([ -f "$dir/last.pt" ] && echo --resume) "${@:3}"
}

for seed in 0 1 2; do
  run capsnet "$seed" "$@"
  run cnn "$seed" "$@"
done
run capsnet-sabour 0 "$@"
"$SIGNCAPS" summarize "$OUT"/capsnet-s[0-9]* "$OUT"/cnn-s[0-9]* "$OUT"/capsnet-sabour-s[0-9]* --markdown
