#!/bin/bash
# The ablation table (issue 12): for each piece of per-request work, ferrite as shipped (A) and
# ferrite without that piece (B, ABLATE=piece, see ablate-hooks.ts), one worker each, measured
# interleaved by ab.sh on /api/health and /api/stats; then a markdown table of the medians.
#
# usage: ablation.sh [piece ...]   (default: `none` (A/A, the harness's own bias and noise), every
#        piece, then all of them at once; a piece may be a comma-separated list, removed together)   env: as ab.sh (ROUNDS, SECONDS_PER_RUN…)
# Writes the table to stdout; the raw ab.sh output to /tmp/ablation-PIECE.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
export PATH="$root/node_modules/.bin:$PATH"
pieces=("$@")
if [ ${#pieces[@]} -eq 0 ]; then
  mapfile -t pieces < <(cd "$root" && node --input-type=module -e "
    const { PIECES } = await import('./bench/decisions/hot-path/ablate-hooks.ts');
    console.log(Object.keys(PIECES).join('\n'));")
  pieces+=("$(IFS=,; echo "${pieces[*]}")")
  # The same build on both sides first: what the harness reads when nothing changed.
  pieces=(none "${pieces[@]}")
fi
rows=()
for piece in "${pieces[@]}"; do
  b_env="ABLATE=$piece"
  [ "$piece" = none ] && b_env=""
  B_ENV="$b_env" bash "$here/ab.sh" "$root" "$root" /api/health /api/stats > "/tmp/ablation-$piece.txt"
  what=$(cd "$root" && node --input-type=module -e "
    const { PIECES } = await import('./bench/decisions/hot-path/ablate-hooks.ts');
    const names = '$piece'.split(',');
    console.log(names[0] === 'none' ? 'nothing (A/A: the same build on both sides)'
      : names.length > 1 ? 'all of: ' + names.join(', ') : PIECES[names[0]].what);")
  cells=$(awk '/^RESULT/ {
    printf " %d → %d | %.1f → %.1f µs (%+.0f %%) |", $3, $4, $5 / 1000, $6 / 1000, ($7 - 1000) / 10 }' "/tmp/ablation-$piece.txt")
  rows+=("| \`$piece\`: $what |$cells")
  echo "done: $piece" >&2
done
echo "| removed | health req/s: shipped → without | health CPU per request (median of rounds) | stats req/s: shipped → without | stats CPU per request (median of rounds) |"
echo "|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
