#!/usr/bin/env bash
# Reproduce the results tables in train/README.md on this machine:
#   every recipe with seeds 0 1 2 (the image-only ones in $EXTRA with $EXTRA_SEEDS; capsnet-sabour
#   with seed 0 when SABOUR=1), the accuracy table, then the
#   domain-shift tables of every run, and per recipe over its seeds (`signcaps robustness --domain`).
# Finished runs are skipped and interrupted ones resumed, so it can be re-run after a stop.
# Extra arguments go to every `signcaps train` (e.g. --set data.cache_dir=/tmp/cache).
set -euo pipefail
SIGNCAPS=${SIGNCAPS:-.venv/bin/signcaps}
OUT=${OUT:-runs/table}
RECIPES=${RECIPES:-"pose-capsnet fused-capsnet landmark-mlp capsnet-bg capsnet cnn"}
# The image-only recipes run with seed 0 only unless EXTRA_SEEDS says otherwise (CPU time).
EXTRA=${EXTRA:-"capsnet-bg capsnet cnn"}
EXTRA_SEEDS=${EXTRA_SEEDS:-"0"}

run() {  # recipe seed [extra args]
  local dir="$OUT/$1-s$2"
  [ -f "$dir/metrics.json" ] && return 0
  "$SIGNCAPS" train --recipe "train/recipes/$1.yaml" --seed "$2" --run-dir "$dir" \
    $([ -f "$dir/last.pt" ] && echo --resume) "${@:3}"
}

for seed in 0 1 2; do
  for recipe in $RECIPES; do
    case " $EXTRA " in *" $recipe "*) [[ " $EXTRA_SEEDS " == *" $seed "* ]] || continue ;; esac
    run "$recipe" "$seed" "$@"
  done
done
[ -n "${SABOUR:-}" ] && run capsnet-sabour 0 "$@"
runs=()
for recipe in $RECIPES; do runs+=("$OUT/$recipe"-s[0-9]*); done
"$SIGNCAPS" summarize "${runs[@]}" --markdown
models=()
for recipe in $RECIPES; do models+=("$OUT/$recipe"-s[0-9]*/best.pt); done
"$SIGNCAPS" robustness --domain "${models[@]}" --out "$OUT/domain-shift" --markdown
