#!/usr/bin/env bash
# mutate.sh runs mutation testing (github.com/go-gremlins/gremlins) over the
# core packages and prints the efficacy of each: the share of mutants the
# tests kill. Slow (every mutant runs its package's tests), so not in CI;
# `make mutate` runs it and the README quotes the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
gobin=$(go env GOPATH)/bin
if ! [ -x "$gobin/gremlins" ]; then
  GOFLAGS= go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0
fi
pkgs=${MUTATE_PKGS:-"agent/files agent/lab agent/secrets agent/gitsync agent/backup agent/firewall"}
out=${MUTATE_OUT:-mutate-results}
mkdir -p "$out"
printf '%-16s %8s %8s %8s %10s %s\n' package killed lived "not cov" efficacy time
for p in $pkgs; do
  start=$(date +%s)
  log="$out/$(echo "$p" | tr / -).txt"
  # Coverage and mutants of the package only; its own tests kill them.
  "$gobin/gremlins" unleash --workers "${MUTATE_WORKERS:-1}" --timeout-coefficient "${MUTATE_TIMEOUT:-3}" \
      -o "$out/$(echo "$p" | tr / -).json" "./$p" >"$log" 2>&1 || true
  sum=$(grep -E '^Killed: [0-9]+, Lived: [0-9]+, Not covered: [0-9]+' "$log" | tail -1)
  killed=$(sed -E 's/^Killed: ([0-9]+).*/\1/' <<<"$sum")
  lived=$(sed -E 's/.*Lived: ([0-9]+).*/\1/' <<<"$sum")
  notcov=$(sed -E 's/.*Not covered: ([0-9]+).*/\1/' <<<"$sum")
  eff=$(grep -o "Test efficacy: [0-9.]*%" "$log" | tail -1 | awk '{print $3}')
  printf '%-16s %8s %8s %8s %10s %ss\n' "$p" "$killed" "$lived" "$notcov" "${eff:-?}" "$(( $(date +%s) - start ))"
done
echo "details (each mutant, LIVED ones first to read): $out/"
